"""What members see, measured: reasons, stars, order independence and similar movies. Numpy only.

Each function takes a trained model and a `ml.evaluate.Protocol` (the temporal one in `ml.bench`)
and returns figures named as `ml.bench` reports them:

reason_lift               mean over cited (favourite, pick) pairs of P(like pick | liked favourite) /
                          P(like pick), on the training ratings (like = >= 4 stars);
reason_lift_random_liked  the same with a random favourite of the member instead of the cited one;
reason_max_share          the largest share of one top-10 list citing one movie, over members with
                          at least three favourites;
top10_below_mean          share of top-10 picks whose shown stars (one decimal) are below the
                          member's own mean rating;
stars_inversions          share of pairs in a top-10 where the lower pick shows >= 1 star more;
stars_rmse                RMSE of the shown stars (`Scorer.stars`) on the held-out ratings, beside
                          `rating_head_rmse`, the rating head's own (the price of agreeing with the order);
order_overlap@10          mean top-10 overlap when a member's last 20 training ratings are folded
                          in as made in forward and in reverse order;
similar_objective         "companion HR@10": share of members for whom at least one held-out liked
                          movie is in the top-10 similar movies of their most recent training like;
similar_popularity_echo   over the 50 most-rated movies, the mean share of their top-10 similar that
                          is the global top-20 by ratings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

from ml import LIKE_THRESHOLD
from ml.evaluate import Protocol, RankingTask
from ml.reasons import choose_reasons, favourites
from ml.score import Scorer

#: similar(item_index, n) -> the n most similar item indices, best first (never the item itself)
SimilarFn = Callable[[int, int], np.ndarray]

K = 10


def _likes(split: Protocol, like_threshold: float = LIKE_THRESHOLD) -> sparse.csc_matrix:
    u, i, r, _ = split.train
    liked = r >= like_threshold
    m = sparse.csc_matrix(
        (np.ones(int(liked.sum()), np.float32), (u[liked], i[liked])), shape=(split.n_users, split.n_items)
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _lift(likes: sparse.csc_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(like b | like a) / P(like b) for item index pairs, from a user x item like matrix."""
    n_users = likes.shape[0]
    counts = np.asarray(likes.sum(axis=0)).ravel()
    out = np.zeros(len(a))
    for start in range(0, len(a), 20_000):
        sa, sb = a[start : start + 20_000], b[start : start + 20_000]
        both = np.asarray(likes[:, sa].multiply(likes[:, sb]).sum(axis=0)).ravel()
        out[start : start + 20_000] = both * n_users / np.maximum(counts[sa] * counts[sb], 1.0)
    return out


