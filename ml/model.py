"""The Keras models: a ranking tower and a rating head. Importing this module imports TensorFlow.

Ranking tower (`build_ranker`), a two-tower NCF with a GMF (dot-product) head:
    user vector  u = tower(x @ E)       x = the user's weighted rated items, L2-normalised
    scores       s = u @ Q.T + b        over every item, trained with a full softmax
The user tower reads the user's rated items instead of looking up a free user embedding. That makes
fold-in exact (a new user's vector is the same function of their ratings, item parameters untouched)
and lets the same weights score users the model has never seen. With `user_tower_layers=()` (the
default, which measured best) the tower is linear and every score decomposes exactly into per-rated-
item contributions, which `ml.score.Scorer.explain` uses for "because you liked X".

Rating head (`build_rating_model`): biased matrix factorisation mu + b_u + b_i + p_u . q_i trained with
MSE and per-example L2, the predicted stars on a movie page.
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


def build_ranker(n_items: int, config: TrainConfig) -> keras.Model:
    """History (n_items weights, L2-normalised) -> logits over all items."""
    history = keras.Input(shape=(n_items,), name="history")
    hidden = keras.layers.Dense(config.embedding_dim, use_bias=False, name="item_embedding")(history)
    for i, width in enumerate(config.user_tower_layers):
        hidden = keras.layers.Dense(width, activation="tanh", name=f"user_tower_{i}")(hidden)
    if config.user_tower_layers:
        hidden = keras.layers.Dense(config.embedding_dim, name="user_vector")(hidden)
    logits = keras.layers.Dense(n_items, name="item_output")(hidden)
    return keras.Model(history, logits, name="ncf_ranker")


@keras.saving.register_keras_serializable(package=PACKAGE)
class BiasedMatrixFactorization(keras.layers.Layer):
    """mu + b_u + b_i + p_u . q_i with L2 on the rows a batch touches (SGD-style regularisation).

    Penalising only the touched rows, per example, regularises frequent users and items more in
    absolute terms and rare ones less, which is what classic biased-MF tuning assumes; a whole-table
    L2 would shrink rarely seen movies to nothing.
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
