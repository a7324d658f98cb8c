"""User histories as weighted item sets: the one place where training and serving agree on weights.

The ranking tower encodes a user as a function of the items they rated (not as a free embedding), so
the exact same weighting must be applied when the model is trained, when user vectors are exported and
when a new user is folded in. All three call `history_weights`; nothing else computes weights.
Numpy only: the web process imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml import LIKE_THRESHOLD


@dataclass(frozen=True)
class HistoryWeighting:
    """How much one rating counts in a user's history.

    weight = rating part x recency part, where
    - rating part is `like_weight` for ratings >= `like_threshold`, else `dislike_weight` (a movie
      someone watched and disliked still says something about what they watch);
    - recency part is `recency_floor + (1 - recency_floor) * 0.5 ** (position_from_end / half_life)`,
      with position 0 the user's most recent rating. Position, not wall-clock age, so a user who
      rated 50 movies in one evening is treated like one who rated them over a year.
    """

    like_threshold: float = LIKE_THRESHOLD
    like_weight: float = 1.0
    dislike_weight: float = 0.3
    recency_half_life: float = 10.0
    recency_floor: float = 0.2
    #: the first `taste_dims` columns of the user vector pool the rated items with the rating part
    #: only (order-free: long-term taste); the other columns with rating x recency (recent
    #: context). Each part is L2-normalised on its own. 0 = one recency-weighted part.
    taste_dims: int = 0
    #: seconds within which ratings count as made at one moment: a rating's position from the end
    #: counts only the ratings made more than this much later, so the order in which a member rates
    #: one page of movies does not matter. 0 = every later rating counts (ties: input order).
    recency_window: float = 0.0

    def weights(self, ratings: np.ndarray, positions_from_end: np.ndarray) -> np.ndarray:
        """Weights for ratings of one or many users (positions are per user, 0 = most recent)."""
        ratings = np.asarray(ratings, dtype=np.float32)
        liked = np.where(ratings >= self.like_threshold, self.like_weight, self.dislike_weight)
        if self.recency_half_life > 0:
            decay = np.power(
                np.float32(0.5), np.asarray(positions_from_end, np.float32) / self.recency_half_life
            )
            recency = self.recency_floor + (1.0 - self.recency_floor) * decay
        else:
            recency = np.ones_like(ratings)
        return (liked * recency).astype(np.float32)

    def input_order_times(self, n: int) -> np.ndarray:
        """Timestamps for ratings given in chronological order without times: each one its own
        moment (spaced wider than `recency_window`)."""
        return np.arange(n, dtype=np.float64) * (self.recency_window + 1.0)

    def taste_weights(self, ratings: np.ndarray) -> np.ndarray:
        """The order-free weights of the taste columns: the rating part alone."""
        ratings = np.asarray(ratings, dtype=np.float32)
        return np.where(ratings >= self.like_threshold, self.like_weight, self.dislike_weight).astype(
            np.float32
        )

    def pool(self, embedding: np.ndarray, ratings: np.ndarray, positions_from_end: np.ndarray) -> np.ndarray:
        """One user's vector from their rated items' embedding rows (`embedding`: one row per rating):
        each part (taste columns, recent columns) is a weighted sum with its own weights L2-normalised.
        """
        recent = self.weights(ratings, positions_from_end)
        recent = recent / max(float(np.linalg.norm(recent)), 1e-12)
        out = (recent @ embedding).astype(np.float32)
        if self.taste_dims:
            taste = self.taste_weights(ratings)
            taste = taste / max(float(np.linalg.norm(taste)), 1e-12)
            out[: self.taste_dims] = taste @ embedding[:, : self.taste_dims]
        return out


@dataclass(frozen=True)
class RowSets:
    """A minimal CSR matrix (rows = users, columns = item indices) without scipy.

    `indices[indptr[r]:indptr[r + 1]]` are row r's items in chronological order (oldest first),
    `values` the matching weights or ratings, `positions` each entry's position from the row's end.
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    positions: np.ndarray
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def row(self, r: int) -> np.ndarray:
        return self.indices[self.indptr[r] : self.indptr[r + 1]]

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def dense(self, rows: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """Rows `rows` as a dense float32 block (len(rows) x n_cols), values from `values` or self."""
        vals = self.values if values is None else values
        out = np.zeros((len(rows), self.n_cols), dtype=np.float32)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        row_ids = np.repeat(np.arange(len(rows)), lengths)
        flat = concat_ranges(starts, lengths)
        np.add.at(out, (row_ids, self.indices[flat]), vals[flat])
        return out


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def chronological_order(users: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Permutation sorting by (user, timestamp, original position); ties keep input order.

    Ratings read from the database already come in this order: checking that is O(n), the sort is not.
    """
    users, timestamps = np.asarray(users), np.asarray(timestamps)
    n = len(users)
    user_step = np.diff(users)
    if (user_step >= 0).all() and ((user_step > 0) | (np.diff(timestamps) >= 0)).all():
        return np.arange(n)
    return np.lexsort((np.arange(n), timestamps, users))


def positions_from_end(users: np.ndarray, timestamps: np.ndarray, *, window: float = 0.0) -> np.ndarray:
    """For each rating, how many later ratings its user has (0 = the user's most recent one).

    With a `window` > 0, only ratings made more than `window` later count, so ratings made within
    the window of the user's last ones share position 0 (and ties in time share a position).
    """
    users = np.asarray(users)
    if window > 0:
        return _window_positions(users, np.asarray(timestamps, np.float64), window)
    order = chronological_order(users, timestamps)
    sorted_users = users[order]
    n = len(users)
    change = np.flatnonzero(np.diff(sorted_users)) + 1
    run_end = np.repeat(np.concatenate((change, [n])) - 1, np.diff(np.concatenate(([0], change, [n]))))
    pos_sorted = run_end - np.arange(n)
    out = np.empty(n, dtype=np.int64)
    out[order] = pos_sorted
    return out


def _window_positions(users: np.ndarray, timestamps: np.ndarray, window: float) -> np.ndarray:
    """For each rating, how many ratings of its user are later than its time + window (exact: the
    queries are merged into the sorted (user, time) pairs, no arithmetic across users)."""
    n = len(users)
    if n == 0:
        return np.zeros(0, np.int64)
    users = users.astype(np.int64)
    values = np.concatenate([timestamps, timestamps + window])
    owners = np.concatenate([users, users])
    is_query = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    # by user, then time; a rating at exactly time + window sorts before the query (not later)
    merged = np.lexsort((is_query, values, owners))
    queries_before = np.cumsum(is_query[merged]) - is_query[merged]
    ratings_not_later = np.empty(n, np.int64)  # ratings (any user before, this user up to the query)
    query_rank = np.flatnonzero(is_query[merged])
    ratings_not_later[merged[query_rank] - n] = query_rank - queries_before[query_rank]
    counts = np.bincount(users - users.min())
    ends = np.cumsum(counts)[users - users.min()]  # ratings of this user and every user before it
    return ends - ratings_not_later


def build_rows(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    timestamps: np.ndarray,
    *,
    n_rows: int,
    n_cols: int,
    recency_window: float = 0.0,
) -> RowSets:
    """Group dense-indexed ratings into per-user chronological rows (positions counted with
    `recency_window`, as `HistoryWeighting.recency_window` says)."""
    users = np.asarray(users, dtype=np.int64)
    order = chronological_order(users, timestamps)
    counts = np.bincount(users, minlength=n_rows)
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    pos = positions_from_end(users, timestamps, window=recency_window)
    return RowSets(
        indptr=indptr,
        indices=np.asarray(items, dtype=np.int64)[order],
        values=np.asarray(values, dtype=np.float32)[order],
        positions=pos[order],
        n_cols=n_cols,
    )
