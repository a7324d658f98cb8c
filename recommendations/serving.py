"""The active model in this process, numpy only (web processes never import TensorFlow).

Used by the movie page and the API for similar movies and predicted stars. Every function degrades
to "no answer" when there is no model, the artifact is unreadable or the movie is unknown to it, and
callers then fall back (genre neighbours, no predicted stars).
"""

from __future__ import annotations

import logging

import numpy as np

from ml.score import Scorer

from . import modeling
from .data import ratings_as_arrays
from .models import ModelVersion

logger = logging.getLogger(__name__)


def active_scorer() -> Scorer | None:
    path = ModelVersion.objects.filter(is_active=True).values_list("artifact_path", flat=True).first()
    if path is None:
        return None
    try:
        return modeling.load_scorer(path)
    except modeling.ArtifactError:
        logger.exception("The active model cannot be loaded")
        return None


def similar_movie_ids(*, movie_id: int, n: int) -> list[int]:
    scorer = active_scorer()
    if scorer is None:
        return []
    try:
        ids, _ = scorer.similar_items(movie_id, n)
    except KeyError:  # a movie the model has never seen (added after the last retrain)
        return []
    return [int(i) for i in ids if i >= 0]


def predict_user_stars(*, user_id: int, movie_ids: list[int]) -> dict[int, float]:
    """Predicted stars of ``movie_ids`` for the user, from their current ratings (fold-in), rounded to
    the nearest half star's precision of one decimal. Empty without a model or without ratings."""
    scorer = active_scorer()
    if scorer is None or not movie_ids:
        return {}
    history = ratings_as_arrays(user_ids=[user_id])
    if len(history) == 0:
        return {}
    folded = scorer.fold_in(history.movies, history.ratings, history.timestamps)
    if folded.n_ratings == 0:
        return {}
    stars = scorer.predict_stars(folded, np.asarray(movie_ids, np.int64))
    return {int(m): round(float(s), 1) for m, s in zip(movie_ids, stars, strict=True) if np.isfinite(s)}
