"""Training configuration: one frozen dataclass, stored verbatim in every artifact's metadata.json.

Defaults were chosen on a validation split carved from ml-100k's training part (each user's last 10
training ratings), never on the test split; docs/ML.md lists the measurements behind each choice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ml.history import HistoryWeighting


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes what `ml.train.train` produces. Same config + same data = same model."""

    seed: int = 42

    # --- ranking tower: user = linear map of their weighted rated items; score = user . item + bias
    embedding_dim: int = 64
    #: hidden tanh layers between the pooled history and the user vector; () = linear tower, which
    #: measured best and keeps `Scorer.explain` exact
    user_tower_layers: tuple[int, ...] = ()
    history: HistoryWeighting = field(default_factory=HistoryWeighting)
    #: share of a training user's input items dropped per example (denoising)
    input_dropout: float = 0.5
    #: share of training examples that reconstruct the whole history (denoising autoencoder); the
    #: rest split the history at a random point and predict the next `target_window` items from the
    #: earlier ones, which is what a temporal holdout asks for
    autoencoder_fraction: float = 0.3
    target_window: int = 10
    #: weight of a disliked (< like threshold) item as a training target; liked items weigh 1
    target_dislike_weight: float = 0.3
    #: training examples drawn per user and epoch (each with its own split point and dropout)
    samples_per_user: int = 4
    batch_size: int = 256
    learning_rate: float = 5e-3
    max_epochs: int = 40
    #: epochs without a better validation NDCG@10 before stopping (best weights are restored)
    patience: int = 3
    #: validation = each training user's last `validation_holdout` ratings (0 disables early stopping)
    validation_holdout: int = 10
    #: after early stopping, train on all ratings (validation included): the validation ratings are
    #: each user's most recent ones, the most informative targets for what comes next
    refit_on_full: bool = True
    #: refit epochs continuing from the early-stopped weights (cheap); 0 = retrain from scratch for
    #: the best epoch count
    refit_epochs: int = 4

    # --- rating head: mu + b_u + b_i + p_u . q_i, MSE with per-example L2 (biased MF)
    rating_dim: int = 64
    rating_l2: float = 0.1
    rating_bias_l2: float = 0.01
    rating_learning_rate: float = 0.01
    rating_batch_size: int = 8192
    rating_max_epochs: int = 60
    rating_patience: int = 3
    #: random share of training ratings held out to early-stop the rating head
    rating_validation_fraction: float = 0.05

    #: XLA-compile the ranking tower's train step (measured ~1.7x faster on CPU)
    jit_compile: bool = True
    #: the rating head's steps are tiny gathers; XLA's compile time costs more than it saves
    rating_jit_compile: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["user_tower_layers"] = list(self.user_tower_layers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of `to_dict`; unknown keys are rejected so a typo never passes silently."""
        data = dict(data)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "history" in data and isinstance(data["history"], dict):
            data["history"] = HistoryWeighting(**data["history"])
        if "user_tower_layers" in data:
            data["user_tower_layers"] = tuple(int(w) for w in data["user_tower_layers"])
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
