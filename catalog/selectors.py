"""Reads from the catalogue: search, filters, orderings, statistics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Sum, Value

from .models import Genre, Movie, normalize_for_search

#: How many "average" votes the Bayesian average adds to every movie, so that one 5-star vote
#: does not top the chart.
BAYES_PRIOR_VOTES = 20

ORDERINGS = {
    "popularity": ("-rating_count", "-rating_mean", "title", "pk"),
    "rating": ("-bayes_rating", "-rating_count", "title", "pk"),
    "year": ("-year", "title", "pk"),
    "-year": ("year", "title", "pk"),
    "title": ("title", "year", "pk"),
}


def global_mean_rating() -> float:
    """The mean of all ratings (weighted by count), cached for a few minutes."""

    def compute() -> float:
        totals = Movie.objects.filter(rating_count__gt=0).aggregate(
            votes=Sum("rating_count"), weighted=Sum(F("rating_mean") * F("rating_count"))
        )
        votes, weighted = totals["votes"], totals["weighted"]
        return float(weighted) / float(votes) if votes and weighted is not None else 3.5

    try:
        cached = cache.get_or_set("catalog:global-mean", compute, 300)
    except Exception:  # a dead cache costs one aggregate query, not the page
        return compute()
    return float(cached) if cached is not None else compute()


def with_bayes_rating(movies: QuerySet[Movie]) -> QuerySet[Movie]:
    prior = BAYES_PRIOR_VOTES
    mean = global_mean_rating()
    return movies.annotate(
        bayes_rating=ExpressionWrapper(
            (Value(prior * mean) + F("rating_mean") * F("rating_count")) / (Value(prior) + F("rating_count")),
            output_field=FloatField(),
        )
    )


def movie_search(
    *,
    query: str = "",
    genre: str | None = None,
    decade: int | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    ordering: str = "popularity",
) -> QuerySet[Movie]:
    """Movies matching every word of ``query`` (case, accents and punctuation ignored; partial words
    match), in ``genre`` and the years given, ordered by one of ORDERINGS (unknown -> popularity)."""
    movies = with_bayes_rating(Movie.objects.all())
    for word in normalize_for_search(query).split()[:10]:
        movies = movies.filter(search_title__contains=word)
    if genre:
        movies = movies.filter(genres__name__iexact=genre)
    if decade is not None:
        movies = movies.filter(year__gte=decade, year__lt=decade + 10)
    if year_min is not None:
        movies = movies.filter(year__gte=year_min)
    if year_max is not None:
        movies = movies.filter(year__lte=year_max)
    return movies.order_by(*ORDERINGS.get(ordering, ORDERINGS["popularity"])).prefetch_related("genres")


def movie_list_popular(*, genre: str | None = None) -> QuerySet[Movie]:
    """Movies, most rated first, with their genres prefetched."""
    return movie_search(genre=genre, ordering="popularity")


def movie_top_rated(*, limit: int = 20, min_votes: int = 1) -> list[Movie]:
    """Best Bayesian average first."""
    return list(movie_search(ordering="rating").filter(rating_count__gte=min_votes)[:limit])


# --- Site helpers -----------------------------------------------------------------------------------


def genre_names() -> list[str]:
    """Every genre's name, alphabetically (the filter menus)."""
    return list(Genre.objects.order_by("name").values_list("name", flat=True))


def movie_decades() -> list[int]:
    """The decades that have movies, newest first (1990 for the 1990s), cached for a few minutes."""

    def compute() -> list[int]:
        years = Movie.objects.exclude(year__isnull=True).values_list("year", flat=True).distinct()
        return sorted({year - year % 10 for year in years if year is not None}, reverse=True)

    try:
        return list(cache.get_or_set("catalog:decades", compute, 300) or [])
    except Exception:
        return compute()


def movie_popular(*, exclude_ids: set[int] | frozenset[int] = frozenset(), limit: int = 12) -> list[Movie]:
    """The most rated movies, except ``exclude_ids``, with their genres prefetched."""
    movies = Movie.objects.exclude(pk__in=exclude_ids).order_by("-rating_count", "-rating_mean", "pk")
    return list(movies.prefetch_related("genres")[:limit])


def movie_onboarding_candidates(
    *, exclude_ids: set[int] | frozenset[int] = frozenset(), limit: int = 12, pool: int = 300
) -> list[Movie]:
    """Well-known movies across genres for a new member to rate: taken round-robin over the genres
    (most common genre first) from the ``pool`` most rated movies, so the first screen is not all
    dramas. Movies in ``exclude_ids`` (rated, hidden, skipped) are left out."""
    candidates = movie_popular(exclude_ids=exclude_ids, limit=pool)
    genre_counts: dict[str, int] = {}
    for movie in candidates:
        for genre in movie.genres.all():
            genre_counts[genre.name] = genre_counts.get(genre.name, 0) + 1
    genres = sorted(genre_counts, key=lambda name: (-genre_counts[name], name))
    chosen: list[Movie] = []
    chosen_ids: set[int] = set()
    while len(chosen) < min(limit, len(candidates)):
        added = False
        for name in genres:
            found = next(
                (
                    m
                    for m in candidates
                    if m.pk not in chosen_ids and any(g.name == name for g in m.genres.all())
                ),
                None,
            )
            if found is not None:
                chosen.append(found)
                chosen_ids.add(found.pk)
                added = True
                if len(chosen) >= limit:
                    break
        if not added:  # movies without genres: fill up by popularity
            chosen.extend(m for m in candidates if m.pk not in chosen_ids)
            break
    chosen = chosen[:limit]
    order = {m.pk: i for i, m in enumerate(candidates)}
    return sorted(chosen, key=lambda m: order[m.pk])


def movies_with_genre_names(*, movie_ids: Iterable[int]) -> dict[int, Movie]:
    """The movies by id, each with ``genre_names`` (sorted, as `movie_summary` shows them): one query on
    PostgreSQL (the names aggregated in the same query), two elsewhere (a prefetch)."""
    ids = list(set(movie_ids))
    if not ids:
        return {}
    movies = Movie.objects.filter(pk__in=ids).order_by()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg  # imports psycopg: PostgreSQL only

        movies = movies.annotate(
            genre_names=ArrayAgg(
                "genres__name", order_by="genres__name", filter=Q(genres__isnull=False), default=Value([])
            )
        )
        return {m.pk: m for m in movies}
    found = {m.pk: m for m in movies.prefetch_related("genres")}
    for movie in found.values():
        movie.genre_names = sorted(g.name for g in movie.genres.all())  # type: ignore[attr-defined]
    return found


def movie_summary(movie: Movie) -> dict[str, Any]:
    """What `catalog.api.serializers.MovieSummaryOutputSerializer` renders, for a movie from
    `movies_with_genre_names`, without a serializer (a test keeps the two equal)."""
    return {
        "id": movie.pk,
        "title": movie.title,
        "year": movie.year,
        "genres": list(movie.genre_names),  # type: ignore[attr-defined]
        "rating_count": movie.rating_count,
        "rating_mean": movie.rating_mean,
    }
