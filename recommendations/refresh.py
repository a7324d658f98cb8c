"""Computing and persisting top-N lists: for every user (after a retrain, on a schedule) and for one
user right after they rate (fold-in, no retrain). Numpy only: it runs in web-side workers too."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone
from threadpoolctl import get_cached_controller

from ml.failpoints import failpoint
from ml.reasons import choose_reasons, favourites
from ml.score import Recommendations, Scorer
from ratings.models import HiddenMovie, Rating
from ratings.outbox import stale_notes_clear, stale_notes_oldest

from . import caches, ml_adapter, registry
from .lists import ListRow, list_delete, lists_write
from .models import ModelVersion
from .rating_arrays import RatingArrays, ratings_as_arrays

logger = logging.getLogger(__name__)

#: Picks that get a "because you liked ..." reason (more than any page shows at once).
REASONS_PER_LIST = 30


def _hidden_by_user(
    user_range: tuple[int, int] | None = None, user_ids: Sequence[int] | None = None
) -> dict[int, np.ndarray]:
    """Hidden movies of every user (or of users first..last, or of ``user_ids``), by user."""
    pairs = HiddenMovie.objects.all()
    if user_range is not None:
        pairs = pairs.filter(user_id__gte=user_range[0], user_id__lte=user_range[1])
    if user_ids is not None:
        pairs = pairs.filter(user_id__in=list(user_ids))
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


def _reasons(
    scorer: Scorer, histories: RatingArrays, user_ids: np.ndarray, picks: np.ndarray
) -> list[np.ndarray]:
    """For each user's first `REASONS_PER_LIST` picks, the favourite that explains it (`ml.reasons`):
    a movie they rated at least the like threshold, chosen for how close it is to the pick (never for
    how recently it was rated), preferring higher-rated ones, and spread so that no favourite explains
    more than a third of a list. ``histories`` holds the ratings of ``user_ids`` (sorted), in time
    order within each user; ``picks`` is their (users x n) top-N (-1 padding). One batched product per
    chunk. Each user's reasons are (pick, because) rows of a (k, 2) array; a pick no favourite is
    close to has none ("Matches your taste").
    """
    picks = picks[:, :REASONS_PER_LIST]
    liked, liked_stars = favourites(
        histories.users,
        histories.movies,
        histories.ratings,
        user_ids,
        like_threshold=scorer.weighting.like_threshold,
    )
    because = choose_reasons(scorer, picks, liked, liked_stars)
    pairs = np.stack([picks, because], axis=2)
    ok = because >= 0
    return [pairs[k][ok[k]] for k in range(len(user_ids))]


@dataclass(frozen=True)
class _Chunk:
    """A chunk of users ready to be scored: their histories, ids, vectors and excluded movies."""

    histories: RatingArrays
    user_ids: np.ndarray
    vectors: np.ndarray
    exclude: list[np.ndarray]


@dataclass(frozen=True)
class _Scored:
    """A chunk's top-n and the stars shown beside them (None without a star head)."""

    top: Recommendations
    stars: np.ndarray | None


def _prepare(scorer: Scorer, histories: RatingArrays, hidden: dict[int, np.ndarray]) -> _Chunk:
    """User vectors and exclusions (rated and hidden movies) of the users in ``histories``."""
    user_ids, vectors = ml_adapter.user_vectors(scorer, histories)
    slices = {u: (a, b) for u, a, b in _user_slices(histories.users)}
    exclude = [
        np.concatenate(
            [histories.movies[slices[u][0] : slices[u][1]], hidden.get(int(u), np.zeros(0, np.int64))]
        )
        for u in user_ids
    ]
    return _Chunk(histories=histories, user_ids=user_ids, vectors=vectors, exclude=exclude)


def _score(scorer: Scorer, chunk: _Chunk, n: int) -> _Scored:
    """The chunk's top-n and their stars (each member's rating-head fold-in, then the stars beside their
    picks): matrix products and selections, numpy only (the bulk refresh runs this in its helper thread,
    beside the reads and writes)."""
    top = scorer.recommend_vectors(chunk.vectors, n, exclude=chunk.exclude)
    parts = ml_adapter.user_rating_parts(scorer, chunk.histories)
    stars = ml_adapter.list_stars(scorer, parts, n, exclude=chunk.exclude)
    return _Scored(top=top, stars=stars)


