"""Computing and persisting top-N lists: for every user (after a retrain, on a schedule) and for one
user right after they rate (fold-in, no retrain). Numpy only: it runs in web-side workers too."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
from django.conf import settings
from django.db import transaction

from ml.score import Scorer
from ratings.models import HiddenMovie

from . import modeling
from .data import RatingArrays, ratings_as_arrays
from .models import ModelVersion, RecommendationList
from .services import ListRow, recommendation_cache_forget, recommendation_lists_write

logger = logging.getLogger(__name__)

#: Picks that get a "because you liked ..." reason (more than any page shows at once).
REASONS_PER_LIST = 30
#: Most recent liked movies considered as reasons.
REASON_CANDIDATES = 50


def _hidden_by_user(user_ids: np.ndarray | None = None) -> dict[int, np.ndarray]:
    pairs = HiddenMovie.objects.all()
    if user_ids is not None:
        pairs = pairs.filter(user_id__in=[int(u) for u in user_ids])
    hidden: dict[int, list[int]] = {}
    for user_id, movie_id in pairs.values_list("user_id", "movie_id").iterator(chunk_size=10_000):
        hidden.setdefault(user_id, []).append(movie_id)
    return {u: np.asarray(m, np.int64) for u, m in hidden.items()}


def _user_slices(users: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(user id, start, end) of each user's contiguous run in ``users`` (sorted by user)."""
    if len(users) == 0:
        return
    change = np.flatnonzero(np.diff(users)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(users)]))
    for start, end in zip(starts, ends, strict=True):
        yield int(users[start]), int(start), int(end)


def _reasons(scorer: Scorer, history: RatingArrays, picks: np.ndarray) -> dict[int, int]:
    """For each pick, the user's liked movie that contributed most to its score.

    The ranking score is b_i + sum_j w_j (E_j . Q_i) over rated movies j (the default linear user
    tower), so the contribution of each liked movie is exact. Vectorised over picks x liked movies.
    """
    picks = picks[picks >= 0][:REASONS_PER_LIST]
    if len(picks) == 0 or len(history) == 0:
        return {}
    if scorer.tower:  # non-linear tower: the model's own (first-order) explanation, one pick at a time
        out = {}
        for item in picks:
            why = scorer.explain(int(item), history.movies, history.ratings, history.timestamps, n=1)
            if why:
                out[int(item)] = why[0][0]
        return out
    idx, known = scorer.items.lookup(history.movies)
    order = np.argsort(history.timestamps[known], kind="stable")
    idx, ratings = idx[known][order], history.ratings[known][order]
    positions = np.arange(len(idx))[::-1]
    weights = scorer.weighting.weights(ratings, positions)
    liked = ratings >= scorer.weighting.like_threshold
    if not liked.any():
        return {}
    idx, weights = idx[liked][-REASON_CANDIDATES:], weights[liked][-REASON_CANDIDATES:]
    pick_idx, pick_known = scorer.items.lookup(picks)
    contrib = (scorer.item_embedding[idx] @ scorer.item_output[pick_idx[pick_known]].T) * weights[:, None]
    best = contrib.argmax(axis=0)
    positive = contrib[best, np.arange(contrib.shape[1])] > 0
    ids = scorer.items.ids
    return {
        int(p): int(ids[idx[b]]) for p, b, ok in zip(picks[pick_known], best, positive, strict=True) if ok
    }


