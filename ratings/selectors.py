"""Reads of ratings."""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Avg, Count, F, OrderBy, QuerySet

from .models import HALF_STARS, LIKED_RATING, HiddenMovie, Rating, SkippedMovie, WatchlistEntry


def epoch_seconds_sql(column: str) -> str:
    """SQL for ``column`` (a timestamp) as whole seconds since the epoch, on this connection's backend."""
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"  # whole seconds, as COPY reads them
    if connection.vendor == "sqlite":
        # '%%s' survives Django's placeholder conversion as strftime's own %s (seconds since the epoch).
        return f"CAST(strftime('%%s', {column}) AS INTEGER)"
    return f"UNIX_TIMESTAMP({column})"


@dataclass(frozen=True)
class MemberHistory:
    """A member's ratings as arrays in time order (what a fold-in reads) and the movies they hid."""

    movies: np.ndarray  # int64
    ratings: np.ndarray  # float32
    timestamps: np.ndarray  # int64 seconds since the epoch
    hidden: frozenset[int]

    def __len__(self) -> int:
        return len(self.movies)

    @property
    def excluded(self) -> set[int]:
        """Movies never to recommend: rated or hidden (what `user_excluded_movie_ids` returns)."""
        return {int(m) for m in self.movies} | self.hidden

    @property
    def liked(self) -> list[int]:
        return [int(m) for m in self.movies[self.ratings >= LIKED_RATING]]


def member_history(*, user_id: int) -> MemberHistory:
    """``user_id``'s ratings (ordered by time, then id, like the refresh reads them) and hidden movies,
    in one query: a request that needs both the exclusions and a fold-in reads them once."""
    ratings, hidden = Rating._meta.db_table, HiddenMovie._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT movie_id, value, {epoch_seconds_sql('updated_at')}, updated_at, id FROM {ratings} "
            f"WHERE user_id = %s UNION ALL "
            f"SELECT movie_id, NULL, NULL, NULL, NULL FROM {hidden} WHERE user_id = %s",
            [user_id, user_id],
        )
        rows = cursor.fetchall()
    rated = sorted((r for r in rows if r[1] is not None), key=lambda r: (r[3], r[4]))
    return MemberHistory(
        movies=np.fromiter((r[0] for r in rated), np.int64, len(rated)),
        ratings=np.fromiter((r[1] for r in rated), np.float32, len(rated)),
        timestamps=np.fromiter((r[2] for r in rated), np.int64, len(rated)),
        hidden=frozenset(int(r[0]) for r in rows if r[1] is None),
    )


def user_excluded_movie_ids(*, user_id: int) -> set[int]:
    """Movies never to recommend to ``user_id``: the ones rated and the ones hidden. One statement
    written by hand: every uncached recommendations answer reads it, and building the ORM's union
    cost more CPU than running it."""
    ratings, hidden = Rating._meta.db_table, HiddenMovie._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT movie_id FROM {ratings} WHERE user_id = %s "
            f"UNION ALL SELECT movie_id FROM {hidden} WHERE user_id = %s",
            [user_id, user_id],
        )
        return {row[0] for row in cursor.fetchall()}


def user_not_to_ask_movie_ids(*, user_id: int) -> set[int]:
    """Movies never to offer ``user_id`` for rating: rated, hidden and skipped ("haven't seen it")."""
    skipped = SkippedMovie.objects.filter(user_id=user_id).values_list("movie_id", flat=True)
    return user_excluded_movie_ids(user_id=user_id) | set(skipped)


def skipped_count_for_user(*, user_id: int) -> int:
    return SkippedMovie.objects.filter(user_id=user_id).count()


# --- Site helpers -----------------------------------------------------------------------------------

#: Orderings of a member's own ratings list: key -> (label, order_by).
RATING_ORDERINGS: dict[str, tuple[str, tuple[str | OrderBy, ...]]] = {
    "recent": ("Recently rated", ("-updated_at", "-pk")),
    "oldest": ("First rated", ("updated_at", "pk")),
    "high": ("Highest rated", ("-value", "-updated_at", "-pk")),
    "low": ("Lowest rated", ("value", "-updated_at", "-pk")),
    "title": ("Title", ("movie__title", "movie__year", "pk")),
    "year": ("Year", (F("movie__year").desc(nulls_last=True), "movie__title", "pk")),
}


def rating_count_for_user(*, user_id: int) -> int:
    return Rating.objects.filter(user_id=user_id).count()


