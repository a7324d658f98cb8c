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

#: `Scorer.similar_items` adds three standardised signals: what the taste columns would recommend to
#: a member who liked only this movie, the cosine of the recent-context columns (what follows it)
#: times `SIMILAR_RECENT_WEIGHT`, and the item bias times `SIMILAR_POPULARITY_WEIGHT` (negative: a
#: penalty, so that the similar movies of a blockbuster are its companions, not the popular list).
#: Chosen on the validation split of ml-100k by the companion objective, under EASE's popularity
#: echo (docs/ML.md, round 6)
SIMILAR_RECENT_WEIGHT = 1.0
SIMILAR_POPULARITY_WEIGHT = -0.4


def _standardised(values: np.ndarray) -> np.ndarray:
    """Mean 0, standard deviation 1 (float32), so that signals of different scales can be added."""
    spread = max(float(values.std()), 1e-12)
    return ((values - values.mean()) / spread).astype(np.float32)


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
    taste = weighting.taste_dims
    for part in chunks(len(members), 4096):  # bounded memory: never (all ratings x dim) at once
        sel, n = members[part], lengths[part]
        flat = concat_ranges(rows.indptr[sel], n)
        row_of = np.repeat(np.arange(len(sel)), n)

        def weights_matrix(weights: np.ndarray, row_of=row_of, flat=flat, n=n, sel=sel) -> sparse.csr_matrix:
            # One sparse (users x items) @ dense (items x dim) product: measured 100x faster than
            # gathering every rated item's row and summing the runs with np.add.reduceat.
            norms = np.sqrt(np.bincount(row_of, weights=weights.astype(np.float64) ** 2, minlength=len(sel)))
            scale = (weights / np.maximum(norms[row_of], 1e-12)).astype(np.float32)
            return sparse.csr_matrix(
                (scale, rows.indices[flat], np.concatenate(([0], np.cumsum(n)))),
                shape=(len(sel), item_embedding.shape[0]),
            )

        values = rows.values[flat]
        pooled[part, taste:] = (
            weights_matrix(weighting.weights(values, rows.positions[flat])) @ item_embedding[:, taste:]
        )
        if taste:
            pooled[part, :taste] = weights_matrix(weighting.taste_weights(values)) @ item_embedding[:, :taste]
    return pooled


#: `_grams` gathers at most this many design cells at a time (float32: 16 MB).
_GRAM_BATCH_CELLS = 4_000_000


