"""Serving: top-N, fold-in, similar movies, predicted stars and explanations from plain numpy arrays.

This module and everything it imports are numpy only: web processes load artifacts through it and
must never import TensorFlow (seconds of start-up, hundreds of MB per worker). The arrays are the
Keras model's weights, exported by `ml.train`; `tests/ml` checks both give the same scores.

All ids in and out are external (raw) ids, e.g. database primary keys; the id maps live in the
artifact. Internally items and users are dense indices into sorted id arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.history import HistoryWeighting, RowSets, concat_ranges, positions_from_end
from ml.ranking import chunks, mask_rows, top_n


@dataclass(frozen=True)
class FoldedUser:
    """A user computed from their ratings alone (no retrain); accepted wherever a user id is."""

    vector: np.ndarray  # ranking tower user vector, shape (embedding_dim,)
    rating_factors: np.ndarray  # rating head p_u, shape (rating_dim,)
    rating_bias: float  # rating head b_u
    n_ratings: int  # ratings that matched known items


@dataclass(frozen=True)
class Recommendations:
    """Top-N per user, best first. Rows with fewer candidates than N are padded: item -1, score -inf."""

    items: np.ndarray  # (users, n) external item ids
    scores: np.ndarray  # (users, n) float32 ranking scores (logits; higher is better)

    def as_lists(self) -> list[list[int]]:
        return [[int(i) for i in row if i != -1] for row in self.items]


class IdMap:
    """External id <-> dense index via a sorted id array (no Python dicts to build).

    Ids that are dense enough (database keys usually are) are looked up in a direct table, one
    gather instead of a binary search per id (the bulk refresh looks up every rating's movie).
    """

    #: a direct table is used while it has at most this many slots per id
    DIRECT_SLOTS_PER_ID = 4

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            raise ValueError("ids must be sorted and unique")
        self.ids = ids
        self._direct: np.ndarray | None = None
        if len(ids) and ids[0] >= 0 and ids[-1] < self.DIRECT_SLOTS_PER_ID * len(ids) + 1024:
            self._direct = np.full(int(ids[-1]) + 1, -1, np.int64)
            self._direct[ids] = np.arange(len(ids))

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, external: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(dense indices, known mask); unknown ids get index 0 and False in the mask."""
        ext = np.asarray(external, dtype=np.int64).ravel()
        if len(self.ids) == 0:
            return np.zeros(len(ext), np.int64), np.zeros(len(ext), bool)
        if self._direct is not None:
            inside = (ext >= 0) & (ext < len(self._direct))
            pos = self._direct[np.where(inside, ext, 0)]
            known = inside & (pos >= 0)
            return np.where(known, pos, 0), known
        pos = np.searchsorted(self.ids, ext)
        pos = np.minimum(pos, len(self.ids) - 1)
        known = self.ids[pos] == ext
        return np.where(known, pos, 0).astype(np.int64), known


def encode_histories(
    rows: RowSets,
    weighting: HistoryWeighting,
    item_embedding: np.ndarray,
    *,
    users: np.ndarray | None = None,
) -> np.ndarray:
    """User vectors for chronological histories: normalise(weights) @ E (rows without items -> 0).

    `users` (row indices) restricts the result to those rows, in that order (default: every row).
    """
    from scipy import sparse  # here, not at import time: most web requests never encode histories

    members = np.arange(rows.n_rows) if users is None else np.asarray(users, np.int64)
    lengths = rows.indptr[members + 1] - rows.indptr[members]
    pooled = np.zeros((len(members), item_embedding.shape[1]), np.float32)
    for part in chunks(len(members), 4096):  # bounded memory: never (all ratings x dim) at once
        sel, n = members[part], lengths[part]
        flat = concat_ranges(rows.indptr[sel], n)
        weights = weighting.weights(rows.values[flat], rows.positions[flat])
        row_of = np.repeat(np.arange(len(sel)), n)
        norms = np.sqrt(np.bincount(row_of, weights=weights.astype(np.float64) ** 2, minlength=len(sel)))
        scale = (weights / np.maximum(norms[row_of], 1e-12)).astype(np.float32)
        # One sparse (users x items) @ dense (items x dim) product: measured 100x faster than
        # gathering every rated item's row and summing the runs with np.add.reduceat.
        weights_matrix = sparse.csr_matrix(
            (scale, rows.indices[flat], np.concatenate(([0], np.cumsum(n)))),
            shape=(len(sel), item_embedding.shape[0]),
        )
        pooled[part] = weights_matrix @ item_embedding
    return pooled


class Scorer:
    """The product model in numpy. Build from `ml.artifacts.load_scorer` or `TrainResult.scorer`."""

    def __init__(self, arrays: dict[str, np.ndarray], weighting: HistoryWeighting) -> None:
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.weighting = weighting
        a = self.arrays
        self.users = IdMap(a["user_ids"])
        self.items = IdMap(a["item_ids"])
        self.item_embedding = a["item_embedding"].astype(np.float32)
        self.item_output = a["item_output"].astype(np.float32)
        self.item_bias = a["item_bias"].astype(np.float32)
        self.user_vectors_ = a["user_vectors"].astype(np.float32)
        if int(a.get("tower_layers", np.array(0))):
            raise ValueError("this artifact has an MLP user tower, which is no longer supported; retrain")
        self.global_mean = float(a["rating_global_mean"])
        self.rating_range = (float(a["rating_range"][0]), float(a["rating_range"][1]))
        self._unit_items: np.ndarray | None = None

    # ------------------------------------------------------------------ users
    @property
    def embedding_dim(self) -> int:
        return int(self.item_output.shape[1])

    def encode_rows(self, rows: RowSets) -> np.ndarray:
        """User vectors for dense-indexed chronological histories (used at export time)."""
        return encode_histories(rows, self.weighting, self.item_embedding)

    def user_vectors(self, user_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """Stored vectors of known users; raises KeyError naming the first unknown id."""
        idx, known = self.users.lookup(user_ids)
        if not known.all():
            raise KeyError(f"unknown user id {np.asarray(user_ids).ravel()[~known][0]}")
        return self.user_vectors_[idx]

    def knows_user(self, user_id: int) -> bool:
        return bool(self.users.lookup([user_id])[1][0])

    def fold_in(
        self,
        item_ids: np.ndarray | Sequence[int],
        ratings: np.ndarray | Sequence[float],
        timestamps: np.ndarray | Sequence[float] | None = None,
    ) -> FoldedUser:
        """A vector for a user from their ratings, item parameters frozen. Unknown items are ignored.

        Without timestamps the input order is taken as chronological (last = most recent). The
        ranking vector is exactly what training computes for a known user with the same history; the
        rating part is the closed-form ridge solution of the rating head's loss with items fixed.
        """
        idx, known = self.items.lookup(item_ids)
        r = np.asarray(ratings, dtype=np.float32).ravel()
        if len(r) != len(idx):
            raise ValueError("item_ids and ratings differ in length")
        ts = np.arange(len(r)) if timestamps is None else np.asarray(timestamps, dtype=np.float64).ravel()
        idx, r, ts = idx[known], r[known], ts[known]
        if len(idx) == 0:
            return FoldedUser(
                vector=np.zeros(self.item_embedding.shape[1], np.float32),
                rating_factors=np.zeros(self.arrays["rating_item_factors"].shape[1], np.float32),
                rating_bias=0.0,
                n_ratings=0,
            )
        w = self.weighting.weights(r, positions_from_end(np.zeros(len(idx), np.int64), ts))
        w = w / max(float(np.linalg.norm(w)), 1e-12)
        vector = (w @ self.item_embedding[idx]).astype(np.float32)
        factors, bias = self._fold_in_rating(idx, r)
        return FoldedUser(vector=vector, rating_factors=factors, rating_bias=bias, n_ratings=len(idx))

    def _fold_in_rating(self, idx: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
        q = self.arrays["rating_item_factors"][idx].astype(np.float64)
        resid = r - self.global_mean - self.arrays["rating_item_bias"][idx]

        design = np.hstack([np.ones((len(idx), 1)), q])
        n = len(idx)
        penalty = np.full(design.shape[1], n * float(self.arrays["rating_l2"]))
        penalty[0] = n * float(self.arrays["rating_bias_l2"])
        theta = np.linalg.solve(design.T @ design + np.diag(penalty), design.T @ resid)
        return theta[1:].astype(np.float32), float(theta[0])

    # ---------------------------------------------------------------- ranking
    def score_vectors(self, vectors: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Scores of every item for a block of user vectors: one matrix product (into ``out``, if given,
        of shape (len(vectors), items): a bulk refresh reuses one block instead of faulting in a
        fresh ~200 MB for every chunk)."""
        block = np.matmul(np.asarray(vectors, np.float32), self.item_output.T, out=out)
        block += self.item_bias
        return block

    def recommend(
        self,
        user_ids: np.ndarray | Sequence[int],
        n: int = 100,
        *,
        exclude: Sequence[np.ndarray | Sequence[int]] | None = None,
        chunk_size: int = 2048,
    ) -> Recommendations:
        """Top-n for many known users at once; `exclude[k]` = external item ids never shown to user k."""
        return self.recommend_vectors(self.user_vectors(user_ids), n, exclude=exclude, chunk_size=chunk_size)

    def recommend_vectors(
        self,
        vectors: np.ndarray | Sequence[FoldedUser],
        n: int = 100,
        *,
        exclude: Sequence[np.ndarray | Sequence[int]] | None = None,
        chunk_size: int = 2048,
    ) -> Recommendations:
        """Top-n for user vectors (rows) or folded-in users, in chunks of `chunk_size` users."""
        if len(vectors) and isinstance(vectors[0], FoldedUser):
            vectors = np.stack([v.vector for v in vectors])  # type: ignore[union-attr]
        vecs = np.asarray(vectors, np.float32).reshape(-1, self.embedding_dim)
        indptr, indices = self._exclusions(exclude, len(vecs))
        n = min(n, len(self.items))
        items = np.full((len(vecs), n), -1, np.int64)
        scores = np.full((len(vecs), n), -np.inf, np.float32)
        buffer = np.empty((min(chunk_size, len(vecs)), len(self.items)), np.float32)
        for part in chunks(len(vecs), chunk_size):
            block = self.score_vectors(vecs[part], out=buffer[: part.stop - part.start])
            mask_rows(block, indptr, indices, row_offset=part.start)
            idx, vals = top_n(block, n)  # fresh arrays: the buffer is overwritten by the next chunk
            finite = np.isfinite(vals)
            items[part] = np.where(finite, self.items.ids[idx], -1)
            scores[part] = vals
        return Recommendations(items=items, scores=scores)

    def _exclusions(
        self, exclude: Sequence[np.ndarray | Sequence[int]] | None, n_rows: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if exclude is None:
            return np.zeros(n_rows + 1, np.int64), np.zeros(0, np.int64)
        if len(exclude) != n_rows:
            raise ValueError(f"exclude has {len(exclude)} rows for {n_rows} users")
        rows = [np.asarray(r, np.int64).ravel() for r in exclude]
        flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        idx, known = self.items.lookup(flat)
        row_of = np.repeat(np.arange(n_rows), [len(r) for r in rows])[known]
        indptr = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=n_rows)))).astype(np.int64)
        return indptr, idx[known]

    # ----------------------------------------------------------- item-item
    def _unit_item_vectors(self) -> np.ndarray:
        if self._unit_items is None:
            norms = np.linalg.norm(self.item_output, axis=1, keepdims=True)
            self._unit_items = self.item_output / np.maximum(norms, 1e-12)
        return self._unit_items

    def similar_items(self, item_id: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Most similar movies by cosine of the learned item vectors (the ones users are scored with)."""
        idx, known = self.items.lookup([item_id])
        if not known[0]:
            raise KeyError(f"unknown item id {item_id}")
        unit = self._unit_item_vectors()
        sims = unit @ unit[idx[0]]
        sims[idx[0]] = -np.inf
        top, vals = top_n(sims[None, :], n)
        return self.items.ids[top[0]], vals[0]

    def explain(
        self,
        item_id: int,
        history_items: np.ndarray | Sequence[int],
        history_ratings: np.ndarray | Sequence[float],
        history_timestamps: np.ndarray | Sequence[float] | None = None,
        n: int = 3,
    ) -> list[tuple[int, float]]:
        """The user's movies that pushed `item_id` up most: [(history item id, contribution), ...].

        A score is b_i + sum_j x_j (E_j . Q_i) over the user's rated items j (exact for the default
        linear tower, a first-order reading otherwise). Liked movies (>= like threshold) with a
        positive contribution are preferred; if none, any positive contributor; best first.
        """
        target, known = self.items.lookup([item_id])
        if not known[0]:
            return []
        idx, hist_known = self.items.lookup(history_items)
        r = np.asarray(history_ratings, np.float32).ravel()
        ts = (
            np.arange(len(r))
            if history_timestamps is None
            else np.asarray(history_timestamps, np.float64).ravel()
        )
        idx, r, ts = idx[hist_known], r[hist_known], ts[hist_known]
        if len(idx) == 0:
            return []
        w = self.weighting.weights(r, positions_from_end(np.zeros(len(idx), np.int64), ts))
        w = w / max(float(np.linalg.norm(w)), 1e-12)
        direction = self.item_output[target[0]]
        contrib = w * (self.item_embedding[idx] @ direction)
        liked = (r >= self.weighting.like_threshold) & (contrib > 0)
        pick = liked if liked.any() else contrib > 0
        order = np.argsort(-contrib[pick], kind="stable")[:n]
        ids, vals = self.items.ids[idx[pick]][order], contrib[pick][order]
        return [(int(i), float(v)) for i, v in zip(ids, vals, strict=True)]

    # ------------------------------------------------------------------ stars
    def predict_stars(self, user: int | FoldedUser, item_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """Predicted stars, clipped to the training rating range; NaN for unknown items.

        `user` is a known user id or a `FoldedUser`; an unknown user id raises KeyError.
        """
        a = self.arrays
        if isinstance(user, FoldedUser):
            p, bu = user.rating_factors, user.rating_bias
        else:
            uidx, uknown = self.users.lookup([user])
            if not uknown[0]:
                raise KeyError(f"unknown user id {user}")
            p, bu = a["rating_user_factors"][uidx[0]], float(a["rating_user_bias"][uidx[0]])
        idx, known = self.items.lookup(item_ids)
        stars = self.global_mean + bu + a["rating_item_bias"][idx] + a["rating_item_factors"][idx] @ p
        stars = np.clip(stars, *self.rating_range).astype(np.float32)
        stars[~known] = np.nan
        return stars

    def predict_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Stars for dense (user index, item index) pairs, vectorised (evaluation helper)."""
        a = self.arrays
        stars = (
            self.global_mean
            + a["rating_user_bias"][user_idx]
            + a["rating_item_bias"][item_idx]
            + np.einsum("ij,ij->i", a["rating_user_factors"][user_idx], a["rating_item_factors"][item_idx])
        )
        return np.clip(stars, *self.rating_range).astype(np.float32)
