"""Ratings: one per user and movie, in half stars from 0.5 to 5.0 (enforced by the database)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ml import LIKE_THRESHOLD

# 0.5, 1.0, ..., 5.0 are exact binary fractions, so float equality on them is safe in every backend.
HALF_STARS: tuple[float, ...] = tuple(x / 2 for x in range(1, 11))
MIN_RATING, MAX_RATING = HALF_STARS[0], HALF_STARS[-1]
#: A rating at or above this is a "like" (reasons, favourite genres, evaluation's relevant items).
LIKED_RATING = LIKE_THRESHOLD
#: After this many ratings a member's picks are personal; the welcome page asks for them.
ONBOARDING_GOAL = 5


class Rating(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings")
    movie = models.ForeignKey("catalog.Movie", on_delete=models.CASCADE, related_name="ratings")
    value = models.FloatField(help_text="Half stars from 0.5 to 5.0.")
    # For imported ratings these are the dataset's timestamps: the temporal evaluation depends on them.
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "movie"], name="ratings_rating_one_per_user_movie"),
            models.CheckConstraint(condition=Q(value__in=HALF_STARS), name="ratings_rating_half_stars"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.movie_id}: {self.value}"


class HiddenMovie(models.Model):
    """A movie the user marked "not interested": never recommended to them again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hidden_movies")
    movie = models.ForeignKey("catalog.Movie", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "movie"], name="ratings_hidden_one_per_user_movie")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} hides {self.movie_id}"


class WatchlistEntry(models.Model):
    """A movie the user wants to watch later."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlist")
    movie = models.ForeignKey("catalog.Movie", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "movie"], name="ratings_watchlist_one_per_user_movie")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} wants to watch {self.movie_id}"


class SkippedMovie(models.Model):
    """A movie the user said they haven't seen: never offered to them for rating again (onboarding,
    "rate more") until they ask for skipped movies back. Unlike hiding, it does not touch picks."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skipped_movies"
    )
    movie = models.ForeignKey("catalog.Movie", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "movie"], name="ratings_skipped_one_per_user_movie")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} hasn't seen {self.movie_id}"


class StaleListNote(models.Model):
    """A durable note that a member's recommendation list is stale (an outbox row).

    Written in the same transaction as the rating (or hide) that made the list stale, so it exists
    exactly when that change committed, whatever happens to the cache or the broker afterwards. The
    recommendations app consumes it: a refresh of the member clears the note it started from
    (``changes`` tells a later change apart), and a periodic sweep refreshes members whose note is old,
    which is how a change made while the broker was down still gets its refresh.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    changed_at = models.DateTimeField(db_index=True, help_text="When the latest change committed.")
    changes = models.PositiveBigIntegerField(default=1, help_text="Changes since the note was created.")

    def __str__(self) -> str:
        return f"{self.user_id}'s list is stale since {self.changed_at:%Y-%m-%d %H:%M:%S}"