def _grams(design: np.ndarray, resid: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per user k, the Gram matrix D_k'D_k and D_k'r_k of their rows ``bounds[k]:bounds[k+1]`` of
    ``design`` and ``resid`` (whose last row is zeros). Users are grouped by their number of rows rounded
    up to a power of two, and each group is one stacked product over rows gathered into that length
    (the zero row pads): a Python-level product per user cost 0.2 ms each at ML-20M size. A user's result
    depends only on their own rows and that length, so one member alone gets exactly what a batch gives.
    """
    lengths = np.diff(bounds)
    users, width, pad = len(lengths), design.shape[1], len(design) - 1
    gram = np.zeros((users, width, width))
    rhs = np.zeros((users, width))
    caps = np.where(lengths > 0, 2 ** np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64), 0)
    for cap in np.unique(caps[caps > 0]).tolist():
        members = np.flatnonzero(caps == cap)
        step = max(1, _GRAM_BATCH_CELLS // (cap * width))
        offsets = np.arange(cap)
        for start in range(0, len(members), step):
            some = members[start : start + step]
            rows = bounds[some][:, None] + offsets
            rows = np.where(offsets < lengths[some][:, None], rows, pad)
            x = design[rows]  # (users, cap, width)
            gram[some] = np.matmul(x.transpose(0, 2, 1), x)  # float32 (2e-6 stars from float64's)
            rhs[some] = np.matmul(x.transpose(0, 2, 1), resid[rows][:, :, None])[:, :, 0]
    return gram, rhs


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
        #: False for a model trained on implicit feedback (no star head): stars raise ValueError
        self.has_stars = "rating_item_factors" in a
        self.global_mean = float(a.get("rating_global_mean", np.nan))
        rating_range = a.get("rating_range", np.array([np.nan, np.nan]))
        self.rating_range = (float(rating_range[0]), float(rating_range[1]))
        self._unit_cache: dict[str, np.ndarray] = {}
        self._bias_z: np.ndarray | None = None

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
        ts = (
            self.weighting.input_order_times(len(r))
            if timestamps is None
            else np.asarray(timestamps, dtype=np.float64).ravel()
        )
        idx, r, ts = idx[known], r[known], ts[known]
        if len(idx) == 0:
            dim = self.arrays["rating_item_factors"].shape[1] if self.has_stars else 0
            return FoldedUser(
                vector=np.zeros(self.item_embedding.shape[1], np.float32),
                rating_factors=np.zeros(dim, np.float32),
                rating_bias=0.0,
                n_ratings=0,
            )
        positions = positions_from_end(np.zeros(len(idx), np.int64), ts, window=self.weighting.recency_window)
        vector = self.weighting.pool(self.item_embedding[idx], r, positions)
        if not self.has_stars:
            return FoldedUser(
                vector=vector, rating_factors=np.zeros(0, np.float32), rating_bias=0.0, n_ratings=len(idx)
            )
        factors, bias = self._fold_in_rating(idx, r)
        return FoldedUser(vector=vector, rating_factors=factors, rating_bias=bias, n_ratings=len(idx))

    def _fold_in_rating(self, idx: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
        factors, biases = self._fold_in_ratings(idx, r, np.array([0, len(idx)]))
        return factors[0], float(biases[0])

    def _fold_in_ratings(
        self, idx: np.ndarray, r: np.ndarray, bounds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rating head's (p_u, b_u) of users whose known ratings are ``idx[bounds[k]:bounds[k+1]]``
        (dense item indices) and ``r`` alike: for each, the closed-form ridge solution of the rating
        loss with the items fixed. The Gram matrices are batched products (`_grams`), then one
        batched solve; a user with no ratings gets zeros."""
        a = self.arrays
        # design rows [1, q_i] and residuals r_i - mu - b_i, with one zero row last for padding
        design = np.zeros((len(idx) + 1, a["rating_item_factors"].shape[1] + 1), np.float32)
        design[:-1, 0] = 1.0
        design[:-1, 1:] = a["rating_item_factors"][idx]
        resid = np.zeros(len(idx) + 1, np.float32)
        resid[:-1] = r - self.global_mean - a["rating_item_bias"][idx]
        gram, rhs = _grams(design, resid, bounds)
        users, width = gram.shape[:2]
        n = np.diff(bounds).astype(np.float64)
        penalty = np.outer(n, np.full(width, float(a["rating_l2"])))
        penalty[:, 0] = n * float(a["rating_bias_l2"])
        gram[:, np.arange(width), np.arange(width)] += penalty
        theta = np.zeros((users, width))
        some = n > 0
        theta[some] = np.linalg.solve(gram[some], rhs[some][:, :, None])[:, :, 0]
        return theta[:, 1:].astype(np.float32), theta[:, 0].astype(np.float32)

    def fold_in_rating_parts(
        self, user_rows: np.ndarray, item_ids: np.ndarray, ratings: np.ndarray, n_users: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rating head's (p_u, b_u) of ``n_users`` users at once, each exactly what `fold_in` gives
        that user alone, and how many of each user's ratings are of movies the model knows:
        ``user_rows[k]`` (sorted, 0..n_users-1) is the user of rating k. Unknown items are ignored; a
        user with no known rating gets zeros (and has no stars to show). Raises ValueError for a
        model without a star head."""
        if not self.has_stars:
            raise ValueError("this model was trained on implicit feedback: it has no star head")
        idx, known = self.items.lookup(item_ids)
        rows = np.asarray(user_rows, np.int64)[known]
        bounds = np.searchsorted(rows, np.arange(n_users + 1), side="left")
        factors, biases = self._fold_in_ratings(idx[known], np.asarray(ratings, np.float32)[known], bounds)
        return factors, biases, np.diff(bounds)

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
            vectors = np.stack([v.vector for v in vectors])
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
    def _unit_rows(self, part: str) -> np.ndarray:
        """Unit-length output vectors over the taste columns ("taste") or the recent-context
        columns ("recent"); a model without taste columns uses all of them for both. Cached."""
        if part not in self._unit_cache:
            d = self.weighting.taste_dims
            q = self.item_output[:, :d] if part == "taste" and d else self.item_output[:, d:]
            norms = np.linalg.norm(q, axis=1, keepdims=True)
            self._unit_cache[part] = (q / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._unit_cache[part]

    def closeness(self, from_idx: np.ndarray, to_idx: np.ndarray) -> np.ndarray:
        """How alike two movies are in members' taste: cosine of their output vectors' taste
        columns (dense indices). (len(from), len(to)), or for index arrays of shape (users, a) and
        (users, b), (users, a, b). Order-free by construction; popularity lives in the item bias."""
        unit = self._unit_rows("taste")
        a, b = unit[np.asarray(from_idx)], unit[np.asarray(to_idx)]
        return np.matmul(a, np.swapaxes(b, -1, -2))

    def popularity(self, idx: np.ndarray) -> np.ndarray:
        """The item bias of dense indices, standardised (mean 0, sd 1 over the catalog)."""
        if self._bias_z is None:
            self._bias_z = _standardised(self.item_bias)
        return self._bias_z[np.asarray(idx)]

    def similar_items(
        self,
        item_id: int,
        n: int = 10,
        *,
        exclude: np.ndarray | Sequence[int] = (),
        popularity_weight: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Companions of a movie, what members who liked it go on to like (best first, with their
        scores): each movie's standardised taste score for a member who liked only this one
        (E_t[a] . Q_t: the item-item map of the taste columns), plus `SIMILAR_RECENT_WEIGHT` x the
        standardised cosine of the recent-context columns, plus `popularity_weight` x the
        standardised item bias (`SIMILAR_POPULARITY_WEIGHT` by default). `exclude`: external ids
        never returned (the member's hidden movies). Raises KeyError for an unknown movie."""
        idx, known = self.items.lookup([item_id])
        if not known[0]:
            raise KeyError(f"unknown item id {item_id}")
        a = int(idx[0])
        weight = SIMILAR_POPULARITY_WEIGHT if popularity_weight is None else popularity_weight
        unit = self._unit_rows("recent")
        sims = np.float32(SIMILAR_RECENT_WEIGHT) * _standardised(unit @ unit[a])
        d = self.weighting.taste_dims
        if d:
            sims += _standardised(self.item_output[:, :d] @ self.item_embedding[a, :d])
        sims += np.float32(weight) * self.popularity(np.arange(len(self.items)))
        sims[a] = -np.inf
        hidden, hidden_known = self.items.lookup(exclude)
        sims[hidden[hidden_known]] = -np.inf
        top, vals = top_n(sims[None, :], n)
        keep = np.isfinite(vals[0])
        return self.items.ids[top[0]][keep], vals[0][keep]

    def explain(
        self,
        item_id: int,
        history_items: np.ndarray | Sequence[int],
        history_ratings: np.ndarray | Sequence[float],
        history_timestamps: np.ndarray | Sequence[float] | None = None,
        n: int = 3,
    ) -> list[tuple[int, float]]:
        """The user's movies that pushed `item_id` up most: [(history item id, contribution), ...].

        A score is b_i + sum_j x_j (E_j . Q_i) over the user's rated items j (with taste columns,
        each part with its own weights x_j), exactly. Liked movies (>= like threshold) with a
        positive contribution are preferred; if none, any positive contributor; best first.
        """
        target, known = self.items.lookup([item_id])
        if not known[0]:
            return []
        idx, hist_known = self.items.lookup(history_items)
        r = np.asarray(history_ratings, np.float32).ravel()
        ts = (
            self.weighting.input_order_times(len(r))
            if history_timestamps is None
            else np.asarray(history_timestamps, np.float64).ravel()
        )
        idx, r, ts = idx[hist_known], r[hist_known], ts[hist_known]
        if len(idx) == 0:
            return []
        w = self.weighting.weights(
            r, positions_from_end(np.zeros(len(idx), np.int64), ts, window=self.weighting.recency_window)
        )
        w = w / max(float(np.linalg.norm(w)), 1e-12)
        direction = self.item_output[target[0]]
        d = self.weighting.taste_dims
        contrib = w * (self.item_embedding[idx, d:] @ direction[d:])
        if d:
            taste = self.weighting.taste_weights(r)
            taste = taste / max(float(np.linalg.norm(taste)), 1e-12)
            contrib += taste * (self.item_embedding[idx, :d] @ direction[:d])
        liked = (r >= self.weighting.like_threshold) & (contrib > 0)
        pick = liked if liked.any() else contrib > 0
        order = np.argsort(-contrib[pick], kind="stable")[:n]
        ids, vals = self.items.ids[idx[pick]][order], contrib[pick][order]
        return [(int(i), float(v)) for i, v in zip(ids, vals, strict=True)]

    # ------------------------------------------------------------- pairs
    def _vectors_of(self, users: Sequence[int] | np.ndarray | Sequence[FoldedUser]) -> np.ndarray:
        if len(users) and isinstance(users[0], FoldedUser):
            return np.stack([u.vector for u in users])  # type: ignore[union-attr]
        return self.user_vectors(np.asarray(users, np.int64))

    def dense_scores(
        self, users: Sequence[int] | np.ndarray | Sequence[FoldedUser], n_items: int
    ) -> np.ndarray:
        """Ranking scores of items 0..n_items-1 for data whose item ids are dense indices (what
        `ml.evaluate.evaluate_scores` takes); items the model never saw score -inf."""
        out = np.full((len(users), n_items), -np.inf, np.float32)
        inside = self.items.ids < n_items
        out[:, self.items.ids[inside]] = self.score_vectors(self._vectors_of(users))[:, inside]
        return out

    def score_pairs(
        self,
        users: Sequence[int] | np.ndarray | Sequence[FoldedUser],
        item_ids: np.ndarray | Sequence[int] | Sequence[Sequence[int]],
    ) -> np.ndarray:
        """Ranking scores (the model that orders the lists) of chosen (user, movie) pairs.

        `users`: known user ids or `FoldedUser`s, one per row; `item_ids`: one id per user (shape
        (n,)) or several per user (shape (n, c)). Returns scores of the same shape, -inf for movies
        the model does not know. Unknown user ids raise KeyError. Higher = ranked higher.
        """
        vectors = self._vectors_of(users)
        items = np.asarray(item_ids, np.int64)
        flat = items.reshape(len(vectors), -1)
        idx, known = self.items.lookup(flat.ravel())
        idx = idx.reshape(flat.shape)
        scores = np.einsum("nd,ncd->nc", vectors, self.item_output[idx]) + self.item_bias[idx]
        scores = np.where(known.reshape(flat.shape), scores, -np.inf).astype(np.float32)
        return scores.reshape(items.shape)

    # ------------------------------------------------------------------ stars
    def _rating_parts(
        self, users: Sequence[int] | np.ndarray | Sequence[FoldedUser]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rating factors p_u, biases b_u) of known user ids or folded-in users."""
        if not self.has_stars:
            raise ValueError("this model was trained on implicit feedback: it has no star head")
        if len(users) and isinstance(users[0], FoldedUser):
            return (
                np.stack([u.rating_factors for u in users]),  # type: ignore[union-attr]
                np.array([u.rating_bias for u in users], np.float32),  # type: ignore[union-attr]
            )
        uidx, uknown = self.users.lookup(np.asarray(users, np.int64))
        if not uknown.all():
            raise KeyError(f"unknown user id {np.asarray(users).ravel()[~uknown][0]}")
        return self.arrays["rating_user_factors"][uidx], self.arrays["rating_user_bias"][uidx]

    def _star_block(self, factors: np.ndarray, biases: np.ndarray) -> np.ndarray:
        a = self.arrays
        block = factors @ a["rating_item_factors"].T + (self.global_mean + a["rating_item_bias"])
        block += np.asarray(biases, np.float32)[:, None]
        return np.clip(block, *self.rating_range).astype(np.float32)

    def list_stars(
        self,
        users: Sequence[int] | np.ndarray | Sequence[FoldedUser],
        n: int,
        *,
        exclude: Sequence[np.ndarray | Sequence[int]] | None = None,
        chunk_size: int = 2048,
    ) -> np.ndarray:
        """The stars shown beside each user's top-n picks, best pick first: (users x n) float32.

        Stars follow the ranking: pick k shows the k-th highest star prediction of the rating head
        among the same candidates (every movie not in `exclude[k]`, the list's own exclusions).
        The list's order is the one notion of "how much you will like it"; the rating head says
        where on the member's own star scale each position lies. So stars never rise down a list,
        and the top picks show the highest stars the member is predicted to give any unseen movie.
        Pass the same `exclude` as to `recommend`; NaN pads a list shorter than n.
        """
        factors, biases = self._rating_parts(users)
        return self.list_stars_of(factors, biases, n, exclude=exclude, chunk_size=chunk_size)

    def list_stars_of(
        self,
        factors: np.ndarray,
        biases: np.ndarray,
        n: int,
        *,
        exclude: Sequence[np.ndarray | Sequence[int]] | None = None,
        chunk_size: int = 2048,
    ) -> np.ndarray:
        """`list_stars` for users given by their rating parts (p_u rows, b_u), e.g. from
        `fold_in_rating_parts`.

        Only each row's n best values are needed, and the user's own terms (global mean, b_u) and the
        clip to the rating range keep a row's order, so they are applied to those n values only: the
        block itself is one product plus the item biases (at ML-20M size a quarter less time than
        clipping and shifting the whole block)."""
        indptr, indices = self._exclusions(exclude, len(factors))
        n = min(n, len(self.items))
        out = np.full((len(factors), n), np.nan, np.float32)
        a = self.arrays
        item_factors = np.asarray(a["rating_item_factors"], np.float32)
        item_bias = np.asarray(a["rating_item_bias"], np.float32)
        own = (self.global_mean + np.asarray(biases, np.float32)).astype(np.float32)
        for part in chunks(len(factors), chunk_size):
            block = np.asarray(factors[part], np.float32) @ item_factors.T
            block += item_bias
            mask_rows(block, indptr, indices, row_offset=part.start)
            _, vals = top_n(block, n)
            stars = np.clip(vals + own[part, None], *self.rating_range).astype(np.float32)
            out[part] = np.where(np.isfinite(vals), stars, np.nan)
        return out

    def stars(
        self,
        user: int | FoldedUser,
        item_ids: np.ndarray | Sequence[int],
        *,
        exclude: np.ndarray | Sequence[int] = (),
    ) -> np.ndarray:
        """The stars shown for any movies (a movie page, a pick card), consistent with `list_stars`:
        a movie that would be the k-th pick among the candidates (movies not in `exclude`: the
        member's rated and hidden ones) shows the k-th highest star prediction among them. NaN for
        unknown movies. One score row and one star row per call: O(n_items log n_items)."""
        idx, known = self.items.lookup(item_ids)
        (factors, biases) = self._rating_parts([user] if isinstance(user, FoldedUser) else np.array([user]))
        vector = self._vectors_of([user] if isinstance(user, FoldedUser) else np.array([user]))[0]
        scores = self.item_output @ vector + self.item_bias
        stars = self._star_block(factors, biases)[0]
        candidate = np.ones(len(self.items), bool)
        hidden, hidden_known = self.items.lookup(exclude)
        candidate[hidden[hidden_known]] = False
        by_score = np.sort(scores[candidate])  # ascending
        by_stars = np.sort(stars[candidate])[::-1]  # descending
        if len(by_stars) == 0:
            return np.full(len(idx), np.nan, np.float32)
        rank = len(by_score) - np.searchsorted(by_score, scores[idx], side="right")  # higher scores
        out = by_stars[np.minimum(rank, len(by_stars) - 1)].astype(np.float32)
        out[~known] = np.nan
        return out

    def predict_stars(self, user: int | FoldedUser, item_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """The rating head's own prediction (biased MF), clipped to the training rating range; NaN for
        unknown items. This is what RMSE measures; what members see is `stars` / `list_stars`.

        `user` is a known user id or a `FoldedUser`; an unknown user id raises KeyError.
        """
        factors, biases = self._rating_parts([user] if isinstance(user, FoldedUser) else np.array([user]))
        idx, known = self.items.lookup(item_ids)
        stars = self._star_block(factors, biases)[0][idx]
        stars[~known] = np.nan
        return stars

    def predict_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """The rating head's stars for dense (user index, item index) pairs (evaluation helper; the
        ranking model's scores of chosen pairs are `score_pairs`)."""
        a = self.arrays
        stars = (
            self.global_mean
            + a["rating_user_bias"][user_idx]
            + a["rating_item_bias"][item_idx]
            + np.einsum("ij,ij->i", a["rating_user_factors"][user_idx], a["rating_item_factors"][item_idx])
        )
        return np.clip(stars, *self.rating_range).astype(np.float32)
