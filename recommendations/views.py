"""Pages that compose the catalogue, the member's marks and the model: home, browse and search, the
movie page and the picks page."""

import logging

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.members import member_id
from catalog.forms import MovieFilterForm, MovieSearchForm
from catalog.models import Movie
from catalog.selectors import (
    genre_names,
    movie_decades,
    movie_onboarding_candidates,
    movie_popular,
    movie_search,
    movie_search_hints,
    movie_top_rated,
)
from ratings.models import ONBOARDING_GOAL
from ratings.selectors import rating_count_for_user, user_movie_marks, user_not_to_ask_movie_ids

from . import serving

logger = logging.getLogger(__name__)


def _pick_cards(recs: serving.RecommendationSet, *, user_id: int) -> list[dict[str, object]]:
    """The picks as cards, each with the stars the model predicts the member would give it."""
    movies = [recs.movies[p.movie_id] for p in recs.picks if p.movie_id in recs.movies]
    prefetch_related_objects(movies, "genres")
    stars = serving.pick_stars(user_id=user_id, recs=recs)
    return [
        {"movie": recs.movies[p.movie_id], "pick": p, "predicted": stars.get(p.movie_id)}
        for p in recs.picks
        if p.movie_id in recs.movies
    ]


#: Movies per page when browsing or searching.
PAGE_SIZE = 24


def movie_list(request: HttpRequest) -> HttpResponse:
    """Browse and search, with the member's marks on every card."""
    form = MovieSearchForm(request.GET or None, genres=genre_names(), decades=movie_decades())
    filters = form.filters()
    page = Paginator(movie_search(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    marks = user_movie_marks(
        user_id=request.user.pk if request.user.is_authenticated else None,
        movie_ids=[movie.pk for movie in page.object_list],
    )
    filtered = bool(filters["query"] or filters["genre"] or filters["decade"])
    hints = movie_search_hints() if filtered and not page.object_list else []
    context = {"form": form, "page": page, "marks": marks, "filters": filters, "filtered": filtered}
    return render(request, "catalog/movie_list.html", {**context, "hints": hints})


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        visitor = {"popular": movie_popular(limit=12), "top_rated": movie_top_rated(limit=12)}
        return render(request, "recommendations/home_visitor.html", visitor)
    user_id = member_id(request)
    recs = serving.recommendations_for_user(user_id=user_id, n=12)
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
    user_id = member_id(request)
    form = MovieFilterForm(request.GET or None, genres=genre_names(), decades=movie_decades())
    filters = form.filters()
    recs = serving.recommendations_for_user(
        user_id=user_id, n=48, genre=filters["genre"], decade=filters["decade"]
    )
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
    similar = serving.optional(
        "similar movies", lambda: serving.movie_similar(movie_id=movie.pk, n=8, user_id=user_id), no_movies
    )
    prefetch_related_objects(similar, "genres")
    predicted = None
    if user_id is not None:
        predicted = serving.optional(
            "predicted stars", lambda: serving.predicted_stars(user_id=user_id, movie_id=movie.pk), None
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
