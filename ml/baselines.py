"""Baselines for the benchmark, all behind one small interface on dense indices.

- `Popularity`: rank by number of ratings in train.
- `Ease`: Steck 2019, closed-form item-item model on binary interactions; lambda chosen on a validation
  split by the caller (`ml.bench`).
- `BiasedMF`: mu + b_u + b_i + p_u . q_i by alternating least squares in numpy (ALS-WR regularisation),
  ranks by predicted rating.
- `SeedNcf`: the seeds' architecture, reproduced: concatenated user and movie embeddings -> Dense(10)
  -> Dense(10) with dropout -> sigmoid scaled to the rating range, MSE; ranks by predicted rating.
- `SurpriseSvd`: scikit-surprise's SVD with default parameters, an external peer.
Keras and surprise are imported inside the classes that need them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class Baseline(ABC):
    """fit on dense-indexed ratings; `scores` for ranking; `predict` for stars (None if not a rater)."""

    name = "baseline"
    rates = False
    #: training examples processed by the last fit (ratings x passes), None if not meaningful
    examples: int | None = None

    @abstractmethod
    def fit(
        self,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        timestamps: np.ndarray,
        *,
        n_users: int,
        n_items: int,
    ) -> Baseline: ...

    @abstractmethod
    def scores(self, users: np.ndarray) -> np.ndarray: ...

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted stars; only models with `rates = True` have them."""
        raise TypeError(f"{self.name} does not predict ratings")


class Popularity(Baseline):
    name = "popularity"

    def fit(self, users, items, ratings, timestamps, *, n_users, n_items):
        self.counts = np.bincount(items, minlength=n_items).astype(np.float32)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(users), 1))


class Ease(Baseline):
    """EASE (Steck 2019). With `max_items`, the item-item model covers only the most-rated items
    (the rest rank last): at 27k movies the full float64 inverse would need 6 GB, while the top
    10k movies carry nearly every rating. The Gram matrix is built sparsely in user blocks."""

    name = "ease"

    def __init__(self, lam: float = 300.0, max_items: int | None = None) -> None:
        self.lam, self.max_items = lam, max_items
        self._gram: np.ndarray | None = None

    def fit(self, users, items, ratings, timestamps, *, n_users, n_items):
        import scipy.sparse as sp

        counts = np.bincount(items, minlength=n_items)
        if self.max_items is not None and self.max_items < n_items:
            kept = np.sort(np.argsort(-counts, kind="stable")[: self.max_items])
        else:
            kept = np.arange(n_items)
        column = np.full(n_items, -1, np.int64)
        column[kept] = np.arange(len(kept))
        sel = column[items] >= 0
        x = sp.csr_matrix(
            (np.ones(int(sel.sum()), np.float32), (users[sel], column[items[sel]])),
            shape=(n_users, len(kept)),
        )
        x.sum_duplicates()
        x.data[:] = 1.0
        gram = np.zeros((len(kept), len(kept)), np.float64)
        for start in range(0, n_users, 20_000):
            block = x[start : start + 20_000]
            gram += (block.T @ block).toarray()
        self.x, self.kept, self.n_items, self._gram = x, kept, n_items, gram
        return self.set_lambda(self.lam)

    def set_lambda(self, lam: float) -> Ease:
        """Re-solve with another lambda, reusing the Gram matrix (for a validation grid)."""
        assert self._gram is not None, "fit first"
        self.lam = lam
        gram = self._gram.copy()
        gram[np.diag_indices(len(gram))] += lam
        precision = np.linalg.inv(gram)
        del gram
        weights = -precision / np.diag(precision)
        np.fill_diagonal(weights, 0.0)
        self.weights = weights.astype(np.float32)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        kept_scores = np.asarray(self.x[users] @ self.weights, np.float32)
        if len(self.kept) == self.n_items:
            return kept_scores
        out = np.full((len(users), self.n_items), -np.inf, np.float32)
        out[:, self.kept] = kept_scores
        return out


class BiasedMF(Baseline):
    name = "biased-mf"
    rates = True

    def __init__(self, dim: int = 32, lam: float = 0.08, sweeps: int = 12, seed: int = 0) -> None:
        self.dim, self.lam, self.sweeps, self.seed = dim, lam, sweeps, seed

    def fit(self, users, items, ratings, timestamps, *, n_users, n_items):
        rng = np.random.default_rng(self.seed)
        r = ratings.astype(np.float64)
        self.mu = float(r.mean())
        self.range = (float(r.min()), float(r.max()))
        p = np.hstack([np.zeros((n_users, 1)), rng.normal(0, 0.1, (n_users, self.dim))])  # [b_u, p_u]
        q = np.hstack([np.zeros((n_items, 1)), rng.normal(0, 0.1, (n_items, self.dim))])  # [b_i, q_i]
        by_user = np.argsort(users, kind="stable")
        by_item = np.argsort(items, kind="stable")
        for _ in range(self.sweeps):
            p = self._solve(users, items, r, q, by_user, n_users)
            q = self._solve(items, users, r, p, by_item, n_items)
        self.p, self.q = p, q
        self.examples = len(r) * self.sweeps * 2
        return self

    def _solve(
        self, rows: np.ndarray, cols: np.ndarray, r: np.ndarray, other: np.ndarray, order: np.ndarray, n: int
    ) -> np.ndarray:
        """Ridge solve of each row's [bias, factors] with the other side fixed (its bias in the target)."""
        out = np.zeros((n, self.dim + 1))
        counts = np.bincount(rows, minlength=n)
        starts = np.concatenate(([0], np.cumsum(counts)))
        eye = np.eye(self.dim + 1)
        for row in np.flatnonzero(counts):
            sel = order[starts[row] : starts[row + 1]]
            o = other[cols[sel]]
            design = np.hstack([np.ones((len(sel), 1)), o[:, 1:]])
            target = r[sel] - self.mu - o[:, 0]
            out[row] = np.linalg.solve(design.T @ design + self.lam * len(sel) * eye, design.T @ target)
        return out

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        pu, qi = self.p[users], self.q[items]
        pred = self.mu + pu[:, 0] + qi[:, 0] + np.einsum("ij,ij->i", pu[:, 1:], qi[:, 1:])
        return np.clip(pred, *self.range)

    def scores(self, users: np.ndarray) -> np.ndarray:
        pu = self.p[users]
        return (self.mu + pu[:, :1] + self.q[:, 0][None, :] + pu[:, 1:] @ self.q[:, 1:].T).astype(np.float32)


