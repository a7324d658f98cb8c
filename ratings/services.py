"""Writes to ratings, one member at a time: the HTML views, the API and the admin all go through here."""

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from catalog.models import Movie
from catalog.selectors import genre_names_sql, movies_with_genre_names

from .models import HALF_STARS, HiddenMovie, Rating, SkippedMovie, WatchlistEntry
from .outbox import stale_note_write
from .signals import ratings_changed
from .stats import half_stars, movie_stats_apply


def rating_value_clean(value: object) -> float:
    """Return ``value`` as a half-star float, or raise ValidationError saying what is wrong."""
    if isinstance(value, bool):
        raise ValidationError("A rating must be a number from 0.5 to 5.0 in steps of 0.5.", code="invalid")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(
            "A rating must be a number from 0.5 to 5.0 in steps of 0.5.", code="invalid"
        ) from None
    if number not in HALF_STARS:
        raise ValidationError(
            f"{value!r} is not a valid rating: use 0.5 to 5.0 in steps of 0.5.", code="out_of_range"
        )
    return number


@dataclass(frozen=True)
class RatingResult:
    rating: Rating
    created: bool
    #: The rated movie as this write left it, with ``genre_names`` (`catalog.selectors.movie_summary`'s
    #: input), when the caller asked for it.
    movie: Movie | None = None


def _announce(*, user_id: int, movie_id: int) -> None:
    """After commit, tell listeners (they act at once; the durable note is already written)."""
    transaction.on_commit(
        lambda: ratings_changed.send(sender=Rating, user_id=user_id, movie_ids=[movie_id]), robust=True
    )


def _unknown_movie(movie_id: int) -> ValidationError:
    return ValidationError(f"There is no movie with id {movie_id}.", code="unknown_movie")


_RATING_TABLE = Rating._meta.db_table


def _rating_insert(*, user_id: int, movie_id: int, value: float, at: datetime) -> int | None:
    """Insert the rating; its id, or None when another transaction inserted the pair first."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_RATING_TABLE} (user_id, movie_id, value, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, movie_id) DO NOTHING RETURNING id",
            [user_id, movie_id, value, at, at],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def rating_upsert(
    *, user_id: int, movie_id: int, value: object, at: datetime | None = None, with_movie: bool = False
) -> RatingResult:
    """Create or change ``user_id``'s rating of ``movie_id``; re-rating updates, never duplicates.

    One transaction, in this order (every rating write takes its locks in the same order, so they
    cannot deadlock):

    1. The member's stale-list note (`ratings.outbox`) is upserted. Its row lock serialises this
       member's own concurrent changes, so the next statement sees the last one committed.
    2. The rating's row is locked to know the value it replaces, then updated; or it is inserted.
    3. The movie's statistics change by one exact increment (`ratings.stats.movie_stats_apply`). Last,
       so the movie row's lock, which serialises every rater of that movie, is held only until commit.
    4. Rated means seen: the movie leaves the member's watchlist.

    On PostgreSQL the server does all of it in one call (`ratings_rating_upsert`, migration 0005):
    one round trip instead of seven, so the movie row's lock is also held for the shortest time. With
    ``with_movie`` the result carries the movie as the write left it (read in the same statement there).
    """
    number = rating_value_clean(value)
    now = at or timezone.now()
    if _writes_in_server():
        result = _rating_upsert_in_server(user_id=user_id, movie_id=movie_id, value=number, at=now)
    else:
        result = _rating_upsert_here(user_id=user_id, movie_id=movie_id, value=number, at=now)
        if with_movie:
            result = replace(result, movie=movies_with_genre_names(movie_ids=[movie_id])[movie_id])
    _announce(user_id=user_id, movie_id=movie_id)
    return result if with_movie else replace(result, movie=None)


def _writes_in_server() -> bool:
    """Whether rating writes run as one server-side call (PostgreSQL: migration 0005's functions)."""
    return connection.vendor == "postgresql"


#: SQLSTATEs the write functions raise (migration 0005).
_NO_SUCH_MOVIE, _CONFLICT = "RT404", "RT409"


def _refusal(exc: DatabaseError, movie_id: int) -> ValidationError | None:
    """The ValidationError a write function's own error means (None: not one of theirs)."""
    cause = exc.__cause__
    state = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)  # psycopg 2 or 3
    if state == _NO_SUCH_MOVIE:
        return _unknown_movie(movie_id)
    if state == _CONFLICT:  # pragma: no cover - needs an outside writer racing three times
        return ValidationError("The rating changed concurrently; try again.", code="conflict")
    return None


