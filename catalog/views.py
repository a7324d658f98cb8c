"""Browse and search."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ratings.selectors import user_movie_marks

from .forms import MovieSearchForm
from .selectors import genre_names, movie_decades, movie_search

PAGE_SIZE = 24


def movie_list(request: HttpRequest) -> HttpResponse:
    form = MovieSearchForm(request.GET or None, genres=genre_names(), decades=movie_decades())
    filters = form.filters()
    page = Paginator(movie_search(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    marks = user_movie_marks(
        user_id=request.user.pk if request.user.is_authenticated else None,
        movie_ids=[movie.pk for movie in page.object_list],
    )
    filtered = bool(filters["query"] or filters["genre"] or filters["decade"])
    return render(
        request,
        "catalog/movie_list.html",
        {"form": form, "page": page, "marks": marks, "filters": filters, "filtered": filtered},
    )
