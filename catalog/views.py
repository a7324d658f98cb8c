"""Browse and search, and the title suggestions behind search-as-you-type."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from ratings.selectors import user_movie_marks

from .forms import MAX_QUERY_LENGTH, MovieSearchForm
from .selectors import genre_names, movie_decades, movie_search, movie_search_hints, movie_suggestions

PAGE_SIZE = 24
SUGGESTIONS = 8


def movie_list(request: HttpRequest) -> HttpResponse:
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


@require_GET
def movie_suggest(request: HttpRequest) -> JsonResponse:
    """GET /movies/suggest/?q=...: up to 8 {id, title, year, url}, best match first."""
    query = request.GET.get("q", "")
    if len(query) > MAX_QUERY_LENGTH:
        message = f"Search text can be at most {MAX_QUERY_LENGTH} characters long."
        return JsonResponse({"error": {"code": "invalid", "message": message}}, status=400)
    movies = movie_suggestions(query=query, limit=SUGGESTIONS) if len(query.strip()) >= 2 else []
    items = [
        {"id": m.pk, "title": m.title, "year": m.year, "url": reverse("movie_detail", args=[m.pk])}
        for m in movies
    ]
    return JsonResponse({"query": query, "items": items})
