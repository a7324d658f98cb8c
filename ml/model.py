"""The Keras ranking tower. Importing this module imports TensorFlow.

Ranking tower (`build_ranker`, `HistoryRanker`), a two-tower NCF with a GMF (dot-product) head:
    user vector  u = x @ E              x = the user's weighted rated items, L2-normalised, read
                                        sparsely (gather + segment sum, never a dense multi-hot)
    scores       s = u @ Q.T + b        over every item, trained with a full softmax
The user tower reads the user's rated items instead of looking up a free user embedding. That makes
fold-in exact (a new user's vector is the same function of their ratings, item parameters untouched)
and lets the same weights score users the model has never seen. The tower is linear (an MLP tower
measured worse, docs/ML.md), so every score decomposes exactly into per-rated-item contributions.

The rating head (predicted stars) is biased matrix factorisation fitted in numpy (`ml.rating`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ml.config import TrainConfig

PACKAGE = "ml"


@keras.saving.register_keras_serializable(package=PACKAGE)
class HistoryRanker(keras.Model):
    """Sparse history in, logits over all items out: the ranking tower.

    Inputs (a dict of flat arrays, one entry per (example, rated item) pair, so a batch costs
    O(ratings in it), never O(batch x n_items)):
        items    int32 (nnz,)   item index of each history entry
        weights  float32 (nnz,) its weight, already L2-normalised per example
        rows     int32 (nnz,)   which example (0 .. batch-1) it belongs to
        row_mask float32 (batch,) 1 for real examples, 0 for padding (also fixes the batch size,
                 a compile-time constant under XLA)
        taste_weights float32 (nnz,) the weights of the first `taste_dims` columns (order-free)
    user = segment_sum(weights * E[items], rows); logits = user @ Q.T + b.
    """

    def __init__(self, n_items: int, embedding_dim: int, taste_dims: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_items, self.embedding_dim, self.taste_dims = int(n_items), int(embedding_dim), int(taste_dims)
        self.item_embedding = self.add_weight(
            shape=(self.n_items, self.embedding_dim), initializer="glorot_uniform", name="item_embedding"
        )
        self.item_output = self.add_weight(
            shape=(self.n_items, self.embedding_dim), initializer="glorot_uniform", name="item_output"
        )
        self.item_bias = self.add_weight(shape=(self.n_items,), initializer="zeros", name="item_bias")

    def user_vectors(self, inputs: dict[str, Any]) -> Any:
        rows = ops.cast(inputs["rows"], "int32")
        gathered = ops.take(self.item_embedding, ops.cast(inputs["items"], "int32"), axis=0)
        weights = ops.expand_dims(inputs["weights"], -1)
        if self.taste_dims:  # the taste columns pool with their own (order-free) weights
            taste = ops.expand_dims(inputs["taste_weights"], -1)
            is_taste = ops.cast(ops.arange(self.embedding_dim) < self.taste_dims, weights.dtype)
            weights = taste * is_taste + weights * (1.0 - is_taste)
        weighted = gathered * weights
        return ops.segment_sum(weighted, rows, num_segments=ops.shape(inputs["row_mask"])[0])

    def call(self, inputs: dict[str, Any]) -> Any:
        return ops.matmul(self.user_vectors(inputs), ops.transpose(self.item_output)) + self.item_bias

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_items": self.n_items,
            "embedding_dim": self.embedding_dim,
            "taste_dims": self.taste_dims,
        }


def sparse_inputs(dense: Any, taste: Any = None) -> dict[str, Any]:
    """The ranker's flat inputs from dense (rows x n_items) history weights (tests, inspection);
    `taste`: the taste columns' weights, same shape and non-zeros (default: `dense`)."""
    import numpy as np

    dense = np.asarray(dense, np.float32)
    taste = dense if taste is None else np.asarray(taste, np.float32)
    rows, items = np.nonzero(dense)
    return {
        "items": items.astype(np.int32),
        "weights": dense[rows, items].astype(np.float32),
        "taste_weights": taste[rows, items].astype(np.float32),
        "rows": rows.astype(np.int32),
        "row_mask": np.ones(dense.shape[0], np.float32),
    }


def build_ranker(n_items: int, config: TrainConfig) -> HistoryRanker:
    """The ranking tower for `n_items` items as `config` describes it."""
    return HistoryRanker(n_items, config.embedding_dim, config.history.taste_dims, name="ncf_ranker")
