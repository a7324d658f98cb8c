"""Reads from the catalogue: search, filters, orderings, statistics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.lookups import TrigramWordSimilar
from django.contrib.postgres.search import TrigramWordSimilarity
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Case,
    Expression,
    ExpressionWrapper,
    F,
    FloatField,
    OrderBy,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Greatest

from .models import Genre, Movie
from .search import fuzzy_title_scores, search_terms

#: How many "average" votes the Bayesian average adds to every movie, so that one 5-star vote
#: does not top the chart.
BAYES_PRIOR_VOTES = 20

#: Orderings of movie lists. "relevance" (best title match first) is the default of a search and
#: means "popularity" without one. Movies without a year go last both ways.
ORDERINGS: dict[str, tuple[str | OrderBy, ...]] = {
    "relevance": ("-relevance", "-rating_count", "title", "pk"),
    "popularity": ("-rating_count", "-rating_mean", "title", "pk"),
    "rating": ("-bayes_rating", "-rating_count", "title", "pk"),
    "year": (F("year").desc(nulls_last=True), "title", "pk"),
    "-year": (F("year").asc(nulls_last=True), "title", "pk"),
    "title": ("title", "year", "pk"),
}
#: The least relevance a title needs to be a search result, by how it is scored: pg_trgm's word
#: similarity ("godfater" ~ "godfather": 0.58) and rapidfuzz's partial ratio (the same pair: 0.88).
MIN_RELEVANCE_TRIGRAM = 0.4
MIN_RELEVANCE_FUZZY = 0.6
#: Without pg_trgm the titles are scored in Python; at most this many best ones are results.
FUZZY_RESULT_LIMIT = 500


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


def _title_matches(movies: QuerySet[Movie], terms: list[list[str]]) -> QuerySet[Movie]:
    """``movies`` whose title matches ``terms`` well enough, annotated with ``relevance`` (0..1).

    PostgreSQL scores in the database with pg_trgm's word similarity (a word written as it is in the
    title, or part of a word, counts 1.0); elsewhere (the embedded SQLite default) the titles are
    scored in Python with rapidfuzz, the same idea (catalog/search.py)."""
    if connection.vendor == "postgresql":
        # Only titles with a word close to one of the terms can reach MIN_RELEVANCE_TRIGRAM (the mean of
        # the terms' scores); find those first through the trigram index (catalog 0002): `term <%
        # search_title` with the threshold set to the same minimum on this connection.
        with connection.cursor() as cursor:
            cursor.execute(f"SET pg_trgm.word_similarity_threshold = {MIN_RELEVANCE_TRIGRAM}")
        near = Q()
        for spellings in terms:
            for s in spellings:
                near |= Q(TrigramWordSimilar(F("search_title"), Value(s))) | Q(search_title__contains=s)
        movies = movies.filter(near)
        per_term: list[Expression] = []
        for spellings in terms:
            # A Value, not the bare string: TrigramWordSimilarity would read a str as a column name.
            candidates = [TrigramWordSimilarity(Value(s), "search_title") for s in spellings]  # type: ignore[arg-type]
            contained = Case(
                *(When(search_title__contains=s, then=Value(1.0)) for s in spellings),
                default=Value(0.0),
                output_field=FloatField(),
            )
            per_term.append(Greatest(contained, *candidates))
        total: Expression = per_term[0]
        for score in per_term[1:]:
            total = total + score
        relevance = ExpressionWrapper(total / Value(float(len(terms))), output_field=FloatField())
        return movies.annotate(relevance=relevance).filter(relevance__gte=MIN_RELEVANCE_TRIGRAM)
    scores = fuzzy_title_scores(
        terms,
        Movie.objects.values_list("pk", "search_title").iterator(chunk_size=5000),
        min_score=MIN_RELEVANCE_FUZZY,
        limit=FUZZY_RESULT_LIMIT,
    )
    if not scores:
        return movies.none().annotate(relevance=Value(0.0, output_field=FloatField()))
    by_score = Case(
        *(When(pk=movie_id, then=Value(score)) for movie_id, score in scores.items()),
        default=Value(0.0),
        output_field=FloatField(),
    )
    return movies.filter(pk__in=list(scores)).annotate(relevance=by_score)


def movie_search(
    *,
    query: str = "",
    genre: str | None = None,
    decade: int | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    ordering: str = "relevance",
) -> QuerySet[Movie]:
    """Movies whose title matches ``query`` (ranked and typo tolerant: case, accents and punctuation
    ignored, partial and misspelt words match, "12" finds "Twelve"), in ``genre`` and the years given,
    ordered by one of ORDERINGS (unknown -> relevance; relevance without a query -> popularity)."""
    movies = with_bayes_rating(Movie.objects.all())
    terms = search_terms(query)
    if terms:
        movies = _title_matches(movies, terms)
    if genre:
        movies = movies.filter(genres__name__iexact=genre)
    if decade is not None:
        movies = movies.filter(year__gte=decade, year__lt=decade + 10)
    if year_min is not None:
        movies = movies.filter(year__gte=year_min)
    if year_max is not None:
        movies = movies.filter(year__lte=year_max)
    if ordering not in ORDERINGS or (ordering == "relevance" and not terms):
        ordering = "relevance" if terms else "popularity"
    return movies.order_by(*ORDERINGS[ordering]).prefetch_related("genres")


def movie_suggestions(*, query: str, limit: int = 8) -> list[Movie]:
    """The best few title matches for search-as-you-type (no genres: titles and years only)."""
    if not search_terms(query):
        return []
    return list(movie_search(query=query).prefetch_related(None).only("pk", "title", "year")[:limit])


def movie_search_hints(*, limit: int = 3) -> list[str]:
    """Titles of a few of the most rated movies, to suggest as searches when nothing matched."""
    return [movie.title for movie in movie_popular(limit=limit) if movie.title]


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
    PostgreSQL (the names read in the same statement), two elsewhere (a prefetch).

    On PostgreSQL the statement is written here rather than by the ORM: building the ORM's version
    (an ArrayAgg annotation) cost more than a third of the CPU of an uncached recommendations answer.
    """
    ids = list(set(movie_ids))
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        concrete = Movie._meta.concrete_fields
        fields = [f.attname for f in concrete]
        columns = ", ".join(f"m.{connection.ops.quote_name(str(f.column))}" for f in concrete)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns}, {genre_names_sql('m.id')} FROM {Movie._meta.db_table} m "
                "WHERE m.id = ANY(%s)",
                [ids],
            )
            rows = cursor.fetchall()
        found = {}
        for row in rows:
            movie = Movie.from_db(connection.alias, fields, row[:-1])
            movie.genre_names = list(row[-1])  # type: ignore[attr-defined]
            found[movie.pk] = movie
        return found
    movies = Movie.objects.filter(pk__in=ids).order_by()
    found = {m.pk: m for m in movies.prefetch_related("genres")}
    for movie in found.values():
        movie.genre_names = sorted(g.name for g in movie.genres.all())  # type: ignore[attr-defined]
    return found


