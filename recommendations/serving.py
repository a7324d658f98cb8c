"""What a member is served: their picks (persisted list, else a fallback), similar movies and
predicted stars. Reads only; numpy only (web processes never import TensorFlow).

Every answer says where it came from (model version or fallback name) and when it was made, and
movies the member has rated or hidden since the list was computed are filtered out again here.
Model-backed extras degrade to "no answer" when there is no model, the artifact is unreadable or the
movie is unknown to it, and callers then fall back (genre neighbours, no predicted stars).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from django.db.models import QuerySet
from django.utils import timezone

from catalog.models import Movie
from ml.score import Scorer
from ratings.models import LIKED_RATING, Rating
from ratings.selectors import user_excluded_movie_ids

from . import ml_adapter, registry
from .lists import list_for_user
from .rating_arrays import ratings_as_arrays

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Pick:
    movie_id: int
    score: float
    reason: str
    because_movie_id: int | None = None


@dataclass(frozen=True)
class RecommendationSet:
    picks: list[Pick]
    source: str  # "model" or a fallback name: "popular", "popular-in-your-genres"
    model_version_id: int | None
    generated_at: dt.datetime
    personal: bool
    movies: dict[int, Movie] = field(default_factory=dict, compare=False)


def optional(what: str, compute: Callable[[], T], default: T) -> T:
    """A model-backed extra (similar movies, predicted stars) that fails is logged and left out: a
    page or an API answer is served without it, never not at all."""
    try:
        return compute()
    except Exception:
        logger.exception("Could not compute %s; answering without it", what)
        return default


# --- Picks ----------------------------------------------------------------------------------------------


def recommendations_for_user(
    *, user_id: int, n: int = 20, genre: str | None = None, decade: int | None = None
) -> RecommendationSet:
    """Up to ``n`` picks for ``user_id``, optionally only in ``genre`` and the ``decade`` (e.g. 1990)."""
    excluded = user_excluded_movie_ids(user_id=user_id)
    persisted = list_for_user(user_id=user_id)
    if persisted:
        allowed = _filter_movies(persisted.movie_ids, genre=genre, decade=decade)
        movies = Movie.objects.in_bulk(allowed)
        reasons = persisted.reasons
        because_titles = Movie.objects.in_bulk([int(v) for v in reasons.values()]) if reasons else {}
        picks = []
        for movie_id, score in zip(persisted.movie_ids, persisted.scores, strict=True):
            if movie_id in excluded or movie_id not in movies:
                continue
            because = reasons.get(movie_id)
            because_movie = because_titles.get(int(because)) if because else None
            reason = f"Because you liked {because_movie}" if because_movie else "Matches your taste"
            picks.append(Pick(movie_id, float(score), reason, because_movie.pk if because_movie else None))
            if len(picks) >= n:
                break
        if picks:
            return RecommendationSet(
                picks=picks,
                source="model",
                model_version_id=persisted.model_version_id,
                generated_at=persisted.generated_at,
                personal=True,
                movies=movies,
            )
    return _fallback(user_id=user_id, excluded=excluded, n=n, genre=genre, decade=decade)


def _movies_filtered(*, genre: str | None, decade: int | None) -> QuerySet[Movie]:
    movies = Movie.objects.all()
    if genre:
        movies = movies.filter(genres__name=genre)
    if decade is not None:
        movies = movies.filter(year__gte=decade, year__lt=decade + 10)
    return movies


def _filter_movies(movie_ids: list[int], *, genre: str | None, decade: int | None) -> list[int]:
    if not genre and decade is None:
        return movie_ids
    return list(
        _movies_filtered(genre=genre, decade=decade).filter(pk__in=movie_ids).values_list("pk", flat=True)
    )


def favourite_genres(*, user_id: int, limit: int = 3) -> list[str]:
    """The genres of the movies the member liked most often, most frequent first."""
    names = Rating.objects.filter(user_id=user_id, value__gte=LIKED_RATING).values_list(
        "movie__genres__name", flat=True
    )
    counts = Counter(name for name in names if name)
    return [name for name, _ in counts.most_common(limit)]


def _fallback(
    *, user_id: int, excluded: set[int], n: int, genre: str | None, decade: int | None
) -> RecommendationSet:
    """Popular movies the member has not seen: in the genres they like when they liked anything."""
    liked_genres = [] if genre else favourite_genres(user_id=user_id)
    movies = _movies_filtered(genre=genre, decade=decade).exclude(pk__in=excluded)
    if liked_genres:
        movies = movies.filter(genres__name__in=liked_genres).distinct()
        source, reason = "popular-in-your-genres", f"Popular in {', '.join(liked_genres)}, which you like"
    else:
        source, reason = "popular", "Popular with everyone" if not genre else f"Popular in {genre}"
    top = list(movies.order_by("-rating_count", "-rating_mean", "pk")[:n])
    picks = [Pick(m.pk, float(m.rating_count), reason) for m in top]
    return RecommendationSet(
        picks=picks,
        source=source,
        model_version_id=None,
        generated_at=timezone.now(),
        personal=bool(liked_genres),
        movies={m.pk: m for m in top},
    )


# --- The active model in this process -------------------------------------------------------------------


def active_scorer() -> Scorer | None:
    version = registry.active_version()
    if version is None:
        return None
    try:
        return ml_adapter.load_scorer(version.artifact_path)
    except ml_adapter.ArtifactError:
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


def movie_similar(*, movie_id: int, n: int = 10) -> list[Movie]:
    """Movies like ``movie_id``: from the active model's item representation when it knows the movie,
    else the most popular movies sharing its genres."""
    ids = similar_movie_ids(movie_id=movie_id, n=n)
    if ids:
        found = Movie.objects.in_bulk(ids)
        return [found[i] for i in ids if i in found]
    genres = Movie.objects.filter(pk=movie_id).values_list("genres", flat=True)
    return list(
        Movie.objects.filter(genres__in=[g for g in genres if g is not None])
        .exclude(pk=movie_id)
        .distinct()
        .order_by("-rating_count", "pk")[:n]
    )


def predicted_stars_many(*, user_id: int, movie_ids: list[int]) -> dict[int, float]:
    """Predicted stars of ``movie_ids`` for the member, from their current ratings (fold-in), to one
    decimal. Empty without a model or without ratings."""
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


def predicted_stars(*, user_id: int, movie_id: int) -> float | None:
    """The active model's predicted rating of ``movie_id`` for the member (None without a model)."""
    return predicted_stars_many(user_id=user_id, movie_ids=[movie_id]).get(movie_id)
