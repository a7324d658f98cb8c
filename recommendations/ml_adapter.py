"""The Django side's one doorway into `ml`: database arrays in, trained models, metrics and scorers out.

`train` imports TensorFlow lazily (inside the function), so importing this module,
loading a scorer and scoring stay numpy-only: web processes use `load_scorer` and `user_vectors`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from ml.artifacts import data_fingerprint, save_artifact
from ml.artifacts import load_scorer as _load_scorer
from ml.config import TrainConfig
from ml.evaluate import ranking_metrics, rmse, temporal_holdout
from ml.history import build_rows
from ml.score import Scorer
from ratings.models import LIKED_RATING

from .rating_arrays import RatingArrays

if TYPE_CHECKING:
    from ml.train import TrainResult

RANKING_K = 10

# How ml.train's phases share the training part of the progress bar.
_TRAIN_PHASES = {"prepare": (0.0, 0.02), "ranking": (0.02, 0.45), "ranking_refit": (0.45, 0.75),
                 "rating": (0.75, 0.97), "export": (0.97, 1.0)}  # fmt: skip


class TrainingError(Exception):
    """Training cannot proceed (no data, bad configuration): a clear message for the run's record."""


class ArtifactError(Exception):
    """A model artifact is missing, incomplete or of an unknown format."""


@dataclass(frozen=True)
class Split:
    train: RatingArrays
    test: RatingArrays


@dataclass
class Trained:
    result: TrainResult
    scorer: Scorer
    validation_metrics: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)


def fingerprint(data: RatingArrays) -> str:
    return data_fingerprint(data.users, data.movies, data.ratings, data.timestamps)


def _subset(data: RatingArrays, mask: np.ndarray) -> RatingArrays:
    return RatingArrays(
        users=data.users[mask],
        movies=data.movies[mask],
        ratings=data.ratings[mask],
        timestamps=data.timestamps[mask],
    )


def split(data: RatingArrays, *, holdout: int) -> Split:
    """Each user's last ``holdout`` ratings by time are the test split (users with too few stay in train)."""
    _, dense_users = np.unique(data.users, return_inverse=True)
    test_mask = temporal_holdout(dense_users, data.timestamps, holdout=holdout, min_train=max(holdout, 1))
    return Split(train=_subset(data, ~test_mask), test=_subset(data, test_mask))


def train_config() -> TrainConfig:
    """The production TrainConfig, with overrides from settings.RECOMMENDATIONS["TRAIN_CONFIG"]."""
    overrides = settings.RECOMMENDATIONS.get("TRAIN_CONFIG") or {}
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **overrides})


def train(data: RatingArrays, *, progress: Callable[[float], None] | None = None) -> Trained:
    # TensorFlow's C++ start-up chatter would drown the run's log; warnings and errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ml.train import train as ml_train  # imports TensorFlow: only the training worker does

    if len(data) == 0:
        raise TrainingError("There are no ratings to train on.")

    def on_progress(phase: str, fraction: float, metrics: dict[str, Any]) -> None:
        if progress and phase in _TRAIN_PHASES:
            start, end = _TRAIN_PHASES[phase]
            progress(start + (end - start) * fraction)

    config = train_config()
    result = ml_train(
        data.users, data.movies, data.ratings, data.timestamps, config=config, progress=on_progress
    )
    validation = {k: v for k, v in result.metrics.items() if k.startswith(("val_", "rating_val"))}
    validation.update(
        {k: result.metrics[k] for k in ("train_seconds", "examples_per_second") if k in result.metrics}
    )
    return Trained(
        result=result, scorer=result.scorer, validation_metrics=validation, config=config.to_dict()
    )


