"""Writes to ratings, one member at a time: the HTML views, the API and the admin all go through here."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.models import Movie

from .models import HALF_STARS, HiddenMovie, Rating, SkippedMovie, WatchlistEntry
from .signals import ratings_changed
from .stats import movie_stats_refresh


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


def _announce(*, user_id: int, movie_id: int) -> None:
    transaction.on_commit(
        lambda: ratings_changed.send(sender=Rating, user_id=user_id, movie_ids=[movie_id]), robust=True
    )


@transaction.atomic
def rating_upsert(*, user_id: int, movie_id: int, value: object, at: datetime | None = None) -> RatingResult:
    """Create or change ``user_id``'s rating of ``movie_id``; re-rating updates, never duplicates.

    The movie's row is locked first so concurrent ratings of one movie serialise and its
    denormalised statistics stay exact.
    """
    number = rating_value_clean(value)
    now = at or timezone.now()
    try:
        Movie.objects.select_for_update().only("pk").get(pk=movie_id)
    except Movie.DoesNotExist:
        raise ValidationError(f"There is no movie with id {movie_id}.", code="unknown_movie") from None
    rating, created = Rating.objects.update_or_create(
        user_id=user_id,
        movie_id=movie_id,
        defaults={"value": number, "updated_at": now},
        create_defaults={"value": number, "created_at": now, "updated_at": now},
    )
    movie_stats_refresh(movie_ids=[movie_id])
    # Rated means seen: it leaves the watchlist.
    WatchlistEntry.objects.filter(user_id=user_id, movie_id=movie_id).delete()
    _announce(user_id=user_id, movie_id=movie_id)
    return RatingResult(rating=rating, created=created)


@transaction.atomic
def rating_delete(*, user_id: int, movie_id: int) -> bool:
    """Remove ``user_id``'s rating of ``movie_id``. Returns False when there was none (idempotent)."""
    if not Movie.objects.select_for_update().filter(pk=movie_id).exists():
        return False
    deleted, _ = Rating.objects.filter(user_id=user_id, movie_id=movie_id).delete()
    if deleted:
        movie_stats_refresh(movie_ids=[movie_id])
        _announce(user_id=user_id, movie_id=movie_id)
    return bool(deleted)


def _require_movie(movie_id: int) -> None:
    if not Movie.objects.filter(pk=movie_id).exists():
        raise ValidationError(f"There is no movie with id {movie_id}.", code="unknown_movie")


def hidden_add(*, user_id: int, movie_id: int) -> bool:
    """Hide ``movie_id`` from ``user_id``'s recommendations. Returns False when it already was."""
    _require_movie(movie_id)
    with transaction.atomic():
        _, created = HiddenMovie.objects.get_or_create(user_id=user_id, movie_id=movie_id)
        if created:
            _announce(user_id=user_id, movie_id=movie_id)
    return created


def hidden_remove(*, user_id: int, movie_id: int) -> bool:
    with transaction.atomic():
        deleted, _ = HiddenMovie.objects.filter(user_id=user_id, movie_id=movie_id).delete()
        if deleted:
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
