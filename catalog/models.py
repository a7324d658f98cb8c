"""The movie catalogue."""

import unicodedata

from django.db import models
from django.db.models import Q


def normalize_for_search(text: str) -> str:
    """Lower case, accents stripped, punctuation to spaces: "Amélie (Le Fabuleux...)" -> "amelie le fabuleux"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = "".join(ch if ch.isalnum() else " " for ch in stripped.casefold())
    return " ".join(cleaned.split())


class Genre(models.Model):
    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Movie(models.Model):
    """A movie, with the ids other catalogues know it by and denormalised rating statistics.

    ``rating_count``, ``rating_sum_half`` and ``rating_mean`` are kept exact by the rating services
    (an incremental update in the rating's transaction) and the importers (a recount), both in
    ``ratings.stats``; they exist so that lists can sort by popularity and average without aggregating
    millions of ratings per request.
    """

    title = models.CharField(max_length=512)
    # normalize_for_search(title), kept by save() and the importers: portable accent-insensitive search.
    search_title = models.CharField(max_length=512, blank=True, default="", editable=False, db_index=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    genres = models.ManyToManyField(Genre, related_name="movies", blank=True)

    movielens_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    imdb_id = models.CharField(max_length=16, null=True, blank=True, unique=True, help_text="e.g. tt0114709")
    tmdb_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    amazon_asin = models.CharField(max_length=16, null=True, blank=True, unique=True)

    rating_count = models.PositiveIntegerField(default=0)
    # The sum of the ratings in half stars (value * 2): an integer, so adding and taking away one rating
    # is exact however many there are; rating_mean is derived from it and the count.
    rating_sum_half = models.PositiveBigIntegerField(default=0)
    rating_mean = models.FloatField(default=0.0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["-rating_count"], name="catalog_movie_popularity"),
            models.Index(fields=["year"], name="catalog_movie_year"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating_mean__gte=0) & Q(rating_mean__lte=5), name="catalog_movie_mean_in_range"
            ),
            models.CheckConstraint(
                condition=Q(year__isnull=True) | Q(year__gte=1870, year__lte=2100),
                name="catalog_movie_year_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title

    def save(self, *args, **kwargs):
        self.search_title = normalize_for_search(self.title)
        if kwargs.get("update_fields") is not None and "title" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_title"}
        super().save(*args, **kwargs)

    @property
    def imdb_url(self) -> str | None:
        return f"https://www.imdb.com/title/{self.imdb_id}/" if self.imdb_id else None

    @property
    def tmdb_url(self) -> str | None:
        return f"https://www.themoviedb.org/movie/{self.tmdb_id}" if self.tmdb_id else None