class SeedNcf(Baseline):
    """The seeds' model: rating regression, embeddings concatenated into a small MLP."""

    name = "seed-ncf"
    rates = True

    def __init__(
        self, dim: int = 50, dropout: float = 0.2, batch_size: int = 1024, max_epochs: int = 30, seed: int = 0
    ) -> None:
        self.dim, self.dropout, self.batch_size, self.max_epochs, self.seed = (
            dim,
            dropout,
            batch_size,
            max_epochs,
            seed,
        )

    def fit(self, users, items, ratings, timestamps, *, n_users, n_items):
        import keras

        from ml.evaluate import random_split  # with keras: only this baseline needs it

        keras.utils.set_random_seed(self.seed)
        lo, hi = float(ratings.min()), float(ratings.max())
        user = keras.Input(shape=(1,), dtype="int32", name="user")
        item = keras.Input(shape=(1,), dtype="int32", name="item")
        u = keras.layers.Flatten()(keras.layers.Embedding(n_users, self.dim)(user))
        i = keras.layers.Flatten()(keras.layers.Embedding(n_items, self.dim)(item))
        h = keras.layers.Concatenate()([u, i])
        h = keras.layers.Dropout(self.dropout)(keras.layers.Dense(10, activation="relu")(h))
        h = keras.layers.Dropout(self.dropout)(keras.layers.Dense(10, activation="relu")(h))
        out = keras.layers.Dense(1, activation="sigmoid")(h)
        stars = keras.layers.Rescaling(hi - lo, offset=lo)(out)
        model = keras.Model({"user": user, "item": item}, stars)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        val = random_split(len(ratings), test_fraction=0.05, seed=self.seed)
        x = {"user": users.astype(np.int32), "item": items.astype(np.int32)}
        hist = model.fit(
            {k: v[~val] for k, v in x.items()},
            ratings[~val],
            validation_data=({k: v[val] for k, v in x.items()}, ratings[val]),
            batch_size=self.batch_size,
            epochs=self.max_epochs,
            callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)],
            verbose=0,
        )
        self.model, self.n_items = model, n_items
        self.examples = int((~val).sum()) * len(hist.history["loss"])
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        x = {"user": users.astype(np.int32), "item": items.astype(np.int32)}
        return np.asarray(self.model.predict(x, batch_size=65536, verbose=0)).ravel()

    def scores(self, users: np.ndarray) -> np.ndarray:
        uu = np.repeat(users, self.n_items)
        ii = np.tile(np.arange(self.n_items), len(users))
        return self.predict(uu, ii).reshape(len(users), self.n_items).astype(np.float32)


class SurpriseSvd(Baseline):
    """scikit-surprise SVD, default hyper-parameters (the library's own recommendation)."""

    name = "surprise-svd"
    rates = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, users, items, ratings, timestamps, *, n_users, n_items):
        import pandas as pd
        from surprise import SVD, Dataset, Reader

        frame = pd.DataFrame({"u": users, "i": items, "r": ratings})
        reader = Reader(rating_scale=(float(ratings.min()), float(ratings.max())))
        trainset = Dataset.load_from_df(frame, reader).build_full_trainset()
        algo: Any = SVD(random_state=self.seed)
        algo.fit(trainset)
        self.algo, self.trainset, self.n_users, self.n_items = algo, trainset, n_users, n_items
        self.range = reader.rating_scale
        # dense-index views of surprise's parameters (inner ids are assigned in order of appearance)
        k = algo.pu.shape[1]
        self.pu = np.zeros((n_users, k))
        self.bu = np.zeros(n_users)
        self.qi = np.zeros((n_items, k))
        self.bi = np.full(n_items, -math.inf)  # items never rated in train rank last
        raw_u = np.array([trainset.to_raw_uid(j) for j in range(trainset.n_users)], np.int64)
        raw_i = np.array([trainset.to_raw_iid(j) for j in range(trainset.n_items)], np.int64)
        self.pu[raw_u], self.bu[raw_u] = algo.pu, algo.bu
        self.qi[raw_i], self.bi[raw_i] = algo.qi, algo.bi
        self.mu = trainset.global_mean
        self.examples = len(ratings) * algo.n_epochs
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        bi = np.where(np.isfinite(self.bi[items]), self.bi[items], 0.0)
        pred = self.mu + self.bu[users] + bi + np.einsum("ij,ij->i", self.pu[users], self.qi[items])
        return np.clip(pred, *self.range)

    def scores(self, users: np.ndarray) -> np.ndarray:
        return (self.mu + self.bu[users][:, None] + self.bi[None, :] + self.pu[users] @ self.qi.T).astype(
            np.float32
        )
