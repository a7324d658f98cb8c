"""Pages built around the model: home, the movie page and the picks page."""

import logging
from collections.abc import Callable
from typing import TypeVar

from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog.forms import MovieFilterForm
from catalog.models import Movie
from catalog.selectors import (
    genre_names,
    movie_decades,
    movie_onboarding_candidates,
    movie_popular,
    movie_top_rated,
)
from ratings.selectors import rating_count_for_user, user_movie_marks, user_not_to_ask_movie_ids

from .selectors import (
    RecommendationSet,
    movie_similar,
    predicted_stars,
    predicted_stars_many,
    recommendations_for_user,
)

logger = logging.getLogger(__name__)

ONBOARDING_GOAL = 5  # the same goal as ratings.views.onboarding
T = TypeVar("T")


def _optional(what: str, compute: Callable[[], T], default: T) -> T:
    """Model-backed extras (similar movies, predicted stars) must never take a page down."""
    try:
        return compute()
    except Exception:
        logger.exception("Could not compute %s; the page is served without it", what)
        return default


def _member_id(request: HttpRequest) -> int:
    """The logged-in member's id (callers check is_authenticated or login_required first)."""
    user_id = request.user.pk
    assert user_id is not None
    return int(user_id)


def _pick_cards(recs: RecommendationSet, *, user_id: int) -> list[dict[str, object]]:
    """The picks as cards, each with the stars the model predicts the member would give it."""
    movies = [recs.movies[p.movie_id] for p in recs.picks if p.movie_id in recs.movies]
    prefetch_related_objects(movies, "genres")
    no_stars: dict[int, float] = {}
    stars = _optional(
        "predicted stars",
        lambda: predicted_stars_many(user_id=user_id, movie_ids=[m.pk for m in movies]),
        no_stars,
    )
    return [
        {"movie": recs.movies[p.movie_id], "pick": p, "predicted": stars.get(p.movie_id)}
        for p in recs.picks
        if p.movie_id in recs.movies
    ]


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        visitor = {"popular": movie_popular(limit=12), "top_rated": movie_top_rated(limit=12)}
        return render(request, "recommendations/home_visitor.html", visitor)
    user_id = _member_id(request)
    recs = recommendations_for_user(user_id=user_id, n=12)
    cards = _pick_cards(recs, user_id=user_id)
    excluded = user_not_to_ask_movie_ids(user_id=user_id) | {p.movie_id for p in recs.picks}
    rate_more = movie_onboarding_candidates(exclude_ids=excluded, limit=6)
    count = rating_count_for_user(user_id=user_id)
    context: dict[str, object] = {
        "recs": recs,
        "cards": cards,
        "rate_more": rate_more,
        "rating_count": count,
        "remaining": max(ONBOARDING_GOAL - count, 0),
        "marks": user_movie_marks(user_id=user_id, movie_ids=[m.pk for m in rate_more]),
        "pick_marks": user_movie_marks(user_id=user_id, movie_ids=[p.movie_id for p in recs.picks]),
    }
    return render(request, "recommendations/home_member.html", context)


@login_required
def picks(request: HttpRequest) -> HttpResponse:
    user_id = _member_id(request)
    form = MovieFilterForm(request.GET or None, genres=genre_names(), decades=movie_decades())
    filters = form.filters()
    recs = recommendations_for_user(user_id=user_id, n=48, genre=filters["genre"], decade=filters["decade"])
    context: dict[str, object] = {
        "form": form,
        "filters": filters,
        "recs": recs,
        "cards": _pick_cards(recs, user_id=user_id),
        "marks": user_movie_marks(user_id=user_id, movie_ids=[p.movie_id for p in recs.picks]),
        "rating_count": rating_count_for_user(user_id=user_id),
        "goal": ONBOARDING_GOAL,
    }
    return render(request, "recommendations/picks.html", context)


def movie_detail(request: HttpRequest, movie_id: int) -> HttpResponse:
    movie = get_object_or_404(Movie.objects.prefetch_related("genres"), pk=movie_id)
    user_id = request.user.pk if request.user.is_authenticated else None
    no_movies: list[Movie] = []
    similar = _optional("similar movies", lambda: movie_similar(movie_id=movie.pk, n=8), no_movies)
    prefetch_related_objects(similar, "genres")
    predicted = None
    if user_id is not None:
        predicted = _optional(
            "predicted stars", lambda: predicted_stars(user_id=user_id, movie_id=movie.pk), None
        )
    marks = user_movie_marks(user_id=user_id, movie_ids=[movie.pk, *(m.pk for m in similar)])
    context = {
        "movie": movie,
        "decade": movie.year - movie.year % 10 if movie.year else None,
        "your_rating": marks.ratings.get(movie.pk),
        "hidden": movie.pk in marks.hidden,
        "on_watchlist": movie.pk in marks.watchlist,
        "predicted": predicted,
        "similar": similar,
        "marks": marks,
    }
    return render(request, "recommendations/movie_detail.html", context)
