"""Bulk writes shared by the dataset importers: genres, movies, dataset users and ratings.

Every function here runs inside the importer's single transaction and touches rows in bulk
(``bulk_create`` with conflict handling, then ids read back with ``values_list``); ratings go through
PostgreSQL's binary COPY into a staging table and one ``INSERT ... SELECT ... ON CONFLICT``, or on
SQLite through ``executemany`` upserts in batches. No per-rating Python objects are ever built: the
ratings travel as numpy arrays from the parser to the database.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, cast

import numpy as np
import pandas as pd
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import connection
from django.db.backends.utils import CursorWrapper
from tqdm import tqdm

from accounts.models import User
from catalog.models import Genre, Movie, normalize_for_search
from ratings.models import Rating
from recommender_site import pgcopy

# Rows per executemany batch on SQLite and per COPY chunk on PostgreSQL: big enough to amortise the
# round trips, small enough that the progress bar moves and memory stays flat.
RATING_BATCH = 200_000
MODEL_BATCH = 2_000
TITLE_MAX = Movie._meta.get_field("title").max_length or 512
YEAR_MIN, YEAR_MAX = 1870, 2100  # catalog_movie_year_sane


MOVIE_FIELDS: tuple[str, ...] = ("title", "year", "imdb_id", "tmdb_id")


class ImportConflict(Exception):
    """The file is valid but cannot be merged into what the database already holds."""


@dataclass
class ImportSummary:
    """What one import changed, printed as the command's one-line summary."""

    dataset: str
    movies_created: int = 0
    movies_updated: int = 0
    users_created: int = 0
    ratings_created: int = 0
    ratings_updated: int = 0
    ratings_unchanged: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        line = (
            f"{self.dataset}: movies {self.movies_created} created, {self.movies_updated} updated; "
            f"users {self.users_created} created; ratings {self.ratings_created} created, "
            f"{self.ratings_updated} updated, {self.ratings_unchanged} unchanged; {self.seconds:.1f} s"
        )
        return line + "".join(f" ({note})" for note in self.notes)


@dataclass(frozen=True)
class MovieRow:
    """One movie as a dataset describes it; ``key`` is its id in the dataset (movielens_id or ASIN)."""

    key: int | str
    title: str
    year: int | None = None
    imdb_id: str | None = None
    tmdb_id: int | None = None
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class MoviesResult:
    pk_by_key: dict[int | str, int]
    created: int
    updated: int
    ids_dropped: int  # IMDb / TMDB ids left out because another movie already holds them


def progress_bar(*, total: int | None, desc: str, unit: str, enabled: bool) -> tqdm:
    """A tqdm bar on stderr (stdout carries the summary), silent when the command runs with -v0."""
    return tqdm(
        total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled, file=sys.stderr, leave=False
    )


def byte_progress(stream: IO[bytes], label: str, size: int) -> IO[bytes]:
    """A ``StreamWrapper`` for ``ml.datasets``: reading progress in bytes (ratings files are big)."""
    bar = progress_bar(total=size, desc=f"reading {label}", unit="B", enabled=True)
    return cast(IO[bytes], _ProgressStream(stream, bar))


