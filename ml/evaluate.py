"""Evaluation protocols as functions. Numpy only.

Ranking protocol (what users see, a top-N list):
    `temporal_holdout` holds out each user's last `holdout` ratings by time; users with fewer than
    `holdout + min_train` ratings stay entirely in train and are not evaluated. A model then ranks
    every item the user has not rated in train (full ranking, never sampled negatives); relevant =
    held-out ratings >= `like_threshold`; users with no relevant held-out item are skipped.
    Recall@K = hits / min(K, |relevant|); NDCG@K with binary gains, ideal DCG over min(K, |relevant|);
    HR@K = share of users with >= 1 hit; coverage = share of the catalog in at least one top-K list.

Rating protocol (the "predicted stars" on a movie page): `random_split` (90/10) and `kfold` (5-fold CV)
over individual ratings, RMSE and MAE.

Tuning: callers carve a validation split from the training part with the same functions (e.g.
`temporal_holdout` on train only) and never look at the test part while choosing hyper-parameters.
All functions work on dense indices (users 0..n_users-1, items 0..n_items-1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ml.history import RowSets, build_rows, positions_from_end

#: recommend(user_indices, k, exclusions) -> (len(users), k) item indices, best first
RecommendFn = Callable[[np.ndarray, int, RowSets], np.ndarray]


def temporal_holdout(
    users: np.ndarray, timestamps: np.ndarray, *, holdout: int = 10, min_train: int = 1
) -> np.ndarray:
    """Boolean mask of held-out ratings: each eligible user's last `holdout` ratings by time."""
    users = np.asarray(users, dtype=np.int64)
    pos = positions_from_end(users, timestamps)
    counts = np.bincount(users)
    eligible = counts[users] >= holdout + min_train
    return (pos < holdout) & eligible


def random_split(n: int, *, test_fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """Boolean mask of a uniformly random test part of size round(n * test_fraction)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[: round(n * test_fraction)]] = True
    return mask


def kfold(n: int, *, folds: int = 5, seed: int = 0) -> Iterator[np.ndarray]:
    """Test masks of a random `folds`-fold partition of n ratings."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[rng.permutation(n)] = np.arange(n) % folds
    for f in range(folds):
        yield fold_of == f


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted, np.float64) - actual) ** 2)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(predicted, np.float64) - actual)))


def ranking_metrics(
    top_items: np.ndarray, relevant: list[np.ndarray], *, k: int, n_items: int
) -> dict[str, float]:
    """Recall@k, NDCG@k, HR@k and catalog coverage of top lists against relevant sets.

    `top_items[u]` is user u's list, best first (at least k columns; -1 pads a short list);
    `relevant[u]` the item indices relevant to u (must be non-empty).
    """
    top = np.asarray(top_items)[:, :k]
    n_users = top.shape[0]
    if n_users == 0:
        return {"recall": 0.0, "ndcg": 0.0, "hr": 0.0, "coverage": 0.0, "users": 0}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    recall = np.empty(n_users)
    ndcg = np.empty(n_users)
    hit = np.empty(n_users)
    for u in range(n_users):
        rel = np.asarray(relevant[u])
        hits = np.isin(top[u], rel) & (top[u] >= 0)
        n_rel = min(k, len(rel))
        recall[u] = hits.sum() / n_rel
        ndcg[u] = (hits * discounts[: len(hits)]).sum() / discounts[:n_rel].sum()
        hit[u] = float(hits.any())
    shown = np.unique(top[top >= 0])
    return {
        "recall": float(recall.mean()),
        "ndcg": float(ndcg.mean()),
        "hr": float(hit.mean()),
        "coverage": float(len(shown) / n_items),
        "users": n_users,
    }


@dataclass(frozen=True)
class RankingTask:
    """A ranking evaluation: who is scored, what they may not be shown, what counts as a hit."""

    users: np.ndarray  # dense user indices to evaluate
    exclude: RowSets  # per evaluated user (same order), items rated in train
    relevant: list[np.ndarray]  # per evaluated user, held-out items rated >= threshold
    n_items: int


def ranking_task(
    train: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    n_users: int,
    n_items: int,
    like_threshold: float = 4.0,
) -> RankingTask:
    """Build the full-ranking task from (users, items, ratings, timestamps) train and test arrays."""
    tu, ti, tr, tt = train
    su, si, sr, _ = test
    liked = sr >= like_threshold
    rel_rows = build_rows(
        su[liked], si[liked], sr[liked], np.zeros(liked.sum()), n_rows=n_users, n_cols=n_items
    )
    users = np.flatnonzero(rel_rows.row_lengths() > 0)
    seen = build_rows(tu, ti, tr, tt, n_rows=n_users, n_cols=n_items)
    lengths = seen.row_lengths()[users]
    flat = np.concatenate([seen.row(u) for u in users]) if len(users) else np.zeros(0, np.int64)
    exclude = RowSets(
        indptr=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        indices=flat,
        values=np.ones(len(flat), np.float32),
        positions=np.zeros(len(flat), np.int64),
        n_cols=n_items,
    )
    return RankingTask(
        users=users, exclude=exclude, relevant=[rel_rows.row(u) for u in users], n_items=n_items
    )


def evaluate_ranking(recommend: RecommendFn, task: RankingTask, *, k: int = 10) -> dict[str, float]:
    """Run `recommend` on the task's users and score its top-k lists."""
    top = recommend(task.users, k, task.exclude)
    for row, u in enumerate(task.users):
        seen = task.exclude.row(row)
        if np.isin(top[row], seen).any():
            raise AssertionError(f"recommender returned an excluded item for user {u}")
    return ranking_metrics(top, task.relevant, k=k, n_items=task.n_items)
