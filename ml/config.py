"""Training configuration: one frozen dataclass, stored verbatim in every artifact's metadata.json.

Defaults were chosen on a validation split carved from ml-100k's training part (each user's last 10
training ratings), never on the test split; docs/ML.md lists the measurements behind each choice.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ml.history import HistoryWeighting


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes what `ml.train.train` produces. Same config + same data = same model."""

    seed: int = 42

    # --- ranking tower: user = linear map of their weighted rated items; score = user . item + bias
    embedding_dim: int = 64
    #: recent-context recency counts moments a minute apart, not clicks (order independence within
    #: one page of ratings), chosen on the validation split of ml-100k (docs/ML.md, round 5).
    #: `HistoryWeighting()`'s own defaults stay those of earlier artifacts, whose metadata does not
    #: name the new fields.
    history: HistoryWeighting = field(
        default_factory=lambda: HistoryWeighting(recency_floor=0.0, recency_window=60.0)
    )
    #: share of the user vector's columns that are order-free taste (`history.taste_dims`, set by
    #: `resolve` when the history does not fix it); 0 = one recency-weighted vector as before
    taste_share: float = 0.5
    #: the taste columns are a closed-form low-rank item-item model (`ml.taste_columns`): EASE's
    #: ridge `taste_l2` (chosen on the validation split among `taste_l2_candidates` when there is
    #: one; the trained model's config carries the choice), over the `taste_max_items` most-rated
    #: movies (the (movies x movies) inverse is O(movies^3) and 8 bytes per entry: 0.8 GB at 10k)
    taste_l2: float = 300.0
    taste_l2_candidates: tuple[float, ...] = (100.0, 300.0, 1000.0, 3000.0)
    taste_max_items: int = 10_000
    #: the ridge search solves each candidate on the Gram of the `taste_search_items` most-rated
    #: movies only (a slice; the chosen ridge is then solved once over `taste_max_items`): at ML-20M
    #: size a 10k-movie candidate costs ~40 s, a 4k one ~5 s, and both sizes chose the same ridge
    #: (docs/ML.md, "Scaling"). Data with fewer movies searches on all of them.
    taste_search_items: int = 4_000
    #: the refit solves the taste columns again on every rating below this many ratings; from it
    #: on, a refit that continues the validated tower keeps that tower's columns (at ML-20M size a
    #: second solve costs ~80 s and 1.6 GB at the retrain's memory peak, for the 7% of ratings the
    #: validation split held out, and the refit is one epoch)
    taste_refit_max_ratings: int = 2_000_000
    #: multipliers of the taste columns' logits tried on the validation split once the tower has
    #: learned its other columns (the best is kept): how much long-term taste should weigh against
    #: recent context and popularity depends on the data
    taste_emphasis_candidates: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    #: weights of the recent-context logits tried with each of those (0: the data's order adds only
    #: noise, e.g. synthetic tastes that never move)
    recent_weight_candidates: tuple[float, ...] = (1.0, 0.5, 0.0)
    #: recency floors tried on the validation split, each a full early-stopped fit of the ranking
    #: tower; the best validation NDCG@10 replaces `history.recency_floor` (the trained model's
    #: config carries it, serving uses it). How much old ratings should still count depends on the
    #: data: on ml-100k a floor of 0 beat 0.2 by +0.006 NDCG@10 on validation (16 of 16 seeds), on
    #: synthetic data without taste drift it lost a fifth (docs/ML.md, round 4). () or one value:
    #: no choice, `history.recency_floor` as configured (one fit)
    recency_floor_candidates: tuple[float, ...] = ()
    #: share of a training user's input items dropped per example (denoising)
    input_dropout: float = 0.5
    #: share of training examples that reconstruct the whole history (denoising autoencoder); the
    #: rest split the history at a random point and predict the next `target_window` items from the
    #: earlier ones, which is what a temporal holdout asks for
    autoencoder_fraction: float = 0.5
    #: denoising examples target only the dropped items (True) or the whole history (False)
    denoise_dropped_only: bool = True
    target_window: int = 10
    #: weight of a disliked (< like threshold) item as a training target; liked items weigh 1
    target_dislike_weight: float = 0.3
    #: training examples drawn per user and epoch (each with its own split point and dropout);
    #: 0 = automatic (`resolve`: 4 below 2M ratings, 2 from there on)
    samples_per_user: int = 0
    #: examples per step; 0 = automatic (`resolve`: 256 below 2M ratings, 2048 from there on)
    batch_size: int = 0
    learning_rate: float = 5e-3
    #: 0 = automatic (`resolve`: 40 below 2M ratings, 8 from there on; early stopping decides)
    max_epochs: int = 0
    #: epochs without a better validation NDCG@10 before stopping (best weights are restored)
    patience: int = 8
    #: validation = each training user's last `validation_holdout` ratings (0 disables early stopping)
    validation_holdout: int = 10
    #: "temporal": the validation ratings are each user's last ones (what comes next: the product's
    #: question); "random": random ones (long-term taste: what a random-holdout benchmark asks, so
    #: that the model is tuned on the same kind of question as a baseline is)
    validation_split: str = "temporal"
    #: users scored for validation each epoch at most (a seeded random subset beyond that)
    validation_users: int = 20_000
    #: users the one-off choices (the taste ridge, the mix) score at most: a seeded subset of the
    #: validation users. Candidates are compared on the same users (paired), so fewer suffice; at
    #: ML-20M size each scoring of 20k users over 27k movies costs 6-15 s and the mix grid has 18
    choice_users: int = 10_000
    #: after early stopping, train on all ratings (validation included): the validation ratings are
    #: each user's most recent ones, the most informative targets for what comes next
    refit_on_full: bool = True
    #: refit epochs continuing from the early-stopped weights (cheap); 0 = retrain from scratch for
    #: the best epoch count; -1 = automatic (`resolve`: 8 below 2M ratings, 1 from there on)
    refit_epochs: int = -1

    # --- rating head: mu + b_u + b_i + p_u . q_i, biased MF fitted by alternating least squares
    # (`ml.rating`); chosen on random 90/10 splits of ml-100k's benchmark training part (docs/ML.md)
    rating_dim: int = 64
    #: per-rating L2 (x the user's / item's rating count) on factors and biases: the objective that
    #: training and `Scorer.fold_in` both solve
    rating_l2: float = 0.1
    rating_bias_l2: float = 0.05
    #: ALS sweeps at most (one sweep: solve every item, then every user)
    rating_sweeps: int = 10
    #: sweeps without a better validation RMSE before stopping
    rating_patience: int = 2
    #: random share of training ratings held out to choose the sweep count
    rating_validation_fraction: float = 0.05
    #: then this many sweeps on all ratings (validation share included), warm-started from the best
    #: sweep; 0 keeps the head fitted without the validation share
    rating_refit_sweeps: int = 2

    #: XLA-compile the ranking tower's train step (measured ~1.7x faster on CPU)
    jit_compile: bool = True

    #: fields of earlier versions, accepted and ignored by `from_dict` (old artifacts' metadata and
    #: deployment overrides may still carry them): the Keras rating head's optimiser settings, and
    #: the options measured worse and removed (an MLP user tower, ensembles, a learned item-item
    #: term, a sampled softmax; their measurements are in docs/ML.md)
    RETIRED_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "rating_learning_rate",
            "rating_batch_size",
            "rating_max_epochs",
            "rating_jit_compile",
            "user_tower_layers",
            "ensemble_members",
            "item_item",
            "item_item_max_items",
            "item_item_l2",
            "softmax_samples",
            "full_softmax_max_items",
        }
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["recency_floor_candidates"] = list(self.recency_floor_candidates)
        data["taste_l2_candidates"] = list(self.taste_l2_candidates)
        data["taste_emphasis_candidates"] = list(self.taste_emphasis_candidates)
        data["recent_weight_candidates"] = list(self.recent_weight_candidates)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of `to_dict`; unknown keys are rejected so a typo never passes silently.

        Keys in `RETIRED_FIELDS` are dropped with a warning.
        """
        data = dict(data)
        retired = sorted(set(data) & cls.RETIRED_FIELDS)
        if retired:
            warnings.warn(f"ignoring retired config keys: {retired}", stacklevel=2)
            for key in retired:
                del data[key]
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "history" in data and isinstance(data["history"], dict):
            data["history"] = HistoryWeighting(**data["history"])
        if "recency_floor_candidates" in data:
            data["recency_floor_candidates"] = tuple(float(f) for f in data["recency_floor_candidates"])
        if "taste_l2_candidates" in data:
            data["taste_l2_candidates"] = tuple(float(f) for f in data["taste_l2_candidates"])
        if "taste_emphasis_candidates" in data:
            data["taste_emphasis_candidates"] = tuple(float(f) for f in data["taste_emphasis_candidates"])
        if "recent_weight_candidates" in data:
            data["recent_weight_candidates"] = tuple(float(f) for f in data["recent_weight_candidates"])
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def resolve(self, *, n_users: int, n_items: int, n_ratings: int) -> TrainConfig:
        """This config with every automatic (0) size fixed for a data set of this size.

        Small data (ml-100k-like, < 2M ratings): 4 examples per user and epoch in batches of 256,
        8 refit epochs: the settings tuned on ml-100k's validation split. Large data (ML-20M-like): 2 examples per
        user and epoch (an epoch is already 20M+ ratings' worth of targets) in batches of 2048,
        which keeps the full softmax's (batch x n_items) block in cache-friendly sizes and the
        per-step overhead negligible (docs/ML.md, "Scaling").
        """
        large = n_ratings >= 2_000_000
        changes: dict[str, Any] = {}
        if self.history.taste_dims == 0 and self.taste_share > 0:
            taste = min(max(round(self.taste_share * self.embedding_dim), 1), self.embedding_dim - 1)
            changes["history"] = dataclasses.replace(self.history, taste_dims=taste)
        if not 0 <= self.history.taste_dims < self.embedding_dim:
            raise ValueError(
                f"history.taste_dims must lie in [0, embedding_dim), got {self.history.taste_dims}"
            )
        if self.samples_per_user <= 0:
            changes["samples_per_user"] = 2 if large else 4
        if self.batch_size <= 0:
            changes["batch_size"] = 2048 if large else 256
        if self.refit_epochs < 0:
            changes["refit_epochs"] = 1 if large else 8
        if self.max_epochs <= 0:
            changes["max_epochs"] = 8 if large else 40
        return self.replace(**changes) if changes else self