def _one_call() -> AbstractContextManager[object]:
    """Where a write function runs: alone it is its own transaction (one round trip); inside a caller's
    transaction, in a savepoint, so that a refusal undoes only the write, as the Python path's does."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _rating_upsert_in_server(*, user_id: int, movie_id: int, value: float, at: datetime) -> RatingResult:
    # The movie's title, year and genres come with the write (the statement's snapshot is fine for
    # them); its statistics are the ones the function's own update left. CAST, not `%s::bigint`: the
    # cast binds tighter than a literal's minus sign, so -2**63 would be read as -(2**63) and overflow.
    try:
        with _one_call(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT w.rating_id, w.created, w.created_at, w.movie_rating_count, w.movie_rating_mean, "
                f"m.title, m.year, {genre_names_sql('m.id')} "
                "FROM ratings_rating_upsert(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS float8), "
                "CAST(%s AS timestamptz)) w "
                f"JOIN {Movie._meta.db_table} m ON m.id = CAST(%s AS bigint)",
                [user_id, movie_id, value, at, movie_id],
            )
            pk, created, created_at, count, mean, title, year, genres = cursor.fetchone()
    except DatabaseError as exc:
        refusal = _refusal(exc, movie_id)
        if refusal is None:
            raise
        raise refusal from None
    rating = Rating(
        pk=pk, user_id=user_id, movie_id=movie_id, value=value, created_at=created_at, updated_at=at
    )
    movie = Movie(pk=movie_id, title=title, year=year, rating_count=count, rating_mean=mean)
    movie.genre_names = list(genres)  # type: ignore[attr-defined]
    return RatingResult(rating=rating, created=bool(created), movie=movie)


@transaction.atomic
def _rating_upsert_here(*, user_id: int, movie_id: int, value: float, at: datetime) -> RatingResult:
    stale_note_write(user_id=user_id, at=at)
    for _ in range(3):  # again only when a writer that takes no note (an importer) inserted the pair
        old = (
            Rating.objects.select_for_update()
            .filter(user_id=user_id, movie_id=movie_id)
            .values_list("pk", "value", "created_at")
            .first()
        )
        if old is not None:
            pk, old_value, created_at = old
            Rating.objects.filter(pk=pk).update(value=value, updated_at=at)
            rating = Rating(
                pk=pk, user_id=user_id, movie_id=movie_id, value=value, created_at=created_at, updated_at=at
            )
            created, count_delta, half_delta = False, 0, half_stars(value) - half_stars(old_value)
            break
        new_pk = _rating_insert(user_id=user_id, movie_id=movie_id, value=value, at=at)
        if new_pk is not None:
            rating = Rating(
                pk=new_pk, user_id=user_id, movie_id=movie_id, value=value, created_at=at, updated_at=at
            )
            created, count_delta, half_delta = True, 1, half_stars(value)
            break
    else:  # pragma: no cover - needs an outside writer inserting and deleting the pair three times
        raise ValidationError("The rating changed concurrently; try again.", code="conflict")
    # The rating's foreign key is only checked at commit, so an unknown movie is found here (no row to
    # update) and the whole transaction rolls back.
    if (count_delta or half_delta) and not movie_stats_apply(
        movie_id=movie_id, count_delta=count_delta, half_delta=half_delta
    ):
        raise _unknown_movie(movie_id)
    WatchlistEntry.objects.filter(user_id=user_id, movie_id=movie_id).delete()
    return RatingResult(rating=rating, created=created)


def rating_delete(*, user_id: int, movie_id: int) -> bool:
    """Remove ``user_id``'s rating of ``movie_id``. Returns False when there was none (idempotent).

    Locks in `rating_upsert`'s order: the member's note, the rating (deleted), the movie's statistics;
    in one call on PostgreSQL (`ratings_rating_delete`, migration 0005).
    """
    now = timezone.now()
    if _writes_in_server():
        with _one_call(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT ratings_rating_delete(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS timestamptz))",
                [user_id, movie_id, now],
            )
            deleted = bool(cursor.fetchone()[0])
    else:
        deleted = _rating_delete_here(user_id=user_id, movie_id=movie_id, at=now)
    if deleted:
        _announce(user_id=user_id, movie_id=movie_id)
    return deleted


@transaction.atomic
def _rating_delete_here(*, user_id: int, movie_id: int, at: datetime) -> bool:
    if not Rating.objects.filter(user_id=user_id, movie_id=movie_id).exists():
        return False
    stale_note_write(user_id=user_id, at=at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_RATING_TABLE} WHERE user_id = %s AND movie_id = %s RETURNING value",
            [user_id, movie_id],
        )
        row = cursor.fetchone()
    if row is None:  # deleted concurrently: that change noted the list stale too
        return False
    movie_stats_apply(movie_id=movie_id, count_delta=-1, half_delta=-half_stars(row[0]))
    return True


def _require_movie(movie_id: int) -> None:
    if not Movie.objects.filter(pk=movie_id).exists():
        raise _unknown_movie(movie_id)


def hidden_add(*, user_id: int, movie_id: int) -> bool:
    """Hide ``movie_id`` from ``user_id``'s recommendations. Returns False when it already was."""
    _require_movie(movie_id)
    with transaction.atomic():
        _, created = HiddenMovie.objects.get_or_create(user_id=user_id, movie_id=movie_id)
        if created:
            stale_note_write(user_id=user_id, at=timezone.now())
            _announce(user_id=user_id, movie_id=movie_id)
    return created


def hidden_remove(*, user_id: int, movie_id: int) -> bool:
    with transaction.atomic():
        deleted, _ = HiddenMovie.objects.filter(user_id=user_id, movie_id=movie_id).delete()
        if deleted:
            stale_note_write(user_id=user_id, at=timezone.now())
            _announce(user_id=user_id, movie_id=movie_id)
    return bool(deleted)


def watchlist_add(*, user_id: int, movie_id: int) -> bool:
    """Put ``movie_id`` on ``user_id``'s watchlist. Returns False when it already was (idempotent)."""
    _require_movie(movie_id)
    _, created = WatchlistEntry.objects.get_or_create(user_id=user_id, movie_id=movie_id)
    return created


def watchlist_remove(*, user_id: int, movie_id: int) -> bool:
    deleted, _ = WatchlistEntry.objects.filter(user_id=user_id, movie_id=movie_id).delete()
    return bool(deleted)


def skip_add(*, user_id: int, movie_id: int) -> bool:
    """ "Haven't seen it": never offer ``movie_id`` to ``user_id`` for rating again. False when it
    already was skipped (idempotent)."""
    _require_movie(movie_id)
    _, created = SkippedMovie.objects.get_or_create(user_id=user_id, movie_id=movie_id)
    return created


def skips_clear(*, user_id: int) -> int:
    """Offer every skipped movie again; returns how many there were."""
    deleted, _ = SkippedMovie.objects.filter(user_id=user_id).delete()
    return deleted
