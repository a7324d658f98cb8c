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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from catalog.models import Movie
from catalog.selectors import MovieCard, movie_cards, movies_with_genre_names
from ml.score import Scorer
from ratings.models import LIKED_RATING, Rating
from ratings.selectors import member_history, user_excluded_movie_ids, user_hidden_ids

from . import ml_adapter, registry
from .fields import stars_tenths
from .lists import PersistedList, list_for_user

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
    #: The picks' movies and the movies that explain them: Movie instances, or with ``cards=True``
    #: the shared, immutable `catalog.selectors.MovieCard`s.
    movies: dict[int, Any] = field(default_factory=dict, compare=False)
    #: The stars stored with the member's list for these picks (absent: none to show); None when the
    #: set has no stored stars (a fallback, a model without a star head, a list stored before lists
    #: kept their stars). `pick_stars` reads them.
    stars: dict[int, float] | None = None


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
    *,
    user_id: int,
    n: int = 20,
    genre: str | None = None,
    decade: int | None = None,
    cards: bool = False,
) -> RecommendationSet:
    """Up to ``n`` picks for ``user_id``, optionally only in ``genre`` and the ``decade`` (e.g. 1990).

    The picks' movies and the movies that explain them are read in one query, with their genres
    (`catalog.selectors.movies_with_genre_names`); with ``cards`` they are this process's movie cards
    instead (`catalog.selectors.movie_cards`, at most ``MOVIE_CARDS_SECONDS`` old: usually no query at
    all), for callers that only render cards.
    """
    load = _cards if cards else _movies
    excluded = user_excluded_movie_ids(user_id=user_id)
    persisted = list_for_user(user_id=user_id)
    if persisted:
        scores = dict(zip(persisted.movie_ids, persisted.scores, strict=True))
        candidates = [m for m in persisted.movie_ids if m not in excluded]
        filtered = bool(genre) or decade is not None
        movies = _movies_and_reasons(load, candidates if filtered else candidates[:n], persisted.reasons)
        if not filtered and len(candidates) > n and sum(m in movies for m in candidates[:n]) < n:
            # some picks were deleted from the catalogue since the list was made: read the rest too
            movies.update(_movies_and_reasons(load, candidates[n:], persisted.reasons))
        picks = []
        for movie_id in candidates:
            movie = movies.get(movie_id)
            if movie is None or not _matches(movie, genre=genre, decade=decade):
                continue
            because = persisted.reasons.get(movie_id)
            because_movie = movies.get(int(because)) if because else None
            reason = f"Because you liked {because_movie}" if because_movie else "Matches your taste"
            picks.append(
                Pick(movie_id, float(scores[movie_id]), reason, because_movie.pk if because_movie else None)
            )
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
                stars=_stored_stars(persisted, picks),
            )
    return _fallback(user_id=user_id, excluded=excluded, n=n, genre=genre, decade=decade, load=load)


_Loader = Callable[[list[int]], dict[int, Any]]


def _stored_stars(persisted: PersistedList, picks: list[Pick]) -> dict[int, float] | None:
    """The stars stored with the list for ``picks`` (None when the list has none stored)."""
    by_movie = persisted.stars_by_movie()
    if by_movie is None:
        return None
    return {p.movie_id: stars for p in picks if (stars := by_movie[p.movie_id]) is not None}


def pick_stars(*, user_id: int, recs: RecommendationSet) -> dict[int, float]:
    """The stars beside each pick: the ones computed with the member's list and stored with it (so they
    follow its order: `ml.score.Scorer.list_stars`), else the model's prediction now
    (`predicted_stars_many`: the same notion, from the member's current ratings). {} when the model
    cannot answer."""
    if recs.stars is not None:
        return recs.stars
    no_stars: dict[int, float] = {}
    return optional(
        "predicted stars",
        lambda: predicted_stars_many(user_id=user_id, movie_ids=[p.movie_id for p in recs.picks]),
        no_stars,
    )


def _movies(movie_ids: list[int]) -> dict[int, Any]:
    return movies_with_genre_names(movie_ids=movie_ids)


def _cards(movie_ids: list[int]) -> dict[int, Any]:
    return movie_cards(movie_ids=movie_ids, max_age=settings.RECOMMENDATIONS["MOVIE_CARDS_SECONDS"])


def _movies_and_reasons(load: _Loader, movie_ids: list[int], reasons: dict[int, int]) -> dict[int, Any]:
    because = [int(reasons[m]) for m in movie_ids if m in reasons]
    return load([*movie_ids, *because])


def _matches(movie: Movie | MovieCard, *, genre: str | None, decade: int | None) -> bool:
    if genre and genre not in movie.genre_names:  # type: ignore[union-attr]
        return False
    return decade is None or (movie.year is not None and decade <= movie.year < decade + 10)


def _movies_filtered(*, genre: str | None, decade: int | None) -> QuerySet[Movie]:
    movies = Movie.objects.all()
    if genre:
        movies = movies.filter(genres__name=genre)
    if decade is not None:
        movies = movies.filter(year__gte=decade, year__lt=decade + 10)
    return movies


def favourite_genres(*, user_id: int, limit: int = 3) -> list[str]:
    """The genres of the movies the member liked most often, most frequent first."""
    names = Rating.objects.filter(user_id=user_id, value__gte=LIKED_RATING).values_list(
        "movie__genres__name", flat=True
    )
    counts = Counter(name for name in names if name)
    return [name for name, _ in counts.most_common(limit)]