def genre_names_sql(movie_id_sql: str) -> str:
    """PostgreSQL: a subquery for the sorted genre names of the movie whose id is ``movie_id_sql``, what
    `movies_with_genre_names` gives as ``genre_names``, for a statement that reads a movie on the side."""
    through, genre = Movie.genres.through._meta.db_table, Genre._meta.db_table
    return (
        f"ARRAY(SELECT g.name FROM {through} mg JOIN {genre} g ON g.id = mg.genre_id "
        f"WHERE mg.movie_id = {movie_id_sql} ORDER BY g.name)"
    )


@dataclass(frozen=True, slots=True)
class MovieCard:
    """What a movie card shows (`movie_summary`'s input, like a Movie from `movies_with_genre_names`):
    immutable, so one instance can serve every request of a process."""

    pk: int
    title: str
    year: int | None
    genre_names: tuple[str, ...]
    rating_count: int
    rating_mean: float

    def __str__(self) -> str:  # as Movie's
        return f"{self.title} ({self.year})" if self.year else self.title


#: This process's cards, by movie id: (read at, card). Bounded by the catalogue's size; cleared whole
#: past _CARDS_MAX (a catalogue far larger than any here).
_cards: dict[int, tuple[float, MovieCard]] = {}
_CARDS_MAX = 200_000
_cards_lock = threading.Lock()


def movie_cards(*, movie_ids: Iterable[int], max_age: float) -> dict[int, MovieCard]:
    """The cards of these movies (unknown ids left out), each read from the database at most
    ``max_age`` seconds ago: a process-wide cache, so a list's cards usually cost no query. A card's
    statistics (count, mean) and an edit of its title or genres show up within ``max_age`` seconds;
    0 reads every card from the database."""
    now = time.monotonic()
    found: dict[int, MovieCard] = {}
    missing: list[int] = []
    for movie_id in set(movie_ids):
        hit = _cards.get(movie_id)
        if hit is not None and now - hit[0] < max_age:
            found[movie_id] = hit[1]
        else:
            missing.append(movie_id)
    if missing:
        read = {
            pk: MovieCard(
                pk=pk,
                title=m.title,
                year=m.year,
                genre_names=tuple(m.genre_names),  # type: ignore[attr-defined]
                rating_count=m.rating_count,
                rating_mean=m.rating_mean,
            )
            for pk, m in movies_with_genre_names(movie_ids=missing).items()
        }
        found.update(read)
        if max_age > 0:
            with _cards_lock:
                if len(_cards) + len(read) > _CARDS_MAX:
                    _cards.clear()
                _cards.update((pk, (now, card)) for pk, card in read.items())
    return found


def movie_cards_forget() -> None:
    """Drop this process's cards (tests; a movie deleted or edited in bulk shows at once after it)."""
    with _cards_lock:
        _cards.clear()


def movie_summary(movie: Movie | MovieCard) -> dict[str, Any]:
    """What `catalog.api.serializers.MovieSummaryOutputSerializer` renders, for a movie from
    `movies_with_genre_names` or a `MovieCard`, without a serializer (a test keeps the two equal)."""
    return {
        "id": movie.pk,
        "title": movie.title,
        "year": movie.year,
        "genres": list(movie.genre_names),  # type: ignore[union-attr]
        "rating_count": movie.rating_count,
        "rating_mean": movie.rating_mean,
    }
