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

from ml import LIKE_THRESHOLD
from ml.history import RowSets, build_rows, positions_from_end
from ml.ranking import mask_rows, top_n

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
    like_threshold: float = LIKE_THRESHOLD,
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
    flat = np.concatenate([seen.row(int(u)) for u in users]) if len(users) else np.zeros(0, np.int64)
    exclude = RowSets(
        indptr=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        indices=flat,
        values=np.ones(len(flat), np.float32),
        positions=np.zeros(len(flat), np.int64),
        n_cols=n_items,
    )
    return RankingTask(
        users=users, exclude=exclude, relevant=[rel_rows.row(int(u)) for u in users], n_items=n_items
    )


def evaluate_ranking(recommend: RecommendFn, task: RankingTask, *, k: int = 10) -> dict[str, float]:
    """Run `recommend` on the task's users and score its top-k lists."""
    top = recommend(task.users, k, task.exclude)
    for row, u in enumerate(task.users):
        seen = task.exclude.row(row)
        if np.isin(top[row], seen).any():
            raise AssertionError(f"recommender returned an excluded item for user {u}")
    return ranking_metrics(top, task.relevant, k=k, n_items=task.n_items)


# --------------------------------------------------------------------------------------------------
# More protocols: taste only (shuffled order), random holdout, leave-one-out with sampled negatives