def user_vectors(scorer: Scorer, histories: RatingArrays) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, ranking vectors) from each user's history, exactly as training encodes users.

    Works for users the model has never seen (fold-in); items it does not know are ignored.
    """
    user_ids, dense_users = np.unique(histories.users, return_inverse=True)
    item_idx, known = scorer.items.lookup(histories.movies)
    rows = build_rows(
        dense_users[known],
        item_idx[known],
        histories.ratings[known],
        histories.timestamps[known],
        n_rows=len(user_ids),
        n_cols=len(scorer.items),
        recency_window=scorer.weighting.recency_window,
    )
    return user_ids, scorer.encode_rows(rows)


@dataclass(frozen=True)
class RatingParts:
    """The rating head's user parts of many users (rows in `user_vectors`' order): what their predicted
    stars are made of."""

    factors: np.ndarray  # (users, rating_dim) p_u
    biases: np.ndarray  # (users,) b_u
    known: np.ndarray  # (users,) bool: rated a movie the model knows (else: no stars to show)


def user_rating_parts(scorer: Scorer, histories: RatingArrays) -> RatingParts | None:
    """(p_u, b_u) of each user in ``histories`` (sorted by user), each exactly what `Scorer.fold_in`
    gives that user alone. None for a model without a star head."""
    if not scorer.has_stars:
        return None
    user_ids, dense_users = np.unique(histories.users, return_inverse=True)
    factors, biases, known_ratings = scorer.fold_in_rating_parts(
        dense_users, histories.movies, histories.ratings, n_users=len(user_ids)
    )
    return RatingParts(factors=factors, biases=biases, known=known_ratings > 0)


def list_stars(
    scorer: Scorer, parts: RatingParts | None, n: int, *, exclude: list[np.ndarray]
) -> np.ndarray | None:
    """The stars beside each user's top-n (`Scorer.list_stars`), NaN where there is none to show;
    None without a star head."""
    if parts is None:
        return None
    stars = scorer.list_stars_of(parts.factors, parts.biases, n, exclude=exclude)
    stars[~parts.known] = np.nan
    return stars


def evaluate(scorer: Scorer, data: Split) -> dict[str, float]:
    """Full-ranking metrics on the test split (relevant = rated >= 4), user vectors from train histories;
    plus RMSE/MAE of predicted stars on the test ratings the model can score."""
    test = data.test
    liked = test.ratings >= LIKED_RATING
    eval_users = np.unique(test.users[liked])
    in_train = np.isin(data.train.users, eval_users)
    user_ids, vectors = user_vectors(scorer, _subset(data.train, in_train))
    has_history = np.isin(eval_users, user_ids)
    eval_users = eval_users[has_history]
    if len(eval_users) == 0:
        return {}
    position = np.searchsorted(user_ids, eval_users)
    vectors = vectors[position]
    exclude = _group(eval_users, data.train.users[in_train], data.train.movies[in_train])
    top = scorer.recommend_vectors(vectors, RANKING_K, exclude=exclude).items
    relevant = _group(eval_users, test.users[liked], test.movies[liked])
    metrics = ranking_metrics(top, relevant, k=RANKING_K, n_items=len(scorer.items))
    out = {
        f"recall@{RANKING_K}": metrics["recall"],
        f"ndcg@{RANKING_K}": metrics["ndcg"],
        f"hr@{RANKING_K}": metrics["hr"],
        "coverage": metrics["coverage"],
        "users": float(metrics["users"]),
    }
    uidx, uknown = scorer.users.lookup(test.users)
    iidx, iknown = scorer.items.lookup(test.movies)
    both = uknown & iknown
    if both.any():
        predicted = scorer.predict_pairs(uidx[both], iidx[both])
        out["rmse"] = rmse(predicted, test.ratings[both])
        out["mae"] = float(np.mean(np.abs(predicted - test.ratings[both])))
    return out


def _group(keys: np.ndarray, users: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    """values of each user in ``keys`` (sorted), via one sort: O(n log n), not O(users x n)."""
    order = np.argsort(users, kind="stable")
    sorted_users, sorted_values = users[order], values[order]
    starts = np.searchsorted(sorted_users, keys, side="left")
    ends = np.searchsorted(sorted_users, keys, side="right")
    return [sorted_values[a:b] for a, b in zip(starts, ends, strict=True)]


def save(trained: Trained, directory: Path, *, fingerprint: str, metrics: dict[str, Any]) -> Path:
    """Write the artifact atomically (temporary directory, then rename), with the registry's metrics."""
    trained.result.metrics = {
        **trained.result.metrics,
        "registry": metrics,
        "database_fingerprint": fingerprint,
    }
    try:
        return save_artifact(trained.result, directory)
    except OSError as exc:
        raise ArtifactError(f"Could not write the model to {directory}: {exc}") from exc


@functools.lru_cache(maxsize=2)
def _cached_scorer(path: str, mtime_ns: int) -> Scorer:
    return _load_scorer(path)


def load_scorer(path: str | Path) -> Scorer:
    """The numpy scorer of an artifact, loaded once per process (keyed by path and modification time)."""
    try:
        return _cached_scorer(str(path), Path(path).stat().st_mtime_ns)
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"Cannot load the model at {path}: {exc}") from exc
