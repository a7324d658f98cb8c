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

import math
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
        weights  float32 (nnz,) its recency x rating weight, already L2-normalised per example
        rows     int32 (nnz,)   which example (0 .. batch-1) it belongs to
        row_mask float32 (batch,) 1 for real examples, 0 for padding (also fixes the batch size,
                 a compile-time constant under XLA)
        taste_weights float32 (nnz,) its order-free weight (the taste columns'), L2-normalised
    Two column groups, summed:
        taste   t = segment_sum(taste_weights * E_t[items])   logits += exp(s) * t @ Q_t.T
                E_t, Q_t and the scale exp(s) fixed (`set_taste`: the closed form of
                `ml.taste_columns`; exp(s) sets their spread while the rest trains)
        recent  x = segment_sum(weights * E[items])            logits += r * x @ Q.T + b
                E, Q, b learned
    The mix (m, r) multiplies the taste logits (m) and the recent ones (r) outside training; both 1
    while training, then chosen on validation.
    Exported as one item embedding [E_t, E] and one output [m exp(s) Q_t, r Q] (`ml.train.ranker_arrays`).
    """

    def __init__(self, n_items: int, embedding_dim: int, taste_dims: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_items, self.embedding_dim, self.taste_dims = int(n_items), int(embedding_dim), int(taste_dims)
        recent = self.embedding_dim - self.taste_dims
        self.item_embedding = self.add_weight(
            shape=(self.n_items, recent), initializer="glorot_uniform", name="item_embedding"
        )
        self.item_output = self.add_weight(
            shape=(self.n_items, recent), initializer="glorot_uniform", name="item_output"
        )
        self.item_bias = self.add_weight(shape=(self.n_items,), initializer="zeros", name="item_bias")
        #: the mix served (and scored outside training): multipliers of the taste and the recent-context
        #: logits, chosen on the validation split after training (`ml.train`); training always
        #: runs at (1, 1), so the refit never learns to undo a mix it was not trained with
        mix = {"shape": (), "initializer": "ones", "trainable": False}
        self.taste_mix = self.add_weight(name="taste_mix", **mix)
        self.recent_mix = self.add_weight(name="recent_mix", **mix)
        if self.taste_dims:
            fixed = {"shape": (self.n_items, self.taste_dims), "initializer": "zeros", "trainable": False}
            self.taste_embedding = self.add_weight(name="taste_embedding", **fixed)
            self.taste_output = self.add_weight(name="taste_output", **fixed)
            self.taste_log_scale = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="taste_log_scale"
            )

    def set_taste(self, embedding: Any, output: Any, *, scale: float | None = None) -> None:
        """Fix the taste columns (n_items x taste_dims each) and, given, the scale of their logits."""
        self.taste_embedding.assign(embedding)
        self.taste_output.assign(output)
        if scale is not None:
            self.taste_log_scale.assign(math.log(scale))

    @property
    def taste_scale(self) -> float:
        return math.exp(float(self.taste_log_scale.numpy()))

    def _pool(self, table: Any, weights: Any, inputs: dict[str, Any]) -> Any:
        gathered = ops.take(table, ops.cast(inputs["items"], "int32"), axis=0)
        rows = ops.cast(inputs["rows"], "int32")
        batch = ops.shape(inputs["row_mask"])[0]
        return ops.segment_sum(gathered * ops.expand_dims(weights, -1), rows, num_segments=batch)

    def call(self, inputs: dict[str, Any], training: bool = False) -> Any:
        recent = self._pool(self.item_embedding, inputs["weights"], inputs)
        recent_logits = ops.matmul(recent, ops.transpose(self.item_output))
        logits = (recent_logits if training else self.recent_mix * recent_logits) + self.item_bias
        if self.taste_dims:
            taste = self._pool(self.taste_embedding, inputs["taste_weights"], inputs)
            scale = ops.exp(self.taste_log_scale) * (1.0 if training else self.taste_mix)
            logits = logits + scale * ops.matmul(taste, ops.transpose(self.taste_output))
        return logits

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
