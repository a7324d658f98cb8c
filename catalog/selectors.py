"""Reads from the catalogue."""

from django.db.models import QuerySet

from .models import Movie


def movie_list_popular(*, genre: str | None = None) -> QuerySet[Movie]:
    """Movies, most rated first, with their genres prefetched."""
    movies = Movie.objects.prefetch_related("genres").order_by("-rating_count", "title")
    if genre:
        movies = movies.filter(genres__name=genre)
    return movies