def _fallback(
    *, user_id: int, excluded: set[int], n: int, genre: str | None, decade: int | None, load: _Loader
) -> RecommendationSet:
    """Popular movies the member has not seen: in the genres they like when they liked anything."""
    liked_genres = [] if genre else favourite_genres(user_id=user_id)
    movies = _movies_filtered(genre=genre, decade=decade).exclude(pk__in=excluded)
    if liked_genres:
        movies = movies.filter(genres__name__in=liked_genres).distinct()
        source, reason = "popular-in-your-genres", f"Popular in {', '.join(liked_genres)}, which you like"
    else:
        source, reason = "popular", "Popular with everyone" if not genre else f"Popular in {genre}"
    top = list(movies.order_by("-rating_count", "-rating_mean", "pk").values_list("pk", flat=True)[:n])
    found = load(top)
    picks = [Pick(pk, float(found[pk].rating_count), reason) for pk in top if pk in found]
    return RecommendationSet(
        picks=picks,
        source=source,
        model_version_id=None,
        generated_at=timezone.now(),
        personal=bool(liked_genres),
        movies=found,
    )


# --- The active model in this process -------------------------------------------------------------------


def active_scorer() -> Scorer | None:
    return _scorer_of(registry.active_version_ref())


def _scorer_of(version: registry.VersionRef | None) -> Scorer | None:
    if version is None:
        return None
    try:
        return ml_adapter.load_scorer(version.artifact_path)
    except ml_adapter.ArtifactError:
        logger.exception("The active model cannot be loaded")
        return None


def similar_movie_ids(*, movie_id: int, n: int, exclude: Iterable[int] = ()) -> list[int]:
    """The model's companions of ``movie_id`` (what members who liked it go on to like), never one of
    ``exclude``; [] without a model or for a movie it does not know."""
    scorer = active_scorer()
    if scorer is None:
        return []
    try:
        ids, _ = scorer.similar_items(movie_id, n, exclude=np.fromiter(exclude, np.int64))
    except KeyError:  # a movie the model has never seen (added after the last retrain)
        return []
    return [int(i) for i in ids if i >= 0]


def movie_similar(*, movie_id: int, n: int = 10, user_id: int | None = None) -> list[Movie]:
    """Movies like ``movie_id``: the active model's companions when it knows the movie, else the most
    popular movies sharing its genres. Never a movie the member (``user_id``) said they are not
    interested in; movies they rated may appear (pages show their own rating)."""
    hidden = user_hidden_ids(user_id=user_id) if user_id is not None else set()
    ids = similar_movie_ids(movie_id=movie_id, n=n, exclude=hidden)
    if ids:
        found = Movie.objects.in_bulk(ids)
        return [found[i] for i in ids if i in found]
    genres = Movie.objects.filter(pk=movie_id).values_list("genres", flat=True)
    return list(
        Movie.objects.filter(genres__in=[g for g in genres if g is not None])
        .exclude(pk=movie_id)
        .exclude(pk__in=hidden)
        .distinct()
        .order_by("-rating_count", "pk")[:n]
    )


def predicted_stars_many(*, user_id: int, movie_ids: list[int]) -> dict[int, float]:
    """The stars the model says the member would give ``movie_ids``, to one decimal: one notion with the
    order of their picks (`ml.score.Scorer.stars`: a movie that would be their k-th pick shows the
    k-th highest star prediction among the movies they have not rated or hidden), so stars never rise
    down a list and a movie shows the same stars on a pick card, a list card and its page. A movie in
    the member's list (the active version's) shows the stars stored with it, so the two agree by
    construction; the others are computed from the member's current ratings (fold-in). Empty without
    a model, for a model without a star head, or without ratings."""
    version = registry.active_version_ref()
    scorer = _scorer_of(version)
    if version is None or scorer is None or not scorer.has_stars or not movie_ids:
        return {}
    listed = _listed_stars(user_id=user_id, version_id=version.pk)
    out = {m: stars for m in movie_ids if m in listed and (stars := listed[m]) is not None}
    rest = [m for m in movie_ids if m not in listed]
    if rest:
        out.update(_stars_now(scorer, user_id=user_id, movie_ids=rest))
    return out


def _listed_stars(*, user_id: int, version_id: int) -> dict[int, float | None]:
    """{movie id: stars stored with it} for the movies of the member's list of ``version_id`` (None: the
    model has no stars for it); {} when that list has no stars stored."""
    persisted = list_for_user(user_id=user_id)
    if persisted is None or persisted.model_version_id != version_id:
        return {}
    return persisted.stars_by_movie() or {}


def _stars_now(scorer: Scorer, *, user_id: int, movie_ids: list[int]) -> dict[int, float]:
    """`Scorer.stars` on the member's fold-in of their current ratings, to one decimal."""
    history = member_history(user_id=user_id)
    if len(history) == 0:
        return {}
    folded = scorer.fold_in(history.movies, history.ratings, history.timestamps)
    if folded.n_ratings == 0:
        return {}
    excluded = np.fromiter(history.excluded, np.int64)
    tenths = stars_tenths(scorer.stars(folded, np.asarray(movie_ids, np.int64), exclude=excluded))
    return {int(m): t / 10 for m, t in zip(movie_ids, tenths.tolist(), strict=True) if t}


def predicted_stars(*, user_id: int, movie_id: int) -> float | None:
    """The active model's predicted rating of ``movie_id`` for the member (None without a model)."""
    return predicted_stars_many(user_id=user_id, movie_ids=[movie_id]).get(movie_id)