class _ProgressStream:
    """A read-only binary stream that advances a tqdm bar, closing it at end of file."""

    def __init__(self, stream: IO[bytes], bar: tqdm) -> None:
        self._stream, self._bar = stream, bar

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._bar.update(len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self._bar.update(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def close(self) -> None:
        self._bar.close()
        self._stream.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def genres_ensure(*, names: set[str]) -> dict[str, int]:
    """Genre ids by name, creating the missing genres."""
    Genre.objects.bulk_create([Genre(name=n[:64]) for n in sorted(names)], ignore_conflicts=True)
    return dict(Genre.objects.values_list("name", "pk"))


def movies_upsert(
    *, key_field: str, rows: Sequence[MovieRow], manage_genres: bool, fields: Sequence[str] = MOVIE_FIELDS
) -> MoviesResult:
    """Create new movies and update changed ones, keyed by ``key_field`` (``movielens_id``/``amazon_asin``).

    Unchanged movies are not written at all, so their ``updated_at`` keeps meaning "last changed".
    Only ``fields`` are compared and written (a dataset that knows only titles must not blank the
    years other sources filled in). IMDb and TMDB ids are unique in the catalogue: an id another
    movie already holds (or an earlier row of the same file claimed) is left out rather than failing
    the whole import.
    """
    # search_title is derived from the title (Movie.save() keeps it, and bulk_create bypasses save()).
    fields = [*fields, "search_title"] if "title" in fields else list(fields)
    existing = {
        values[0]: values[1:]
        for values in Movie.objects.filter(**{f"{key_field}__isnull": False}).values_list(
            key_field, "pk", *fields
        )
    }
    existing_genres: dict[int, set[int]] = {}
    if manage_genres:
        through = Movie.genres.through
        for movie_id, genre_id in through.objects.filter(
            **{f"movie__{key_field}__isnull": False}
        ).values_list("movie_id", "genre_id"):
            existing_genres.setdefault(movie_id, set()).add(genre_id)
    genre_pks = genres_ensure(names={g for r in rows for g in r.genres}) if manage_genres else {}

    # Who holds each external id now: a row may take an id only from itself.
    holders: dict[tuple[str, object], object] = {}
    for name in ("imdb_id", "tmdb_id"):
        for value, key in Movie.objects.filter(**{f"{name}__isnull": False}).values_list(name, key_field):
            holders[(name, value)] = key
    dropped = 0
    to_write: list[Movie] = []
    created = updated = 0
    wanted_genres: dict[int | str, set[int]] = {}
    for row in rows:
        ids: dict[str, object] = {"imdb_id": row.imdb_id, "tmdb_id": row.tmdb_id}
        for name, value in ids.items():
            if value is None:
                continue
            holder = holders.setdefault((name, value), row.key)
            if holder != row.key:
                ids[name] = None
                dropped += 1
        year = row.year if row.year is not None and YEAR_MIN <= row.year <= YEAR_MAX else None
        title = row.title[:TITLE_MAX]
        every = {
            "title": title,
            "search_title": normalize_for_search(title)[:TITLE_MAX],
            "year": year,
            "imdb_id": ids["imdb_id"],
            "tmdb_id": ids["tmdb_id"],
        }
        values = tuple(every[f] for f in fields)
        genres = {genre_pks[g[:64]] for g in row.genres} if manage_genres else set()
        wanted_genres[row.key] = genres
        before = existing.get(row.key)
        if before is None:
            created += 1
        elif tuple(before[1:]) != values or (
            manage_genres and existing_genres.get(before[0], set()) != genres
        ):
            updated += 1
        else:
            continue
        to_write.append(Movie(**{key_field: row.key}, **{f: every[f] for f in fields}))
    # auto_now fields are filled in by bulk_create's pre_save; "updated_at" must be listed to change.
    Movie.objects.bulk_create(
        to_write,
        batch_size=MODEL_BATCH,
        update_conflicts=True,
        unique_fields=[key_field],
        update_fields=[*fields, "updated_at"],
    )
    pk_by_key: dict[int | str, int] = dict(
        Movie.objects.filter(**{f"{key_field}__isnull": False}).values_list(key_field, "pk")
    )
    if manage_genres:
        _movie_genres_set(
            wanted={pk_by_key[key]: genres for key, genres in wanted_genres.items()},
            existing=existing_genres,
        )
    return MoviesResult(pk_by_key=pk_by_key, created=created, updated=updated, ids_dropped=dropped)


def _movie_genres_set(*, wanted: dict[int, set[int]], existing: dict[int, set[int]]) -> None:
    """Make each movie's genres exactly ``wanted``: add the missing links, delete the stale ones."""
    through = Movie.genres.through
    add = [
        through(movie_id=movie, genre_id=genre)
        for movie, genres in wanted.items()
        for genre in genres - existing.get(movie, set())
    ]
    through.objects.bulk_create(add, batch_size=MODEL_BATCH, ignore_conflicts=True)
    stale = [
        (movie, genre) for movie, genres in wanted.items() for genre in existing.get(movie, set()) - genres
    ]
    by_movie: dict[int, list[int]] = {}
    for movie, genre in stale:
        by_movie.setdefault(movie, []).append(genre)
    for movie, genres in by_movie.items():
        through.objects.filter(movie_id=movie, genre_id__in=genres).delete()


def dataset_users_ensure(*, source: str, user_ids: Sequence[str]) -> tuple[dict[str, int], set[str]]:
    """User pks by dataset user id, creating the missing dataset users; returns (pks, ids created).

    Dataset users get ``<source>:<id>`` as username and an unusable password. The password is the
    same shape ``make_password(None)`` produces ("!" and 40 random characters) but made with one
    ``token_urlsafe`` call: ``make_password`` draws 40 separate random choices, seconds for ml-25m's
    162,000 users.
    """
    existing = dict(User.objects.filter(dataset_source=source).values_list("dataset_user_id", "pk"))
    missing = [u for u in user_ids if u not in existing]
    User.objects.bulk_create(
        [
            User(
                username=f"{source}:{u}",
                dataset_source=source,
                dataset_user_id=u,
                password=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30),
            )
            for u in missing
        ],
        batch_size=MODEL_BATCH,
        ignore_conflicts=True,
    )
    if missing:
        existing = dict(User.objects.filter(dataset_source=source).values_list("dataset_user_id", "pk"))
    return existing, set(missing)


@dataclass(frozen=True)
class RatingsResult:
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class RatingsToWrite:
    """The ratings to write, as parallel arrays (never one Python object per rating).

    ``fresh`` marks ratings whose user this import created: they cannot exist yet, so they skip the
    merge and are appended directly.
    """

    user_pks: np.ndarray  # int64
    movie_pks: np.ndarray  # int64
    values: np.ndarray  # float64
    timestamps: np.ndarray  # int64 unix seconds
    fresh: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.values)

    def subset(self, mask: np.ndarray) -> RatingsToWrite:
        return RatingsToWrite(
            self.user_pks[mask],
            self.movie_pks[mask],
            self.values[mask],
            self.timestamps[mask],
            self.fresh[mask],
        )