def _finish(scorer: Scorer, chunk: _Chunk, scored: _Scored) -> list[ListRow]:
    """The chunk's lists: its top-n with their stars, and a reason for each of the first picks."""
    top = scored.top
    reasons = _reasons(scorer, chunk.histories, chunk.user_ids, top.items)
    lengths = (top.items >= 0).sum(axis=1).tolist()  # padding (-1) only ever follows real picks
    return [
        ListRow(
            user_id=user_id,
            movie_ids=top.items[k, : lengths[k]],
            scores=top.scores[k, : lengths[k]],
            reasons=reasons[k],
            stars=scored.stars[k, : lengths[k]] if scored.stars is not None else None,
        )
        for k, user_id in enumerate(chunk.user_ids.tolist())
    ]


def _lists_for(
    scorer: Scorer, histories: RatingArrays, hidden: dict[int, np.ndarray], n: int
) -> list[ListRow]:
    """Top-n with stars and reasons for every user in ``histories`` (sorted by user), excluding rated and
    hidden movies."""
    chunk = _prepare(scorer, histories, hidden)
    return _finish(scorer, chunk, _score(scorer, chunk, n))


def _slice(data: RatingArrays, lo: int, hi: int) -> RatingArrays:
    return RatingArrays(
        users=data.users[lo:hi],
        movies=data.movies[lo:hi],
        ratings=data.ratings[lo:hi],
        timestamps=data.timestamps[lo:hi],
    )


def _id_ranges(user_range: tuple[int, int] | None, width: int) -> list[tuple[int, int]]:
    """Consecutive user id ranges of ``width`` ids covering ``user_range`` (default: every rater)."""
    if user_range is None:
        bounds = Rating.objects.aggregate(first=Min("user_id"), last=Max("user_id"))
        if bounds["first"] is None:
            return []
        user_range = (bounds["first"], bounds["last"])
    first, last = user_range
    return [(lo, min(lo + width - 1, last)) for lo in range(first, last + 1, width)]


def lists_compute_and_write(
    *,
    version: ModelVersion,
    progress: Callable[[float], None] | None = None,
    data: RatingArrays | None = None,
    user_range: tuple[int, int] | None = None,
) -> int:
    """Compute and persist, for ``version``, the list of every user with ratings (or of the users in
    ``user_range``: one shard of a distributed refresh), a range of users at a time.

    A pipeline: while a helper thread scores range k (the matrix products and top-n: numpy, which
    releases the GIL), this thread reads range k+1's ratings and encodes its users, then explains and
    writes range k's lists (reasons, PostgreSQL, Redis), so the database, the scoring and the rest
    overlap on separate cores. All database and cache work stays in this thread (its connection and
    transaction); the helper only sees arrays.
    ``data``, when given (the retrain already holds every rating), is cut into the same ranges.
    """
    scorer = ml_adapter.load_scorer(version.artifact_path)
    n = settings.RECOMMENDATIONS["LIST_LENGTH"]
    chunk_users = settings.RECOMMENDATIONS["REFRESH_CHUNK_USERS"]
    range_users = settings.RECOMMENDATIONS["REFRESH_READ_USERS"]
    hidden = _hidden_by_user(user_range)
    loads: list[Callable[[], RatingArrays]]
    if data is not None:
        given = data
        firsts = [a for _, a, _ in _user_slices(given.users)][::range_users]
        starts = [*firsts, len(given)]
        loads = [functools.partial(_slice, given, a, b) for a, b in itertools.pairwise(starts)]
    else:
        loads = [
            functools.partial(ratings_as_arrays, user_range=r) for r in _id_ranges(user_range, range_users)
        ]

    def prepare(k: int) -> list[_Chunk]:
        """Range k read and cut into chunks of `REFRESH_CHUNK_USERS` users, with their vectors."""
        ratings = loads[k]()
        boundaries = [(a, b) for _, a, b in _user_slices(ratings.users)]
        parts = (boundaries[i : i + chunk_users] for i in range(0, len(boundaries), chunk_users))
        return [_prepare(scorer, _slice(ratings, part[0][0], part[-1][1]), hidden) for part in parts]

    def score(chunks: list[_Chunk]) -> list[_Scored]:
        return [_score(scorer, c, n) for c in chunks]

    written = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="refresh-score") as helper:
        current = prepare(0) if loads else []
        pending = helper.submit(score, current)
        for k in range(len(loads)):
            following = prepare(k + 1) if k + 1 < len(loads) else None  # while range k is scored
            scored = pending.result()
            if following is not None:
                pending = helper.submit(score, following)
            for j, (chunk, done) in enumerate(zip(current, scored, strict=True)):
                written += lists_write(version_id=version.pk, rows=_finish(scorer, chunk, done))
                if following is not None or j + 1 < len(current):
                    failpoint("lists-partly-written")  # fault-injection tests: die between two chunks
            current = following or []
            if progress:
                progress((k + 1) / len(loads))
    return written


