"""Ratings out of the database as numpy arrays, without building ORM objects.

20M ratings as four int32/float32 arrays take ~320 MB; as model instances they would take tens of GB.
PostgreSQL streams them with COPY (one round trip, parsed by pandas' C reader); other backends use a
server-side cursor read in chunks.
"""

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection

from ratings.models import Rating

_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class RatingArrays:
    users: np.ndarray  # int64 user primary keys
    movies: np.ndarray  # int64 movie primary keys
    ratings: np.ndarray  # float32 half stars
    timestamps: np.ndarray  # int64 unix seconds of the rating's current value

    def __len__(self) -> int:
        return len(self.users)


def _epoch_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    if connection.vendor == "sqlite":
        # '%%s' survives Django's placeholder conversion as strftime's own %s (seconds since the epoch).
        return f"CAST(strftime('%%s', {column}) AS INTEGER)"
    return f"UNIX_TIMESTAMP({column})"


def ratings_as_arrays(
    *, user_ids: list[int] | None = None, user_range: tuple[int, int] | None = None
) -> RatingArrays:
    """Every rating (or those of ``user_ids``, or of users first..last) ordered by user, then time."""
    table = Rating._meta.db_table
    where, params = "", []
    if user_ids is not None:
        if not user_ids:
            return _empty()
        where = f"WHERE user_id IN ({', '.join(['%s'] * len(user_ids))})"
        params = [int(u) for u in user_ids]
    elif user_range is not None:
        where = "WHERE user_id BETWEEN %s AND %s"
        params = [int(user_range[0]), int(user_range[1])]
    sql = (
        f"SELECT user_id, movie_id, value, {_epoch_sql('updated_at')} AS ts FROM {table} {where} "
        "ORDER BY user_id, updated_at, id"
    )
    frame = _copy_out(sql) if connection.vendor == "postgresql" and not params else _cursor_out(sql, params)
    return RatingArrays(
        users=frame["user_id"].to_numpy(np.int64),
        movies=frame["movie_id"].to_numpy(np.int64),
        ratings=frame["value"].to_numpy(np.float32),
        timestamps=frame["ts"].to_numpy(np.int64),
    )


def _copy_out(sql: str) -> pd.DataFrame:
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
    buffer.seek(0)
    return pd.read_csv(
        buffer,
        names=["user_id", "movie_id", "value", "ts"],
        dtype={"user_id": np.int64, "movie_id": np.int64, "value": np.float32, "ts": np.int64},
    )


def _cursor_out(sql: str, params: list[int]) -> pd.DataFrame:
    frames = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(_CHUNK_ROWS):
            frames.append(pd.DataFrame.from_records(rows, columns=["user_id", "movie_id", "value", "ts"]))
    if not frames:
        return pd.DataFrame({"user_id": [], "movie_id": [], "value": [], "ts": []})
    return pd.concat(frames, ignore_index=True)


def _empty() -> RatingArrays:
    return RatingArrays(
        users=np.empty(0, np.int64),
        movies=np.empty(0, np.int64),
        ratings=np.empty(0, np.float32),
        timestamps=np.empty(0, np.int64),
    )


def user_id_ranges(*, users_per_range: int) -> list[tuple[int, int]]:
    """(first, last) user ids of consecutive groups of ``users_per_range`` users who have ratings."""
    ids = np.asarray(
        Rating.objects.order_by("user_id").values_list("user_id", flat=True).distinct(), dtype=np.int64
    )
    n_ranges = max(1, -(-len(ids) // users_per_range))  # ceiling division
    return [(int(part[0]), int(part[-1])) for part in np.array_split(ids, n_ranges) if len(part)]
