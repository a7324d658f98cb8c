"""The Keras models: a ranking tower and a rating head. Importing this module imports TensorFlow.

Ranking tower (`build_ranker`, `HistoryRanker`), a two-tower NCF with a GMF (dot-product) head:
    user vector  u = tower(x @ E)       x = the user's weighted rated items, L2-normalised, read
                                        sparsely (gather + segment sum, never a dense multi-hot)
    scores       s = u @ Q.T + b        over every item, trained with a full softmax
The user tower reads the user's rated items instead of looking up a free user embedding. That makes
fold-in exact (a new user's vector is the same function of their ratings, item parameters untouched)
and lets the same weights score users the model has never seen. With `user_tower_layers=()` (the
default, which measured best) the tower is linear and every score decomposes exactly into per-rated-
item contributions, which `ml.score.Scorer.explain` uses for "because you liked X".

Rating head (`build_rating_model`): biased matrix factorisation mu + b_u + b_i + p_u . q_i, the
predicted stars on a movie page. Its parameters are fitted by alternating least squares in
`ml.rating` (numpy) and copied into this model, which the artifact stores as rating.keras.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ml.config import TrainConfig

PACKAGE = "ml"


@keras.saving.register_keras_serializable(package=PACKAGE)
def multinomial_nll(targets: Any, logits: Any) -> Any:
    """Cross-entropy of the softmax over all items against a weighted target set (rows sum to any >0).

    Full softmax rather than a few sampled negatives: every item competes for the probability mass,
    which is what a full-ranking metric measures (Rendle et al. 2020; Liang et al. 2018).
    """
    log_probs = ops.log_softmax(logits, axis=-1)
    mass = ops.maximum(ops.sum(targets, axis=-1), 1e-6)
    return -ops.sum(targets * log_probs, axis=-1) / mass


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
    pooled = segment_sum(weights * E[items], rows); user = tower(pooled); logits = user @ Q.T + b.
    `members` > 1 trains that many independent towers side by side (an ensemble: separate
    parameters and softmaxes, shared batches); serving averages their logits, which collapses into
    one tower of width members x embedding_dim (`ml.train.ranker_arrays`).
    """

    def __init__(
        self,
        n_items: int,
        embedding_dim: int,
        tower_layers: tuple[int, ...] | list[int] = (),
        members: int = 1,
        item_item: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_items, self.embedding_dim, self.members = int(n_items), int(embedding_dim), int(members)
        self.item_item = bool(item_item)
        self.tower_layers = tuple(int(w) for w in tower_layers)
        if self.tower_layers and self.members != 1:
            raise ValueError("an ensemble (members > 1) needs the linear tower")
        width = self.embedding_dim * self.members
        self.item_embedding = self.add_weight(
            shape=(self.n_items, width), initializer="glorot_uniform", name="item_embedding"
        )
        self.item_output = self.add_weight(
            shape=(self.n_items, width), initializer="glorot_uniform", name="item_output"
        )
        self.item_bias = self.add_weight(
            shape=(self.members, self.n_items), initializer="zeros", name="item_bias"
        )
        if self.item_item:
            if self.tower_layers:
                raise ValueError("the item-item term needs the linear tower")
            # W[j, i]: how much having rated j raises item i; the diagonal is masked to 0
            self.item_item_weights = self.add_weight(
                shape=(self.n_items, self.n_items), initializer="zeros", name="item_item"
            )
        self.tower = [
            keras.layers.Dense(w, activation="tanh", name=f"user_tower_{i}")
            for i, w in enumerate(self.tower_layers)
        ]
        if self.tower_layers:
            self.tower.append(keras.layers.Dense(self.embedding_dim, name="user_vector"))

    def pool(self, inputs: dict[str, Any]) -> Any:
        rows = ops.cast(inputs["rows"], "int32")
        gathered = ops.take(self.item_embedding, ops.cast(inputs["items"], "int32"), axis=0)
        weighted = gathered * ops.expand_dims(inputs["weights"], -1)
        return ops.segment_sum(weighted, rows, num_segments=ops.shape(inputs["row_mask"])[0])

    def masked_item_item(self) -> Any:
        """W with a zero diagonal (an item never explains itself; the denoising targets include the inputs)."""
        return self.item_item_weights * (1.0 - ops.eye(self.n_items, dtype=self.item_item_weights.dtype))

    def item_item_logits(self, inputs: dict[str, Any]) -> Any:
        """x @ W for the sparse weighted histories x: gather W's rows of the rated items, segment-sum."""
        rows = ops.cast(inputs["rows"], "int32")
        gathered = ops.take(self.masked_item_item(), ops.cast(inputs["items"], "int32"), axis=0)
        weighted = gathered * ops.expand_dims(inputs["weights"], -1)
        return ops.segment_sum(weighted, rows, num_segments=ops.shape(inputs["row_mask"])[0])

    def member_logits(self, inputs: dict[str, Any]) -> list[Any]:
        """Logits of each ensemble member, (batch, n_items) each (the item-item term is shared)."""
        hidden = self.pool(inputs)
        for layer in self.tower:
            hidden = layer(hidden)
        d = self.embedding_dim
        shared = self.item_item_logits(inputs) if self.item_item else 0.0
        return [
            ops.matmul(
                hidden[:, m * d : (m + 1) * d], ops.transpose(self.item_output[:, m * d : (m + 1) * d])
            )
            + self.item_bias[m]
            + shared
            for m in range(self.members)
        ]

    def call(self, inputs: dict[str, Any]) -> Any:
        logits = self.member_logits(inputs)
        return logits[0] if self.members == 1 else ops.mean(ops.stack(logits), axis=0)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_items": self.n_items,
            "embedding_dim": self.embedding_dim,
            "tower_layers": list(self.tower_layers),
            "members": self.members,
            "item_item": self.item_item,
        }


