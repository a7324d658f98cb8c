"""The title suggestions behind search-as-you-type (browse and search, which show the member's marks,
are `recommendations.views.movie_list`)."""

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from .forms import MAX_QUERY_LENGTH
from .selectors import movie_suggestions

SUGGESTIONS = 8


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
