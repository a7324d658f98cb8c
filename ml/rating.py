"""The rating head (predicted stars): biased matrix factorisation fitted by alternating least squares.

Model: r_ui ~ mu + b_u + b_i + p_u . q_i. Objective (the one `ml.score.Scorer.fold_in` solves for
a new user with the items frozen):

    sum over ratings (r_ui - mu - b_u - b_i - p_u . q_i)^2
      + sum_u n_u (l2 |p_u|^2 + bias_l2 b_u^2) + sum_i n_i (l2 |q_i|^2 + bias_l2 b_i^2)

where n_u / n_i count the user's / item's ratings: per-rating L2 as in SGD-style biased MF
(ALS-WR, Zhou et al. 2008), so frequent users and items are regularised more in absolute terms and
rarely rated movies are not shrunk to nothing. mu is the mean training rating and stays fixed.

With one side fixed the objective is a ridge regression per row of the other side on
[b_u, p_u] (design [1, q_j], target r - mu - b_j), solved exactly. A sweep solves every item, then
every user, so after the last sweep each user's parameters are exactly the fold-in solution for
that user's ratings (tests/ml checks this). The solves are vectorised: rows are bucketed by rating
count, padded to the bucket's length, and each bucket's Gram matrices come from one batched matrix
product and one batched `np.linalg.solve`. Cost per sweep is O(ratings x (dim + 1)^2); memory is a
bounded block of gathered factors plus, per side, an int32 index and a float32 target for every
padded rating (at most 1.25 x the ratings).

Training (`train_rating_head`): sweeps are early-stopped on a random validation share of the
ratings, then two more sweeps on all ratings, warm-started from the best one (measured 0.003 RMSE
better than keeping the model fitted without the held-out share, and as good as refitting all
sweeps from scratch; docs/ML.md).

Numpy only: no TensorFlow, so `ml.bench` and tests use it directly. `ml.train` copies the result into
the Keras rating model stored in the artifact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.config import TrainConfig
from ml.evaluate import random_split

#: progress(phase, fraction of that phase done in [0, 1], metrics so far); as in `ml.train`
Progress = Callable[[str, float, dict[str, Any]], None]

#: padded bucket lengths grow by this factor (at most 20% of a bucket's entries are padding)
_BUCKET_GROWTH = 1.25
#: entries per batched block, for the gathered factors (rows x length x (dim + 1)) and the Gram
#: matrices (rows x (dim + 1)^2) alike: bounds the working memory to ~0.2 GB at any bucket length
_BLOCK_ENTRIES = 8_000_000
#: a validation RMSE at least this much lower counts as an improvement (early stopping)
_MIN_IMPROVEMENT = 1e-4
#: standard deviation of the random initial user factors
_INIT_SD = 0.1


@dataclass(frozen=True)
class RatingHead:
    """A fitted rating head on dense indices; `arrays()` gives the serving arrays (`rating_*`)."""

    global_mean: float
    user_factors: np.ndarray  # (n_users, dim) float32
    user_bias: np.ndarray  # (n_users,) float32
    item_factors: np.ndarray  # (n_items, dim) float32
    item_bias: np.ndarray  # (n_items,) float32
    l2: float
    bias_l2: float
    rating_range: tuple[float, float]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Unclipped predicted stars for (user, item) index pairs."""
        return (
            self.global_mean
            + self.user_bias[users]
            + self.item_bias[items]
            + np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[items])
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The serving arrays `ml.score.Scorer` reads (names and meaning as in every artifact so far)."""
        return {
            "rating_global_mean": np.array(self.global_mean, np.float64),
            "rating_user_factors": self.user_factors,
            "rating_item_factors": self.item_factors,
            "rating_user_bias": self.user_bias,
            "rating_item_bias": self.item_bias,
            "rating_l2": np.array(self.l2, np.float64),
            "rating_bias_l2": np.array(self.bias_l2, np.float64),
            "rating_range": np.array(self.rating_range, np.float64),
        }


class _Side:
    """One side's rows (users or items) with their ratings, bucketed by count for batched solves.

    Bucket k holds `rows` (B,) and padded `cols` / `targets` (B, L): the other side's index of each
    rating (padding points at a sentinel row one past the end, which is all zeros) and r - mu
    (padding 0). Rows without ratings are in no bucket and keep zero parameters.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, centred: np.ndarray, n_rows: int, n_cols: int):
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=n_rows)
        starts = np.concatenate(([0], np.cumsum(counts)))
        self.n_rows, self.counts = n_rows, counts
        sorted_cols = cols[order].astype(np.int32)
        sorted_r = centred[order].astype(np.float32)
        self.buckets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        by_count = np.argsort(counts, kind="stable")
        by_count = by_count[counts[by_count] > 0]
        lo = 0
        while lo < len(by_count):
            length = max(int(counts[by_count[lo]]), 1)
            length = math.ceil(length * _BUCKET_GROWTH) if length > 4 else length
            hi = int(np.searchsorted(counts[by_count], length, side="right"))
            members = by_count[lo:hi]
            pos = np.arange(length)[None, :]
            valid = pos < counts[members][:, None]
            flat = np.where(valid, starts[members][:, None] + pos, 0)
            bucket_cols = np.where(valid, sorted_cols[flat], n_cols).astype(np.int32)
            bucket_r = np.where(valid, sorted_r[flat], 0.0).astype(np.float32)
            self.buckets.append((members, bucket_cols, bucket_r))
            lo = hi

    def solve(
        self, other_factors: np.ndarray, other_bias: np.ndarray, l2: float, bias_l2: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ridge solution of every row's [bias, factors] with the other side fixed."""
        dim = other_factors.shape[1]
        # design rows [1, q_j]; the sentinel row (padding) is all zeros and its bias 0
        design = np.zeros((len(other_factors) + 1, dim + 1), np.float32)
        design[:-1, 0] = 1.0
        design[:-1, 1:] = other_factors
        bias = np.append(other_bias, np.float32(0.0)).astype(np.float32)
        penalty = np.full(dim + 1, l2)
        penalty[0] = bias_l2
        factors = np.zeros((self.n_rows, dim), np.float32)
        biases = np.zeros(self.n_rows, np.float32)
        for members, cols, centred in self.buckets:
            length = cols.shape[1]
            step = max(1, _BLOCK_ENTRIES // (max(length, dim + 1) * (dim + 1)))
            for start in range(0, len(members), step):
                rows = members[start : start + step]
                c = cols[start : start + step]
                x = design[c]  # (B, L, dim + 1)
                t = centred[start : start + step] - bias[c]  # padding: 0 - 0
                xt = x.transpose(0, 2, 1)
                gram = np.matmul(xt, x).astype(np.float64)
                gram += self.counts[rows][:, None, None] * np.diag(penalty)[None]
                rhs = np.matmul(xt, t[:, :, None]).astype(np.float64)
                theta = np.linalg.solve(gram, rhs)[:, :, 0]
                biases[rows] = theta[:, 0]
                factors[rows] = theta[:, 1:]
        return factors, biases


def als_sweeps(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    *,
    n_users: int,
    n_items: int,
    dim: int,
    l2: float,
    bias_l2: float,
    seed: int = 0,
    init: RatingHead | None = None,
) -> Iterator[RatingHead]:
    """ALS on dense-indexed ratings: the head after each sweep (items, then users), without end.

    Starts from `init`'s users (a warm start) or from random user factors (normal, sd 0.1) and zero
    biases; deterministic for a seed.
    """
    r = np.asarray(ratings, np.float32)
    mean = float(r.astype(np.float64).mean())
    rating_range = (float(r.min()), float(r.max()))
    centred = r - np.float32(mean)
    by_user = _Side(users, items, centred, n_users, n_items)
    by_item = _Side(items, users, centred, n_items, n_users)
    if init is not None:
        user_factors, user_bias = init.user_factors, init.user_bias
    else:
        user_factors = np.random.default_rng(seed).normal(0.0, _INIT_SD, (n_users, dim)).astype(np.float32)
        user_bias = np.zeros(n_users, np.float32)
    while True:
        item_factors, item_bias = by_item.solve(user_factors, user_bias, l2, bias_l2)
        user_factors, user_bias = by_user.solve(item_factors, item_bias, l2, bias_l2)
        yield RatingHead(
            mean, user_factors, user_bias, item_factors, item_bias, float(l2), float(bias_l2), rating_range
        )


def rmse(head: RatingHead, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> float:
    """RMSE of the clipped predictions, as served (`Scorer.predict_stars` clips to the rating range)."""
    predicted = np.clip(head.predict(users, items), *head.rating_range).astype(np.float64)
    return float(np.sqrt(np.mean((predicted - ratings) ** 2)))


def train_rating_head(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    *,
    n_users: int,
    n_items: int,
    config: TrainConfig,
    progress: Progress | None = None,
) -> tuple[RatingHead, dict[str, Any]]:
    """Fit the rating head on dense indices as `config` describes it; returns (head, metrics).

    Sweeps on all but a random `rating_validation_fraction` of the ratings until the validation
    RMSE has not improved (by at least 1e-4) for `rating_patience` sweeps, at most `rating_sweeps`,
    and keeps the best sweep; then `rating_refit_sweeps` more sweeps on all ratings, warm-started
    from it. Without validation ratings: `rating_sweeps` sweeps on all ratings. Progress: phase
    "rating" with {"epoch": sweep, "val_rmse": rmse} per validated sweep and
    {"epoch": sweep, "refit": True} per refit sweep.
    """
    report: Progress = progress or (lambda phase, fraction, metrics: None)
    if config.rating_sweeps < 1:
        raise ValueError("rating_sweeps must be at least 1")
    users = np.asarray(users, np.int32)  # int32 halves the index copies (20M ratings: 0.3 GB)
    items = np.asarray(items, np.int32)
    ratings = np.asarray(ratings, np.float32)
    model: dict[str, Any] = {
        "n_users": n_users,
        "n_items": n_items,
        "dim": config.rating_dim,
        "l2": config.rating_l2,
        "bias_l2": config.rating_bias_l2,
        "seed": config.seed,
    }
    start = time.perf_counter()
    val = random_split(len(ratings), test_fraction=config.rating_validation_fraction, seed=config.seed)
    fit = ~val
    best: RatingHead | None = None
    best_sweep, val_rmse, examples = 0, None, 0
    refit_sweeps = config.rating_sweeps
    if val.any() and fit.any():
        refit_sweeps = max(config.rating_refit_sweeps, 0)
        total = config.rating_sweeps + refit_sweeps
        best_rmse = math.inf
        for sweep, head in enumerate(als_sweeps(users[fit], items[fit], ratings[fit], **model), start=1):
            examples += int(fit.sum())
            current = rmse(head, users[val], items[val], ratings[val])
            report("rating", sweep / total, {"epoch": sweep, "val_rmse": current})
            if current < best_rmse - _MIN_IMPROVEMENT:
                best, best_sweep, best_rmse = head, sweep, current
            if sweep >= config.rating_sweeps or sweep - best_sweep >= config.rating_patience:
                break
        val_rmse = best_rmse
        done = config.rating_sweeps
    else:
        total, done = refit_sweeps, 0
    if refit_sweeps:
        stream = als_sweeps(users, items, ratings, init=best, **model)
        for sweep in range(1, refit_sweeps + 1):
            best = next(stream)
            examples += len(ratings)
            report("rating", (done + sweep) / total, {"epoch": sweep, "refit": True})
    assert best is not None
    metrics = {
        "rating_epochs": best_sweep + refit_sweeps,
        "rating_val_rmse": val_rmse,
        "rating_fit_seconds": time.perf_counter() - start,
        "rating_examples": examples,
    }
    return best, metrics