def sparse_inputs(dense: Any) -> dict[str, Any]:
    """The ranker's flat inputs from dense (rows x n_items) history weights (tests, inspection)."""
    import numpy as np

    dense = np.asarray(dense, np.float32)
    rows, items = np.nonzero(dense)
    return {
        "items": items.astype(np.int32),
        "weights": dense[rows, items].astype(np.float32),
        "rows": rows.astype(np.int32),
        "row_mask": np.ones(dense.shape[0], np.float32),
    }


def build_ranker(n_items: int, config: TrainConfig) -> HistoryRanker:
    """The ranking tower for `n_items` items as `config` describes it."""
    model = HistoryRanker(
        n_items,
        config.embedding_dim,
        config.user_tower_layers,
        members=config.ensemble_members,
        item_item=config.item_item_enabled(n_items),
        name="ncf_ranker",
    )
    model(sparse_inputs([[0.0] * n_items]))  # build the tower's Dense layers
    return model


@keras.saving.register_keras_serializable(package=PACKAGE)
class BiasedMatrixFactorization(keras.layers.Layer):
    """mu + b_u + b_i + p_u . q_i with L2 on the rows a batch touches (SGD-style regularisation).

    Penalising only the touched rows, per example, regularises frequent users and items more in
    absolute terms and rare ones less, which is what classic biased-MF tuning assumes; a whole-table
    L2 would shrink rarely seen movies to nothing. Summed over the data this is the objective
    `ml.rating` minimises in closed form (ALS-WR), which is how the product fits it; the training
    loss here stays for experiments with gradient training.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        l2: float,
        bias_l2: float,
        global_mean: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.dim = n_users, n_items, dim
        self.l2, self.bias_l2, self.global_mean = l2, bias_l2, global_mean
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.user_factors = self.add_weight(shape=(n_users, dim), initializer=init, name="user_factors")
        self.item_factors = self.add_weight(shape=(n_items, dim), initializer=init, name="item_factors")
        self.user_bias = self.add_weight(shape=(n_users,), initializer="zeros", name="user_bias")
        self.item_bias = self.add_weight(shape=(n_items,), initializer="zeros", name="item_bias")

    def call(self, user: Any, item: Any, training: bool | None = None) -> Any:
        user = ops.cast(ops.reshape(user, (-1,)), "int32")
        item = ops.cast(ops.reshape(item, (-1,)), "int32")
        p = ops.take(self.user_factors, user, axis=0)
        q = ops.take(self.item_factors, item, axis=0)
        bu = ops.take(self.user_bias, user, axis=0)
        bi = ops.take(self.item_bias, item, axis=0)
        if training:
            penalty = self.l2 * ops.mean(ops.sum(p * p, axis=1) + ops.sum(q * q, axis=1))
            self.add_loss(penalty + self.bias_l2 * ops.mean(bu * bu + bi * bi))
        return self.global_mean + bu + bi + ops.sum(p * q, axis=1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            n_users=self.n_users,
            n_items=self.n_items,
            dim=self.dim,
            l2=self.l2,
            bias_l2=self.bias_l2,
            global_mean=self.global_mean,
        )
        return config


def build_rating_model(n_users: int, n_items: int, config: TrainConfig, global_mean: float) -> keras.Model:
    """(user index, item index) -> predicted stars (unclipped; the scorer clips to the rating range)."""
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    stars = BiasedMatrixFactorization(
        n_users,
        n_items,
        config.rating_dim,
        config.rating_l2,
        config.rating_bias_l2,
        float(global_mean),
        name="biased_mf",
    )(user, item)
    return keras.Model({"user": user, "item": item}, stars, name="ncf_rating_head")
