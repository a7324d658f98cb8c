"""Template helpers that need the model: predicted stars for any list of movie cards.

A template tag rather than view code so that lists rendered by ratings' pages (the watchlist) can show
the model's stars without ratings importing this app: the dependency is the template's `{% load %}`."""

import logging
from collections.abc import Iterable

from django import template

from catalog.models import Movie
from recommendations import serving

register = template.Library()
logger = logging.getLogger(__name__)


@register.simple_tag(takes_context=True)
def predicted_stars_for(context: template.Context, movies: Iterable[Movie]) -> dict[int, float]:
    """{movie id: stars the model predicts the logged-in member would give}; {} for a visitor, without
    a model, or when the model cannot answer (the page is served without them)."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {}
    ids = [movie.pk for movie in movies]
    if not ids:
        return {}
    no_stars: dict[int, float] = {}
    return serving.optional(
        "predicted stars", lambda: serving.predicted_stars_many(user_id=int(user.pk), movie_ids=ids), no_stars
    )