def dataset_ratings_write(
    *,
    source: str,
    user_keys: pd.Series,
    movie_pks: np.ndarray,
    values: np.ndarray,
    timestamps: np.ndarray,
    progress: bool,
) -> tuple[int, RatingsResult]:
    """Create the dataset users ``user_keys`` name, then write their ratings; returns (users created, counts).

    Each distinct user id is handled once in Python (``factorize``); the per-rating work is array
    indexing.
    """
    codes, distinct = pd.factorize(user_keys)
    ids = [str(u) for u in distinct.tolist()]
    pk_by_id, created_ids = dataset_users_ensure(source=source, user_ids=ids)
    user_pks = np.fromiter((pk_by_id[u] for u in ids), dtype="int64", count=len(ids))[codes]
    new_user = np.fromiter((u in created_ids for u in ids), dtype=bool, count=len(ids))[codes]
    ratings = RatingsToWrite(
        user_pks=user_pks,
        movie_pks=np.asarray(movie_pks, dtype="int64"),
        values=np.asarray(values, dtype="float64"),
        timestamps=np.asarray(timestamps, dtype="int64"),
        fresh=new_user,
    )
    return len(created_ids), ratings_upsert(ratings=ratings, progress=progress)


def ratings_upsert(*, ratings: RatingsToWrite, progress: bool) -> RatingsResult:
    """Insert new ratings and update those whose value changed; equal ones are left untouched.

    A changed rating takes the file's timestamp as ``updated_at``; ``created_at`` is only set on
    insert. Ratings in the database but not in the file are kept (an import never deletes).
    """
    if len(ratings) == 0:
        return RatingsResult(0, 0, 0)
    if pgcopy.available():
        created, updated = _ratings_write_postgresql(ratings, progress=progress)
    else:
        created, updated = _ratings_upsert_executemany(ratings, progress=progress)
    return RatingsResult(created=created, updated=updated, unchanged=len(ratings) - created - updated)