def _histories(split: Protocol, users: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(items, ratings, timestamps) of each user's training ratings, chronological."""
    u, i, r, t = split.train
    order = np.lexsort((np.arange(len(u)), t, u))
    u, i, r, t = u[order], i[order], r[order], t[order]
    starts, ends = np.searchsorted(u, users), np.searchsorted(u, users, side="right")
    return [(i[a:b], r[a:b], t[a:b]) for a, b in zip(starts, ends, strict=True)]


def reason_quality(
    scorer: Scorer, split: Protocol, top: np.ndarray, users: np.ndarray, *, seed: int = 0
) -> dict[str, float]:
    """reason_lift, reason_lift_random_liked and reason_max_share of the top lists `top` (item
    indices = the scorer's ids) of `users` (dense indices)."""
    u, i, r, t = split.train
    order = np.lexsort((np.arange(len(u)), t, u))
    fav_items, fav_ratings = favourites(u[order], i[order], r[order], users)
    because = choose_reasons(scorer, top, fav_items, fav_ratings)
    likes = _likes(split)
    cited = because >= 0
    rows, cols = np.nonzero(cited)
    lift = _lift(likes, because[rows, cols], top[rows, cols])
    # a random favourite of the same member for the same pick (all favourites, not only the 50 kept)
    rng = np.random.default_rng([seed, 29])
    all_fav, _ = favourites(u[order], i[order], r[order], users, max_candidates=10**9)
    n_fav = (all_fav >= 0).sum(axis=1)
    pick = (rng.random(len(rows)) * n_fav[rows]).astype(np.int64)
    random_lift = _lift(likes, all_fav[rows, pick], top[rows, cols])
    shares = [
        np.unique(because[k][because[k] >= 0], return_counts=True)[1].max() / top.shape[1]
        for k in range(len(users))
        if (fav_items[k] >= 0).sum() >= 3 and (because[k] >= 0).any()
    ]
    return {
        "reason_lift": float(lift.mean()) if len(lift) else 0.0,
        "reason_lift_random_liked": float(random_lift.mean()) if len(random_lift) else 0.0,
        "reason_max_share": float(max(shares, default=0.0)),
        "reason_coverage": float(cited.mean()),
    }


def star_quality(
    scorer: Scorer, split: Protocol, top_excl: list[np.ndarray], users: np.ndarray
) -> dict[str, float]:
    """top10_below_mean, stars_inversions, stars_rmse and rating_head_rmse."""
    stars = np.round(scorer.list_stars(users, K, exclude=top_excl), 1)
    u, _, r, _ = split.train
    own_mean = np.bincount(u, weights=r, minlength=split.n_users) / np.maximum(
        np.bincount(u, minlength=split.n_users), 1
    )
    shown = np.isfinite(stars)
    below = (stars < own_mean[users][:, None]) & shown
    a, b = np.triu_indices(K, 1)  # a ranked above b
    pairs = shown[:, a] & shown[:, b]
    inverted = (stars[:, b] >= stars[:, a] + 1.0) & pairs
    tu, ti, tr, _ = split.test
    known_u = scorer.users.lookup(tu)[1] & scorer.items.lookup(ti)[1]
    errors, head_errors = [], []
    for user in np.unique(tu[known_u])[:400]:  # a bounded sample: one score sort per member
        sel = known_u & (tu == user)
        seen = split.train[1][split.train[0] == user]
        shown_stars = scorer.stars(int(user), ti[sel], exclude=seen)
        errors.append(shown_stars - tr[sel])
        head_errors.append(scorer.predict_stars(int(user), ti[sel]) - tr[sel])
    err, head = np.concatenate(errors), np.concatenate(head_errors)
    return {
        "top10_below_mean": float(below.sum() / max(shown.sum(), 1)),
        "stars_inversions": float(inverted.sum() / max(pairs.sum(), 1)),
        "stars_rmse": float(np.sqrt(np.mean(err**2))),
        "rating_head_rmse": float(np.sqrt(np.mean(head**2))),
    }


def order_overlap(scorer: Scorer, split: Protocol, users: np.ndarray, *, n_ratings: int = 20) -> float:
    """Mean top-10 overlap when each member's last `n_ratings` training ratings are folded in as made
    forward and in reverse order, one second apart (members with fewer ratings are skipped)."""
    overlaps = []
    for items, ratings, _ in _histories(split, users):
        if len(items) < n_ratings:
            continue
        items, ratings = items[-n_ratings:], ratings[-n_ratings:]
        seconds = np.arange(n_ratings, dtype=np.float64)
        forward = scorer.fold_in(items, ratings, seconds)
        backward = scorer.fold_in(items[::-1], ratings[::-1], seconds)
        lists = scorer.recommend_vectors([forward, backward], K, exclude=[items, items]).items
        overlaps.append(len(np.intersect1d(lists[0], lists[1])) / K)
    return float(np.mean(overlaps)) if overlaps else 0.0


def similar_quality(
    similar: SimilarFn, split: Protocol, *, like_threshold: float = LIKE_THRESHOLD
) -> dict[str, float]:
    """similar_objective (companion HR@10) and similar_popularity_echo of a similar-movies function."""
    assert isinstance(split.task, RankingTask)
    task = split.task
    u, i, r, t = split.train
    order = np.lexsort((np.arange(len(u)), t, u))
    u, i, r = u[order], i[order], r[order]
    liked = r >= like_threshold
    lu, li = u[liked], i[liked]
    last = np.searchsorted(lu, task.users, side="right") - 1
    has = (last >= 0) & (lu[np.maximum(last, 0)] == task.users)
    hits = []
    cache: dict[int, np.ndarray] = {}
    for k in np.flatnonzero(has):
        prev = int(li[last[k]])
        if prev not in cache:
            cache[prev] = similar(prev, K)
        hits.append(np.isin(task.relevant[k], cache[prev]).any())
    counts = np.bincount(split.train[1], minlength=split.n_items)
    by_count = np.argsort(-counts, kind="stable")
    top20 = by_count[:20]
    echo = [np.isin(similar(int(m), K), top20).mean() for m in by_count[:50]]
    return {
        "similar_objective": float(np.mean(hits)) if hits else 0.0,
        "similar_popularity_echo": float(np.mean(echo)),
    }


def scorer_similar(scorer: Scorer, **kwargs: float) -> SimilarFn:
    """`Scorer.similar_items` on dense indices (the benchmark's ids are the scorer's ids)."""

    def similar(item: int, n: int) -> np.ndarray:
        try:
            return scorer.similar_items(item, n, popularity_weight=kwargs.get("popularity_weight"))[0]
        except KeyError:
            return np.zeros(0, np.int64)

    return similar


def ease_similar(model: object) -> SimilarFn:
    """EASE's item-item neighbours: the movies whose score having rated `item` raises most (B[item])."""
    weights = model.weights  # type: ignore[attr-defined]
    kept = model.kept  # type: ignore[attr-defined]
    column = np.full(model.n_items, -1, np.int64)  # type: ignore[attr-defined]
    column[kept] = np.arange(len(kept))

    def similar(item: int, n: int) -> np.ndarray:
        if column[item] < 0:
            return np.zeros(0, np.int64)
        row = weights[column[item]].astype(np.float64)
        row[column[item]] = -np.inf
        best = np.argsort(-row, kind="stable")[:n]
        return kept[best]

    return similar


def ncf_quality(scorer: Scorer, split: Protocol, *, seed: int = 0) -> dict[str, float]:
    """Every figure above for the product model, on the evaluated users of `split`."""
    assert isinstance(split.task, RankingTask)
    users = split.task.users
    exclude = [split.task.exclude.row(k) for k in range(len(users))]
    top = scorer.recommend(users, K, exclude=exclude).items
    out: dict[str, float] = {}
    out.update(reason_quality(scorer, split, top, users, seed=seed))
    if scorer.has_stars:
        out.update(star_quality(scorer, split, exclude, users))
    out["order_overlap@10"] = order_overlap(scorer, split, users)
    out.update(similar_quality(scorer_similar(scorer), split))
    return out
