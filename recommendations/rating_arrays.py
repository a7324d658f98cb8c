"""Ratings out of the database as numpy arrays, without building ORM objects.

20M ratings as four int32/float32 arrays take ~320 MB; as model instances they would take tens of GB.
PostgreSQL streams the ratings with a binary COPY of the raw columns, parsed by numpy in one pass and
ordered here; other backends use a cursor.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection

from ratings.models import Rating
from ratings.selectors import epoch_seconds_sql
from recommender_site import pgcopy

_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class RatingArrays:
    users: np.ndarray  # int64 user primary keys
    movies: np.ndarray  # int64 movie primary keys
    ratings: np.ndarray  # float32 half stars
    timestamps: np.ndarray  # int64 unix seconds of the rating's current value

    def __len__(self) -> int:
        return len(self.users)


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
    # COPY for a batch of members too: a fold-in batch of 1,000 members (~155k ratings at ML-20M size)
    # took 140-200 ms of CPU through the cursor and pandas, 38-46 ms this way; one member's ratings
    # 0.7-1.8 ms through the cursor, 0.3-0.5 ms this way (docs/BENCHMARKS.md, "Writes, round 5").
    if pgcopy.available():
        return _copy_out(f"SELECT id, user_id, movie_id, value, updated_at FROM {table} {where}", params)
    sql = (
        f"SELECT user_id, movie_id, value, {epoch_seconds_sql('updated_at')} AS ts FROM {table} {where} "
        "ORDER BY user_id, updated_at, id"
    )
    frame = _cursor_out(sql, params)
    return RatingArrays(
        users=frame["user_id"].to_numpy(np.int64),
        movies=frame["movie_id"].to_numpy(np.int64),
        ratings=frame["value"].to_numpy(np.float32),
        timestamps=frame["ts"].to_numpy(np.int64),
    )


#: One row of (id, user_id, movie_id, value, updated_at): bigint, double precision and timestamptz are
#: all 8 bytes, so every row has the same layout and numpy reads the whole stream as one record array.
_RATING_ROW = pgcopy.row_dtype(
    [("id", ">i8"), ("user", ">i8"), ("movie", ">i8"), ("value", ">f8"), ("at", ">i8")]
)


def _copy_out(sql: str, params: list[int]) -> RatingArrays:
    """Ratings through one binary COPY, ordered by user, then time, then id, like the cursor path.

    Sorting here rather than in the query halves the database's share (no sort of 20M rows there) and
    the binary format needs no text parsing: measured 19 s -> ~9 s for 20M ratings.
    """
    with connection.cursor() as cursor:
        rows = pgcopy.copy_out(cursor, sql, params, _RATING_ROW)
    ids = rows["id"].astype(np.int64)
    users = rows["user"].astype(np.int64)
    micros = rows["at"].astype(np.int64)  # the full precision orders ratings within a second
    movies = rows["movie"].astype(np.int64)
    ratings = rows["value"].astype(np.float32)
    del rows
    order = _order_by_user_time_id(users, micros, ids)
    timestamps = pgcopy.unix_seconds(micros)
    return RatingArrays(
        users=users[order], movies=movies[order], ratings=ratings[order], timestamps=timestamps[order]
    )


def _order_by_user_time_id(users: np.ndarray, times: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The permutation that sorts by (user, time, id). One stable sort of a packed 64-bit key (user
    offset, time offset) when both fit in it, as they do for a refresh's range of users (3.7x faster
    than np.lexsort of the three at 20M rows); np.lexsort otherwise."""
    if len(users) == 0:
        return np.zeros(0, np.int64)
    first_user, first_time = int(users.min()), int(times.min())
    user_bits = (int(users.max()) - first_user).bit_length()
    time_bits = max((int(times.max()) - first_time).bit_length(), 1)
    if user_bits + time_bits > 63:
        return np.lexsort((ids, times, users))
    by_id = None if (np.diff(ids) > 0).all() else np.argsort(ids, kind="stable")
    key = ((users - first_user) << time_bits) | (times - first_time)
    if by_id is None:
        return np.argsort(key, kind="stable")
    return by_id[np.argsort(key[by_id], kind="stable")]


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