# ---------------------------------------------------------------------------------------------------
# PostgreSQL: binary COPY

# Below this many appended ratings, dropping and rebuilding constraints costs more than it saves.
BULK_MIN_ROWS = 50_000


def _rating_row(time_columns: int) -> np.dtype:
    """A rating row (user_id, movie_id, value, then ``time_columns`` timestamps) as COPY sends it."""
    return pgcopy.row_dtype(
        [("user_id", ">i8"), ("movie_id", ">i8"), ("value", ">f8")]
        + [(f"at{i}", ">i8") for i in range(time_columns)]
    )


def _copy_chunks(ratings: RatingsToWrite, *, time_columns: int, bar: tqdm) -> Iterator[bytes]:
    dtype = _rating_row(time_columns)
    for start in range(0, len(ratings), RATING_BATCH):
        stop = min(start + RATING_BATCH, len(ratings))
        micros = pgcopy.timestamp_micros(ratings.timestamps[start:stop])
        columns = {
            "user_id": ratings.user_pks[start:stop],
            "movie_id": ratings.movie_pks[start:stop],
            "value": ratings.values[start:stop],
            **{f"at{i}": micros for i in range(time_columns)},
        }
        yield pgcopy.encode_rows(dtype, columns)
        bar.update(stop - start)


def _copy(
    cursor: CursorWrapper,
    target: str,
    ratings: RatingsToWrite,
    *,
    time_columns: int,
    desc: str,
    progress: bool,
) -> None:
    with progress_bar(total=len(ratings), desc=desc, unit="rating", enabled=progress) as bar:
        pgcopy.copy_in(cursor, target, _copy_chunks(ratings, time_columns=time_columns, bar=bar))


def _ratings_write_postgresql(ratings: RatingsToWrite, *, progress: bool) -> tuple[int, int]:
    """Append fresh users' ratings with COPY; merge the rest through a staging table.

    When the import at least doubles the ratings table (the first import of a big release), the
    foreign keys and the non-unique indexes are dropped for the load and rebuilt after it, inside the
    same transaction: PostgreSQL checks a foreign key with one query per inserted row (~27 us each
    here, 11 minutes for ml-25m) but validates a re-added one with a single join (~10 s), and builds an
    index by sorting faster than it maintains one row by row. The rebuild uses the definitions read
    from the catalog, so the schema ends up exactly as the migrations made it; a failure rolls the
    drop back with everything else. The price: the ratings table is locked for the import's duration.
    """
    table = Rating._meta.db_table
    quoted = connection.ops.quote_name(table)
    fresh = ratings.subset(ratings.fresh)
    rest = ratings.subset(~ratings.fresh)
    created = updated = 0
    with connection.cursor() as cursor:
        # For this transaction only: with the default 4 MB the planner aggregates millions of ratings
        # through a random-access index scan (movie_stats_refresh on ml-25m: 75 s instead of 11 s).
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        estimate = max(int(cursor.fetchone()[0]), 0)
        bulk = len(fresh) >= BULK_MIN_ROWS and len(fresh) * 2 >= estimate + len(fresh)
        rebuild = _constraints_drop(cursor, table=table) if bulk else []
        if len(fresh):
            _copy(
                cursor,
                f"{quoted} (user_id, movie_id, value, created_at, updated_at)",
                fresh,
                time_columns=2,
                desc="copying ratings",
                progress=progress,
            )
            created += len(fresh)
        if len(rest):
            merged_created, updated = _ratings_merge(cursor, rest, table=quoted, progress=progress)
            created += merged_created
        if rebuild and progress:
            tqdm.write("rebuilding the ratings table's indexes and foreign keys ...", file=sys.stderr)
        for statement in rebuild:
            cursor.execute(statement)
        # Millions of new rows make the planner's statistics stale; the stats refresh and the
        # first training run both scan this table right after.
        cursor.execute(f"ANALYZE {quoted}")
    return created, updated


