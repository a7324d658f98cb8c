"""The list store: members' persisted top-N lists, written in bulk and read one member at a time.

A list is one row per (member, version) of packed arrays (`recommendations.fields`). Writes replace
whole lists and keep the cache in step (`recommendations.caches`); reads go through the cache.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import BinaryField
from django.db.models.functions import Cast
from django.utils import timezone

from recommender_site import pgcopy

from . import caches, registry
from .fields import (
    pack_ids,
    pack_pairs,
    pack_scores,
    pack_stars,
    unpack_ids,
    unpack_pairs,
    unpack_scores,
    unpack_stars,
)
from .models import ModelVersion, RecommendationList


@dataclass(frozen=True)
class ListRow:
    """A list to write, as the refresh computes it."""

    user_id: int
    movie_ids: Sequence[int] | np.ndarray
    scores: Sequence[float] | np.ndarray
    # movie id -> id of the rated movie that explains it; or those pairs as rows of a (k, 2) array
    reasons: Mapping[int, int] | np.ndarray
    #: The predicted stars shown beside each pick (NaN: none), computed with the list; None: no stars
    stars: Sequence[float] | np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class StoredList:
    """A list as it is stored and cached: packed columns (cheap to pickle), its version and time."""

    movie_ids: bytes
    scores: bytes
    stars: bytes
    reasons: bytes
    model_version_id: int
    generated_at: dt.datetime


@dataclass(frozen=True)
class PersistedList:
    """A member's list as serving reads it. ``stars`` is empty for a list stored without them (a model
    without a star head, or a list written before lists kept their stars)."""

    movie_ids: list[int]
    scores: list[float]
    stars: list[float | None]
    reasons: dict[int, int]
    model_version_id: int
    generated_at: dt.datetime

    def stars_by_movie(self) -> dict[int, float | None] | None:
        """{movie id: the stars stored beside it (None: none to show)}; None for a list stored without
        stars."""
        if len(self.stars) != len(self.movie_ids):
            return None
        return dict(zip(self.movie_ids, self.stars, strict=True))


# --- Reads ----------------------------------------------------------------------------------------------


def _stored_list_from_database(user_id: int) -> StoredList | None:
    # Only versions that have served (activated_at set): a version left behind by a killed retrain,
    # never promoted, must never reach members. The active version's list first, else the newest.
    # The packed columns are read as the bytes they are (the fields would unpack them into lists,
    # only for them to be packed again for the cache).
    if connection.vendor == "postgresql":
        return _stored_list_from_postgresql(user_id)
    raw = {
        name: Cast(name, output_field=BinaryField()) for name in ("movie_ids", "scores", "stars", "reasons")
    }
    row = (
        RecommendationList.objects.filter(user_id=user_id, model_version__activated_at__isnull=False)
        .order_by("-model_version__is_active", "-generated_at")
        .values(
            "model_version_id",
            "generated_at",
            raw_ids=raw["movie_ids"],
            raw_scores=raw["scores"],
            raw_stars=raw["stars"],
            raw_reasons=raw["reasons"],
        )
        .first()
    )
    if row is None:
        return None
    return StoredList(
        movie_ids=bytes(row["raw_ids"]),
        scores=bytes(row["raw_scores"]),
        stars=bytes(row["raw_stars"]),
        reasons=bytes(row["raw_reasons"]),
        model_version_id=row["model_version_id"],
        generated_at=row["generated_at"],
    )


def _stored_list_from_postgresql(user_id: int) -> StoredList | None:
    """The same read as one hand-written statement: after an activation every member's first request
    reads their list, and building the ORM's query was most of that read's CPU."""
    lists, versions = RecommendationList._meta.db_table, ModelVersion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.movie_ids, l.scores, l.stars, l.reasons, l.model_version_id, l.generated_at FROM {lists} l "
            f"JOIN {versions} v ON v.id = l.model_version_id "
            "WHERE l.user_id = %s AND v.activated_at IS NOT NULL "
            "ORDER BY v.is_active DESC, l.generated_at DESC LIMIT 1",
            [user_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return StoredList(
        movie_ids=bytes(row[0]),
        scores=bytes(row[1]),
        stars=bytes(row[2]),
        reasons=bytes(row[3]),
        model_version_id=row[4],
        generated_at=row[5],
    )


def list_for_user(*, user_id: int) -> PersistedList | None:
    """The member's persisted list (cache, else database), or None when they have none."""
    stored = caches.list_read_through(user_id, lambda: _stored_list_from_database(user_id))
    if stored is None:
        return None
    return PersistedList(
        movie_ids=unpack_ids(stored.movie_ids),
        scores=unpack_scores(stored.scores),
        stars=unpack_stars(stored.stars),
        reasons=unpack_pairs(stored.reasons),
        model_version_id=stored.model_version_id,
        generated_at=stored.generated_at,
    )


# --- Writes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PackedRow:
    user_id: int
    movie_ids: bytes
    scores: bytes
    stars: bytes
    reasons: bytes


