"""Movie rating statistics on the movie row (count, sum in half stars, mean): a ratings aggregate, kept
by this app.

Every rating write changes them by one exact increment in its own transaction (`movie_stats_apply`);
importers recount them (`movie_stats_refresh`); `movie_stats_drift` compares them with a recount and
`movie_stats_repair` puts a drifted movie right (the ``movie_stats`` management command).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, F, FloatField, Sum, Value
from django.db.models.functions import Cast, Coalesce, NullIf

from catalog.models import Movie

from .models import Rating

#: The mean is within this of the recount's when it is "exact" (both are one rounding of the same
#: quotient; the tolerance only absorbs backends that divide differently).
MEAN_TOLERANCE = 1e-9


def half_stars(value: float) -> int:
    """A rating as an integer number of half stars (0.5 -> 1, 5.0 -> 10)."""
    return round(value * 2)


def movie_stats_apply(*, movie_id: int, count_delta: int, half_delta: int) -> bool:
    """Add one rating change to ``movie_id``'s statistics in one UPDATE; False when there is no such movie.

    Called inside the rating's transaction, after the rating row is written: the UPDATE takes the movie
    row's lock, so it is held only until that transaction commits, and the mean is derived from the
    new sum and count in the same statement (every right-hand side reads the row before the update).
    """
    new_sum = Cast(F("rating_sum_half") + half_delta, FloatField())
    new_count = Cast(F("rating_count") + count_delta, FloatField())
    updated = Movie.objects.filter(pk=movie_id).update(
        rating_count=F("rating_count") + count_delta,
        rating_sum_half=F("rating_sum_half") + half_delta,
        rating_mean=Coalesce(new_sum / NullIf(new_count * Value(2.0), Value(0.0)), Value(0.0)),
    )
    return updated == 1


@dataclass(frozen=True)
class StatsDrift:
    """A movie whose statistics differ from a recount of its ratings."""

    movie_id: int
    count: int
    sum_half: int
    mean: float
    true_count: int
    true_sum_half: int

    @property
    def true_mean(self) -> float:
        return self.true_sum_half / (2 * self.true_count) if self.true_count else 0.0


def _recount(movie_ids: list[int] | None) -> dict[int, tuple[int, int]]:
    ratings = Rating.objects.all() if movie_ids is None else Rating.objects.filter(movie_id__in=movie_ids)
    return {
        row["movie_id"]: (row["n"], int(row["halves"] or 0))
        for row in ratings.order_by()
        .values("movie_id")
        .annotate(n=Count("pk"), halves=Sum(Cast(F("value") * 2, FloatField())))
    }


def movie_stats_drift(*, movie_ids: Iterable[int] | None = None) -> list[StatsDrift]:
    """Movies (of ``movie_ids``, else all) whose count, sum or mean differ from a recount."""
    ids = None if movie_ids is None else sorted(set(movie_ids))
    movies = Movie.objects.all() if ids is None else Movie.objects.filter(pk__in=ids)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # a hash aggregate in one pass (see _refresh_all)
                cursor.execute("SET LOCAL work_mem = '64MB'")
        truth = _recount(ids)
        stored = list(
            movies.order_by("pk").values_list("pk", "rating_count", "rating_sum_half", "rating_mean")
        )
    drifted = []
    for pk, count, sum_half, mean in stored:
        true_count, true_sum = truth.get(pk, (0, 0))
        true_mean = true_sum / (2 * true_count) if true_count else 0.0
        if count != true_count or sum_half != true_sum or abs(mean - true_mean) > MEAN_TOLERANCE:
            drifted.append(StatsDrift(pk, count, sum_half, mean, true_count, true_sum))
    return drifted


def movie_stats_repair(*, movie_ids: Iterable[int]) -> int:
    """Recount these movies' statistics, each under its row lock; the number of movies repaired.

    Safe while members rate: the lock is taken before the recount, so a rating committed earlier is in
    the recount, and one still in flight waits for the lock and then adds its increment to the recount.
    """
    repaired = 0
    for movie_id in sorted(set(movie_ids)):
        with transaction.atomic():
            if not Movie.objects.select_for_update().filter(pk=movie_id).exists():
                continue
            movie_stats_refresh(movie_ids=[movie_id])
            repaired += 1
    return repaired


def movie_stats_refresh(*, movie_ids: Iterable[int] | None = None) -> None:
    """Recompute ``rating_count``, ``rating_sum_half`` and ``rating_mean`` from the ratings table.

    With ``movie_ids`` only those movies are touched; without, every movie is (importers).
    """
    if movie_ids is None:
        _refresh_all()
        return
    ids = sorted(set(movie_ids))
    truth = _recount(ids)
    movies = []
    for pk in ids:
        count, halves = truth.get(pk, (0, 0))  # no ratings left: no row in the aggregate
        mean = halves / (2 * count) if count else 0.0
        movies.append(Movie(pk=pk, rating_count=count, rating_sum_half=halves, rating_mean=mean))
    Movie.objects.bulk_update(movies, ["rating_count", "rating_sum_half", "rating_mean"])


def _refresh_all() -> None:
    """Recompute every movie's statistics with one grouped pass over the ratings table.

    A correlated subquery per movie is fine for a few movies; for a whole import (millions of ratings)
    a single GROUP BY joined back is an order of magnitude faster on PostgreSQL.
    """
    movie_table = Movie._meta.db_table
    rating_table = Rating._meta.db_table
    # Half stars are small integers, so the sum of (value * 2) is exact in any numeric type.
    grouped = (
        f"SELECT movie_id, COUNT(*) AS n, CAST(SUM(value * 2) AS bigint) AS halves "
        f"FROM {rating_table} GROUP BY movie_id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # With the default 4 MB, PostgreSQL walks 25M ratings in index order (75-206 s measured);
            # 64 MB lets it hash-aggregate in one sequential scan (11 s). Local to this transaction.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(
                f"""
                UPDATE {movie_table} AS m
                   SET rating_count = COALESCE(s.n, 0), rating_sum_half = COALESCE(s.halves, 0),
                       rating_mean = COALESCE(CAST(s.halves AS double precision) / (2 * s.n), 0)
                  FROM {movie_table} AS m2
                  LEFT JOIN ({grouped}) AS s ON s.movie_id = m2.id
                 WHERE m.id = m2.id
                   AND (m.rating_count IS DISTINCT FROM COALESCE(s.n, 0)
                        OR m.rating_sum_half IS DISTINCT FROM COALESCE(s.halves, 0)
                        OR m.rating_mean IS DISTINCT FROM
                           COALESCE(CAST(s.halves AS double precision) / (2 * s.n), 0))
                """
            )
            # Importers call this right after loading a catalogue: fresh planner statistics for the
            # movies, so reads by id (`catalog.selectors.movies_with_genre_names`) use the primary key
            # at once. Without any, on a server whose autovacuum had not run yet (or is off), the
            # planner scanned the whole movies table for every such read.
            through = Movie.genres.through._meta.db_table
            cursor.execute(f"ANALYZE {movie_table}, {through}")
        else:
            cursor.execute(
                f"""
                WITH s AS ({grouped})
                UPDATE {movie_table}
                   SET rating_count = COALESCE((SELECT n FROM s WHERE s.movie_id = {movie_table}.id), 0),
                       rating_sum_half = COALESCE((SELECT halves FROM s WHERE s.movie_id = {movie_table}.id), 0),
                       rating_mean = COALESCE((SELECT CAST(halves AS REAL) / (2 * n) FROM s
                                               WHERE s.movie_id = {movie_table}.id), 0)
                """
            )