def rating_list_for_user(*, user_id: int, ordering: str = "recent") -> QuerySet[Rating]:
    """``user_id``'s ratings with their movies (and genres), in one of RATING_ORDERINGS."""
    order_by = RATING_ORDERINGS.get(ordering, RATING_ORDERINGS["recent"])[1]
    return (
        Rating.objects.filter(user_id=user_id)
        .select_related("movie")
        .prefetch_related("movie__genres")
        .order_by(*order_by)
    )


def user_ratings_by_movie(*, user_id: int, movie_ids: Iterable[int]) -> dict[int, float]:
    """``user_id``'s rating of each of ``movie_ids`` that they rated."""
    rows = Rating.objects.filter(user_id=user_id, movie_id__in=list(movie_ids)).values_list(
        "movie_id", "value"
    )
    return dict(rows)


def user_hidden_ids(*, user_id: int, movie_ids: Iterable[int] | None = None) -> set[int]:
    rows = HiddenMovie.objects.filter(user_id=user_id)
    if movie_ids is not None:
        rows = rows.filter(movie_id__in=list(movie_ids))
    return set(rows.values_list("movie_id", flat=True))


def user_watchlist_ids(*, user_id: int, movie_ids: Iterable[int] | None = None) -> set[int]:
    rows = WatchlistEntry.objects.filter(user_id=user_id)
    if movie_ids is not None:
        rows = rows.filter(movie_id__in=list(movie_ids))
    return set(rows.values_list("movie_id", flat=True))


def watchlist_for_user(*, user_id: int) -> QuerySet[WatchlistEntry]:
    return (
        WatchlistEntry.objects.filter(user_id=user_id)
        .select_related("movie")
        .prefetch_related("movie__genres")
        .order_by("-created_at", "-pk")
    )


def hidden_for_user(*, user_id: int) -> QuerySet[HiddenMovie]:
    return (
        HiddenMovie.objects.filter(user_id=user_id)
        .select_related("movie")
        .prefetch_related("movie__genres")
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True)
class RatingBucket:
    value: float
    count: int
    share: float  # of the user's ratings, 0..1


@dataclass(frozen=True)
class GenreTaste:
    name: str
    count: int
    mean: float


def rating_distribution(*, user_id: int) -> list[RatingBucket]:
    """How many of ``user_id``'s ratings sit on each half star, 0.5 to 5.0 (zeros included)."""
    counts = dict(
        Rating.objects.filter(user_id=user_id).order_by().values_list("value").annotate(n=Count("pk"))
    )
    total = sum(counts.values())
    return [RatingBucket(v, counts.get(v, 0), counts.get(v, 0) / total if total else 0.0) for v in HALF_STARS]


def rating_genre_tastes(*, user_id: int, limit: int = 8) -> list[GenreTaste]:
    """The genres ``user_id`` likes most: their mean rating per genre, highest first (more ratings
    first on a tie), with how many they rated."""
    rows = (
        Rating.objects.filter(user_id=user_id, movie__genres__isnull=False)
        .order_by()
        .values("movie__genres__name")
        .annotate(n=Count("pk"), mean=Avg("value"))
        .order_by("-mean", "-n", "movie__genres__name")[:limit]
    )
    return [GenreTaste(r["movie__genres__name"], r["n"], float(r["mean"])) for r in rows]


@dataclass(frozen=True)
class MovieMarks:
    """What one member has done with a set of movies: their ratings, hidden and watchlisted ones."""

    ratings: dict[int, float]
    hidden: set[int]
    watchlist: set[int]


def user_movie_marks(*, user_id: int | None, movie_ids: Iterable[int]) -> MovieMarks:
    """``user_id``'s marks on ``movie_ids`` (all empty for a visitor: ``user_id`` None)."""
    ids = list(movie_ids)
    if user_id is None or not ids:
        return MovieMarks(ratings={}, hidden=set(), watchlist=set())
    return MovieMarks(
        ratings=user_ratings_by_movie(user_id=user_id, movie_ids=ids),
        hidden=user_hidden_ids(user_id=user_id, movie_ids=ids),
        watchlist=user_watchlist_ids(user_id=user_id, movie_ids=ids),
    )


# --- API helpers ------------------------------------------------------------------------------------


def rating_histogram_for_movie(*, movie_id: int) -> dict[float, int]:
    """How many ratings ``movie_id`` has on each half star (only the stars that have any)."""
    rows = Rating.objects.filter(movie_id=movie_id).order_by().values_list("value").annotate(n=Count("pk"))
    return {float(value): n for value, n in rows}