def _lists_for(
    scorer: Scorer, histories: RatingArrays, hidden: dict[int, np.ndarray], n: int
) -> list[ListRow]:
    """Top-n with reasons for every user in ``histories`` (sorted by user), excluding rated and hidden."""
    user_ids, vectors = modeling.user_vectors(scorer, histories)
    slices = {u: (a, b) for u, a, b in _user_slices(histories.users)}
    exclude = [
        np.concatenate(
            [histories.movies[slices[u][0] : slices[u][1]], hidden.get(int(u), np.zeros(0, np.int64))]
        )
        for u in user_ids
    ]
    top = scorer.recommend_vectors(vectors, n, exclude=exclude)
    rows = []
    for k, user_id in enumerate(user_ids):
        a, b = slices[user_id]
        items = top.items[k]
        keep = items >= 0
        mine = RatingArrays(
            users=histories.users[a:b],
            movies=histories.movies[a:b],
            ratings=histories.ratings[a:b],
            timestamps=histories.timestamps[a:b],
        )
        rows.append(
            ListRow(
                user_id=int(user_id),
                movie_ids=items[keep].tolist(),
                scores=top.scores[k][keep].tolist(),
                reasons={str(k): v for k, v in _reasons(scorer, mine, items[keep]).items()},
            )
        )
    return rows


def lists_compute_and_write(
    *,
    version: ModelVersion,
    progress: Callable[[float], None] | None = None,
    data: RatingArrays | None = None,
    user_range: tuple[int, int] | None = None,
) -> int:
    """Compute and persist, for ``version``, the list of every user with ratings (or of the users in
    ``user_range``: one shard of a distributed refresh), in chunks of users."""
    scorer = modeling.load_scorer(version.artifact_path)
    data = data if data is not None else ratings_as_arrays(user_range=user_range)
    n = settings.RECOMMENDATIONS["LIST_LENGTH"]
    chunk_users = settings.RECOMMENDATIONS["REFRESH_CHUNK_USERS"]
    hidden = _hidden_by_user(np.unique(data.users) if user_range else None)
    boundaries = [(a, b) for _, a, b in _user_slices(data.users)]
    written = 0
    for start in range(0, len(boundaries), chunk_users):
        part = boundaries[start : start + chunk_users]
        lo, hi = part[0][0], part[-1][1]
        chunk = RatingArrays(
            users=data.users[lo:hi],
            movies=data.movies[lo:hi],
            ratings=data.ratings[lo:hi],
            timestamps=data.timestamps[lo:hi],
        )
        written += recommendation_lists_write(
            version_id=version.pk, rows=_lists_for(scorer, chunk, hidden, n)
        )
        if progress:
            progress(min(1.0, (start + len(part)) / max(len(boundaries), 1)))
    return written


def refresh_version(version_id: int | None) -> ModelVersion | None:
    """The version to refresh with: ``version_id``, or the active one; None when there is none."""
    versions = ModelVersion.objects.all()
    return versions.filter(pk=version_id).first() if version_id else versions.filter(is_active=True).first()


def lists_refresh_all(*, version_id: int | None = None, user_range: tuple[int, int] | None = None) -> int:
    """Recompute every list (or one shard's) with ``version_id`` (default: the active version).

    0 when there is no model. Lists of the active version reach the cache batch by batch as they
    are written (`recommendation_lists_write`), so no second warming pass is needed.
    """
    version = refresh_version(version_id)
    if version is None:
        logger.info("refresh: no model version to refresh with")
        return 0
    return lists_compute_and_write(version=version, user_range=user_range)


def list_refresh_user(*, user_id: int) -> bool:
    """Fold the user's current ratings into a vector and rewrite their list for the active version.

    Returns False when there is no active model (serving falls back until the first retrain).
    """
    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        recommendation_cache_forget(user_id=user_id)
        return False
    scorer = modeling.load_scorer(version.artifact_path)
    history = ratings_as_arrays(user_ids=[user_id])
    if len(history) == 0:
        with transaction.atomic():
            RecommendationList.objects.filter(user_id=user_id).delete()
        recommendation_cache_forget(user_id=user_id)
        return True
    rows = _lists_for(
        scorer, history, _hidden_by_user(np.array([user_id])), settings.RECOMMENDATIONS["LIST_LENGTH"]
    )
    recommendation_lists_write(version_id=version.pk, rows=rows, folded_in=True)
    return True