def _constraints_drop(cursor: CursorWrapper, *, table: str) -> list[str]:
    """Drop ``table``'s foreign keys and non-constraint indexes; return the statements that restore them."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
          FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indrelid = %s::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """,
        [table],
    )
    indexes = cursor.fetchall()
    quoted = connection.ops.quote_name(table)
    # More memory for the sorts that rebuild the indexes, for this transaction only.
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, _ in foreign_keys:
        cursor.execute(f"ALTER TABLE {quoted} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [definition for _, definition in indexes] + [
        f"ALTER TABLE {quoted} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}"
        for name, definition in foreign_keys
    ]


def _ratings_merge(
    cursor: CursorWrapper, ratings: RatingsToWrite, *, table: str, progress: bool
) -> tuple[int, int]:
    """COPY into a temporary staging table, then one INSERT ... ON CONFLICT DO UPDATE merges it."""
    stage = "ingest_rating_stage"
    # ON COMMIT DROP cleans up with the transaction; the DROP covers a second import in one transaction.
    cursor.execute(f"DROP TABLE IF EXISTS {stage}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {stage} (user_id bigint NOT NULL, movie_id bigint NOT NULL,"
        " value double precision NOT NULL, at timestamptz NOT NULL) ON COMMIT DROP"
    )
    _copy(
        cursor,
        stage,
        ratings,
        time_columns=1,
        desc="staging ratings",
        progress=progress,
    )
    if progress:
        tqdm.write("merging ratings into the ratings table ...", file=sys.stderr)
    cursor.execute(
        f"""
        WITH merged AS (
            INSERT INTO {table} AS r (user_id, movie_id, value, created_at, updated_at)
            SELECT user_id, movie_id, value, at, at FROM {stage}
            ON CONFLICT (user_id, movie_id) DO UPDATE
               SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
             WHERE r.value IS DISTINCT FROM EXCLUDED.value
            RETURNING (xmax = 0) AS inserted
        )
        SELECT COUNT(*) FILTER (WHERE inserted), COUNT(*) FILTER (WHERE NOT inserted) FROM merged
        """
    )
    created, updated = cursor.fetchone()
    cursor.execute(f"DROP TABLE {stage}")
    return int(created), int(updated)


# ---------------------------------------------------------------------------------------------------
# SQLite (and any backend without COPY)


def _ratings_upsert_executemany(ratings: RatingsToWrite, *, progress: bool) -> tuple[int, int]:
    """Batched executemany upserts.

    Timestamps are turned into Django's SQLite datetime text ("YYYY-MM-DD HH:MM:SS", UTC) by SQLite's
    own ``datetime(?, 'unixepoch')``, so Python never formats a date per row.
    """
    table = connection.ops.quote_name(Rating._meta.db_table)
    at = "datetime(%s, 'unixepoch')" if connection.vendor == "sqlite" else "to_timestamp(%s)"
    sql = (
        f"INSERT INTO {table} (user_id, movie_id, value, created_at, updated_at) VALUES (%s, %s, %s, {at}, {at})"
        f" ON CONFLICT (user_id, movie_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        f" WHERE {table}.value <> excluded.value"
    )
    changed = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        before = cursor.fetchone()[0]
        with progress_bar(total=len(ratings), desc="writing ratings", unit="rating", enabled=progress) as bar:
            for start in range(0, len(ratings), RATING_BATCH):
                stop = min(start + RATING_BATCH, len(ratings))
                stamps = ratings.timestamps[start:stop].tolist()
                batch = list(
                    zip(
                        ratings.user_pks[start:stop].tolist(),
                        ratings.movie_pks[start:stop].tolist(),
                        ratings.values[start:stop].tolist(),
                        stamps,
                        stamps,
                        strict=True,
                    )
                )
                cursor.executemany(sql, batch)
                changed += max(cursor.rowcount, 0)
                bar.update(stop - start)
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        created = cursor.fetchone()[0] - before
    return created, changed - created
