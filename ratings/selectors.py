"""Reads of ratings."""

from .models import HiddenMovie, Rating


def user_excluded_movie_ids(*, user_id: int) -> set[int]:
    """Movies never to recommend to ``user_id``: the ones rated and the ones hidden."""
    rated = Rating.objects.filter(user_id=user_id).values_list("movie_id", flat=True)
    hidden = HiddenMovie.objects.filter(user_id=user_id).values_list("movie_id", flat=True)
    return set(rated.union(hidden))