def shuffled_order(users: np.ndarray, timestamps: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Timestamps permuted within each user (seeded): the same ratings, each user's order random.

    Training on these keeps every user's set of ratings and their times, but not which movie came
    when: what a model learns from them is taste alone.
    """
    users = np.asarray(users, np.int64)
    ts = np.asarray(timestamps, np.float64)
    n = len(users)
    rng = np.random.default_rng([seed, 17])
    shuffled = np.lexsort((rng.random(n), users))  # each user's ratings in a random order
    by_time = np.lexsort((np.arange(n), ts, users))  # each user's ratings in time order
    out = np.empty(n, np.float64)
    out[shuffled] = ts[by_time]  # the k-th random rating of a user gets the user's k-th time
    return out


def random_holdout(users: np.ndarray, *, holdout: int = 10, min_train: int = 1, seed: int = 0) -> np.ndarray:
    """Boolean mask of `holdout` random ratings of each user with at least `holdout + min_train`."""
    users = np.asarray(users, np.int64)
    keys = np.random.default_rng([seed, 19]).random(len(users))
    return temporal_holdout(users, keys, holdout=holdout, min_train=min_train)


@dataclass(frozen=True)
class SampledTask:
    """Leave-one-out with sampled negatives: column 0 of `candidates` is each user's held-out item."""

    users: np.ndarray  # (n,) dense user indices
    candidates: np.ndarray  # (n, 1 + negatives) item indices; column 0 = the held-out item


def sampled_task(
    train: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    n_items: int,
    negatives: int = 99,
    seed: int = 0,
) -> SampledTask:
    """The NCF paper's protocol (He et al. 2017): each user's held-out item (one per user, e.g. from
    `temporal_holdout(..., holdout=1)`) against `negatives` items the user never rated, drawn
    uniformly (seeded). Every rating counts as an interaction, whatever its stars."""
    tu, ti = np.asarray(train[0], np.int64), np.asarray(train[1], np.int64)
    su, si = np.asarray(test[0], np.int64), np.asarray(test[1], np.int64)
    order = np.argsort(su, kind="stable")
    su, si = su[order], si[order]
    keep = np.concatenate(([True], su[1:] != su[:-1]))  # one held-out item per user
    su, si = su[keep], si[keep]
    rated = set(zip(tu.tolist(), ti.tolist(), strict=True)) | set(zip(su.tolist(), si.tolist(), strict=True))
    rng = np.random.default_rng([seed, 23])
    candidates = np.empty((len(su), negatives + 1), np.int64)
    candidates[:, 0] = si
    rated_count = np.bincount(np.concatenate([tu, su]), minlength=int(su.max(initial=0)) + 1)
    short = su[n_items - rated_count[su] < negatives]
    if len(short):
        raise ValueError(f"user {short[0]} has fewer than {negatives} unrated items to sample")
    for row, user in enumerate(su.tolist()):
        drawn: list[int] = []
        while len(drawn) < negatives:
            for item in rng.integers(0, n_items, 2 * negatives).tolist():
                if (user, item) not in rated and item not in drawn:
                    drawn.append(item)
                    if len(drawn) == negatives:
                        break
        candidates[row, 1:] = drawn
    return SampledTask(users=su, candidates=candidates)


#: score_pairs(user_indices (n,), candidate item indices (n, c)) -> (n, c) scores, higher = better
PairScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def evaluate_sampled(score: PairScoreFn, task: SampledTask, *, k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k of the held-out item among its candidates. Ties count against the model
    (a negative scored equal to the held-out item ranks above it), so a constant scorer gets 0."""
    scores = np.asarray(score(task.users, task.candidates), np.float64)
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    rank = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)  # 0 = the held-out item is first
    hit = rank < k
    return {
        "hr": float(hit.mean()) if len(hit) else 0.0,
        "ndcg": float(np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0).mean()) if len(hit) else 0.0,
        "users": len(hit),
    }


# --------------------------------------------------------------------------------------------------
# The four protocols by name, on any arrays

#: temporal: each user's last `holdout` ratings; shuffled: the same split, each user's training
#: order shuffled (taste only); random: `holdout` random ratings per user; loo: each user's last
#: rating against 99 sampled negatives (He et al. 2017)
PROTOCOLS = ("temporal", "shuffled", "random", "loo")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: scores(user_indices) -> (len(users), n_items) scores of every item, higher = better
ScoresFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Protocol:
    """One protocol applied to one data set: what to train on and how the result is scored."""

    name: str
    train: Arrays  # (users, items, ratings, timestamps) to fit on (shuffled: permuted timestamps)
    test: Arrays
    task: RankingTask | SampledTask
    n_users: int
    n_items: int


def protocol(
    name: str,
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    timestamps: np.ndarray | None = None,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    holdout: int = 10,
    like_threshold: float = LIKE_THRESHOLD,
    negatives: int = 99,
    seed: int = 0,
) -> Protocol:
    """Split dense-indexed ratings by the protocol `name` (one of `PROTOCOLS`).

    Without timestamps the input order is each user's chronological order.
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r} (one of {', '.join(PROTOCOLS)})")
    u, i = np.asarray(users, np.int64), np.asarray(items, np.int64)
    r = np.asarray(ratings, np.float32)
    t = np.arange(len(u), dtype=np.float64) if timestamps is None else np.asarray(timestamps, np.float64)
    n_users = int(u.max()) + 1 if n_users is None else n_users
    n_items = int(i.max()) + 1 if n_items is None else n_items
    if name == "random":
        test = random_holdout(u, holdout=holdout, seed=seed)
    else:
        test = temporal_holdout(u, t, holdout=1 if name == "loo" else holdout)
    fit_t = shuffled_order(u, t, seed=seed) if name == "shuffled" else t
    train: Arrays = (u[~test], i[~test], r[~test], fit_t[~test])
    held: Arrays = (u[test], i[test], r[test], t[test])
    task: RankingTask | SampledTask
    if name == "loo":
        task = sampled_task(train, held, n_items=n_items, negatives=negatives, seed=seed)
    else:
        task = ranking_task(train, held, n_users=n_users, n_items=n_items, like_threshold=like_threshold)
    return Protocol(name, train, held, task, n_users, n_items)


def evaluate_scores(
    scores: ScoresFn, proto: Protocol, *, k: int = 10, chunk_size: int = 1024
) -> dict[str, float]:
    """Score a model under `proto`: `scores(users)` gives every item's score for those users.

    Ranking protocols: full ranking of the items each user did not rate in train (recall, ndcg, hr,
    coverage at k); leave-one-out: hr and ndcg at k of the held-out item among its candidates.
    """
    task = proto.task
    if isinstance(task, SampledTask):

        def pairs(users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
            out = np.empty(candidates.shape, np.float64)
            for start in range(0, len(users), chunk_size):
                part = slice(start, start + chunk_size)
                out[part] = np.take_along_axis(np.asarray(scores(users[part])), candidates[part], axis=1)
            return out

        return evaluate_sampled(pairs, task, k=k)

    def recommend(users: np.ndarray, k: int, exclude: RowSets) -> np.ndarray:
        out = np.empty((len(users), k), np.int64)
        for start in range(0, len(users), chunk_size):
            part = slice(start, start + chunk_size)
            block = np.array(scores(users[part]), dtype=np.float32, copy=True)
            mask_rows(block, exclude.indptr, exclude.indices, row_offset=start)
            out[part] = top_n(block, k)[0]
        return out

    return evaluate_ranking(recommend, task, k=k)