def refresh_version(version_id: int | None) -> ModelVersion | None:
    """The version to refresh with: ``version_id``, or the active one; None when there is none."""
    return ModelVersion.objects.filter(pk=version_id).first() if version_id else registry.active_version()


def lists_refresh_all(*, version_id: int | None = None, user_range: tuple[int, int] | None = None) -> int:
    """Recompute every list (or one shard's) with ``version_id`` (default: the active version).

    0 when there is no model. Each batch written for the active version makes the cached lists stale
    (`recommendations.lists.lists_write`); readers then get the new lists from the database and cache them.
    """
    version = refresh_version(version_id)
    if version is None:
        logger.info("refresh: no model version to refresh with")
        return 0
    return lists_compute_and_write(version=version, user_range=user_range)


def lists_refresh_users(*, user_ids: Sequence[int]) -> bool:
    """Fold each member's current ratings into a vector and rewrite their lists for the active version,
    all in one batch: one read of their ratings and of their hides, one vectorised fold-in and scoring,
    one bulk write of the lists (which replaces their cached lists one by one). A member with no rating
    left loses their list.

    Returns False when there is no active model (serving falls back until the first retrain).
    """
    ids = sorted({int(u) for u in user_ids})
    version = registry.active_version()
    if version is None:
        for user_id in ids:
            caches.member_forget(user_id=user_id)
        return False
    if not ids:
        return True
    scorer = ml_adapter.load_scorer(version.artifact_path)
    history = ratings_as_arrays(user_ids=ids)
    for user_id in sorted(set(ids) - set(np.unique(history.users).tolist())):
        list_delete(user_id=user_id)
    if len(history):
        rows = _lists_for(
            scorer, history, _hidden_by_user(user_ids=ids), settings.RECOMMENDATIONS["LIST_LENGTH"]
        )
        lists_write(version_id=version.pk, rows=rows, folded_in=True)
    return True


def list_refresh_user(*, user_id: int) -> bool:
    """`lists_refresh_users` for one member."""
    return lists_refresh_users(user_ids=[user_id])


# --- Stale-list notes (the ratings app's outbox) ----------------------------------------------------------


def lists_refresh_noted(*, limit: int, older_than: dt.datetime | None = None) -> int:
    """Refresh, in one batch, the members whose lists are noted stale (at most ``limit``, oldest notes
    first; only notes older than ``older_than`` when given), then clear each note as it was before
    the refresh read their ratings: a change committed meanwhile leaves its note (and queues a refresh
    of its own). Returns the number of members refreshed."""
    notes = stale_notes_oldest(limit=limit, older_than=older_than)
    if not notes:
        return 0
    with _one_blas_thread():
        lists_refresh_users(user_ids=list(notes))
    stale_notes_clear(notes=notes)
    return len(notes)


def _one_blas_thread() -> AbstractContextManager[object]:
    """The batches of members who just rated run their products on one OpenBLAS thread. They run beside
    the web processes at background priority (scripts/background.sh), and a product split over two
    threads waits for whichever of them is preempted: in 15 s write runs at ML-20M size the worker
    refreshed about 2,800 members on one thread against about 1,000 on two, with less CPU
    (docs/BENCHMARKS.md, "Writes, round 5"). Alone on idle cores a batch of 1,000 takes ~15% longer
    on one thread (0.69 against 0.59 ms a member). The count is the whole process's: right for Celery's
    prefork and solo pools, where a process runs one task at a time."""
    return get_cached_controller().limit(limits=1, user_api="blas")  # rescans if a module was imported since


def stale_lists_cutoff() -> dt.datetime:
    """Notes older than this are overdue (``STALE_SWEEP_AFTER_SECONDS``): their refresh was never queued
    (the broker was down) or was lost."""
    after = settings.RECOMMENDATIONS["STALE_SWEEP_AFTER_SECONDS"]
    return timezone.now() - dt.timedelta(seconds=after)