def lists_write(
    *, version_id: int, rows: Iterable[ListRow], folded_in: bool = False, batch_size: int = 2000
) -> int:
    """Upsert the lists of one version in bulk; each member's list is replaced whole, never merged."""
    now = timezone.now()
    written = 0
    batch: list[_PackedRow] = []

    def flush() -> None:
        _upsert(batch, version_id=version_id, folded_in=folded_in, generated_at=now)
        _caches_after_write(batch, version_id=version_id, generated_at=now, folded_in=folded_in)

    for row in rows:
        batch.append(
            _PackedRow(
                user_id=int(row.user_id),
                movie_ids=pack_ids(row.movie_ids),
                scores=pack_scores(row.scores),
                stars=pack_stars(row.stars) if row.stars is not None else b"",
                reasons=pack_pairs(row.reasons),
            )
        )
        if len(batch) >= batch_size:
            flush()
            written += len(batch)
            batch = []
    if batch:
        flush()
        written += len(batch)
    return written


def list_delete(*, user_id: int) -> None:
    """The member has no ratings left: every list of theirs goes."""
    with transaction.atomic():
        RecommendationList.objects.filter(user_id=user_id).delete()
    caches.member_forget(user_id=user_id)


def lists_prune(*, keep_versions: int = 2) -> int:
    """Delete the lists of every version but the ``keep_versions`` first by (active, newest): the
    active version's and the newest others'."""
    keep = list(
        ModelVersion.objects.order_by("-is_active", "-created_at").values_list("pk", flat=True)[
            :keep_versions
        ]
    )
    deleted, _ = RecommendationList.objects.exclude(model_version_id__in=keep).delete()
    return deleted


_LIST_COLUMNS = (
    "user_id",
    "model_version_id",
    "movie_ids",
    "scores",
    "stars",
    "reasons",
    "folded_in",
    "generated_at",
)


def _upsert(
    lists: Sequence[_PackedRow], *, version_id: int, folded_in: bool, generated_at: dt.datetime
) -> None:
    """Insert or replace these lists (one per member and version) in one statement.

    On PostgreSQL the rows go through a binary COPY into a session-local staging table and one
    INSERT ... SELECT ... ON CONFLICT: a bulk refresh writes 138k lists of 100 movies, and the packed
    bytes go to the server as they are, with nothing to quote, encode or parse. Other databases use
    Django's bulk upsert.
    """
    if not pgcopy.available():
        RecommendationList.objects.bulk_create(
            [
                RecommendationList(
                    user_id=x.user_id,
                    model_version_id=version_id,
                    movie_ids=x.movie_ids,
                    scores=x.scores,
                    stars=x.stars,
                    reasons=x.reasons,
                    folded_in=folded_in,
                    generated_at=generated_at,
                )
                for x in lists
            ],
            update_conflicts=True,
            unique_fields=["user", "model_version"],
            update_fields=["movie_ids", "scores", "stars", "reasons", "folded_in", "generated_at"],
        )
        return
    head = pgcopy.field_count(len(_LIST_COLUMNS))
    version = pgcopy.int8(version_id)
    tail = pgcopy.boolean(folded_in) + pgcopy.timestamptz(generated_at)
    rows = b"".join(
        b"".join(
            (
                head,
                pgcopy.int8(x.user_id),
                version,
                pgcopy.bytea(x.movie_ids),
                pgcopy.bytea(x.scores),
                pgcopy.bytea(x.stars),
                pgcopy.bytea(x.reasons),
                tail,
            )
        )
        for x in lists
    )
    table = RecommendationList._meta.db_table
    columns = ", ".join(_LIST_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _LIST_COLUMNS[2:])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS recommendations_list_staging_v3 (user_id bigint, "
            "model_version_id bigint, movie_ids bytea, scores bytea, stars bytea, reasons bytea, "
            "folded_in boolean, generated_at timestamptz)"
        )
        pgcopy.copy_in(cursor, f"recommendations_list_staging_v3 ({columns})", [rows])
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM recommendations_list_staging_v3 "
            f"ON CONFLICT (user_id, model_version_id) DO UPDATE SET {updates}"
        )
        # Emptied here rather than ON COMMIT: inside an outer transaction there is no commit yet.
        cursor.execute("TRUNCATE recommendations_list_staging_v3")


#: Up to this many lists written at once update their members' cache entries one by one; more (a
#: refresh of everyone) make every cached list and answer stale at once instead.
_CACHE_ONE_BY_ONE = 100


def _caches_after_write(
    lists: Sequence[_PackedRow], *, version_id: int, generated_at: dt.datetime, folded_in: bool
) -> None:
    """After writing ``lists``: a few of them, or the fold-in batch of the members who just rated, replace
    their members' cached lists (active version only) and drop those members' cached answers; many
    from a bulk refresh of the active version make every cached list and answer stale, with two key
    writes rather than two per member (everyone's list changed anyway)."""
    active = registry.version_is_active(version_id)
    if len(lists) > _CACHE_ONE_BY_ONE and not folded_in:
        if active:
            caches.forget_all()
        return
    if active:
        caches.lists_replace(
            {
                x.user_id: StoredList(
                    movie_ids=x.movie_ids,
                    scores=x.scores,
                    stars=x.stars,
                    reasons=x.reasons,
                    model_version_id=version_id,
                    generated_at=generated_at,
                )
                for x in lists
            }
        )
    caches.answers_forget_users(user_ids=[x.user_id for x in lists])
