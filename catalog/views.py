from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Genre
from .selectors import movie_list_popular


def movie_list(request: HttpRequest) -> HttpResponse:
    genre = request.GET.get("genre") or None
    page = Paginator(movie_list_popular(genre=genre), 50).get_page(request.GET.get("page"))
    genres = Genre.objects.values_list("name", flat=True)
    return render(request, "catalog/movie_list.html", {"page": page, "genres": genres, "genre": genre})
