"""Movie serializers: the summary every other resource nests, the list row and the detail page."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Movie
from catalog.selectors import ORDERINGS
from ratings.models import HALF_STARS

YEAR_MIN, YEAR_MAX = 1800, 2200


class MovieSummaryOutputSerializer(serializers.ModelSerializer):
    genres: serializers.SlugRelatedField = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )

    class Meta:
        model = Movie
        fields = ["id", "title", "year", "genres", "rating_count", "rating_mean"]
        read_only_fields = fields


class MovieListOutputSerializer(MovieSummaryOutputSerializer):
    bayes_rating = serializers.FloatField(
        read_only=True,
        help_text="Mean rating shrunk towards the global mean; what 'rating' ordering sorts by.",
    )

    class Meta(MovieSummaryOutputSerializer.Meta):
        fields = [*MovieSummaryOutputSerializer.Meta.fields, "bayes_rating"]
        read_only_fields = fields


class RatingBucketOutputSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text="A half star, 0.5 to 5.0.")
    count = serializers.IntegerField()


class MovieStatsOutputSerializer(serializers.Serializer):
    rating_count = serializers.IntegerField()
    rating_mean = serializers.FloatField()
    bayes_rating = serializers.FloatField()
    histogram = RatingBucketOutputSerializer(many=True, help_text="Ratings on each half star.")


class MovieMemberStateOutputSerializer(serializers.Serializer):
    rating = serializers.FloatField(allow_null=True, help_text="Your rating, or null.")
    hidden = serializers.BooleanField()
    on_watchlist = serializers.BooleanField()
    predicted_stars = serializers.FloatField(
        allow_null=True, help_text="The model's guess of your rating; null without a model."
    )


class MovieDetailOutputSerializer(MovieSummaryOutputSerializer):
    imdb_url = serializers.URLField(read_only=True, allow_null=True)
    tmdb_url = serializers.URLField(read_only=True, allow_null=True)
    stats = serializers.SerializerMethodField()
    me = serializers.SerializerMethodField(
        help_text="What you did with this movie; null for anonymous requests."
    )

    class Meta(MovieSummaryOutputSerializer.Meta):
        fields = [
            *MovieSummaryOutputSerializer.Meta.fields,
            "movielens_id",
            "imdb_id",
            "imdb_url",
            "tmdb_id",
            "tmdb_url",
            "stats",
            "me",
        ]
        read_only_fields = fields

    @extend_schema_field(MovieStatsOutputSerializer)
    def get_stats(self, movie: Movie) -> dict[str, Any]:
        histogram = self.context.get("histogram", {})
        return {
            "rating_count": movie.rating_count,
            "rating_mean": movie.rating_mean,
            "bayes_rating": getattr(movie, "bayes_rating", movie.rating_mean),
            "histogram": [{"value": v, "count": histogram.get(v, 0)} for v in HALF_STARS],
        }

    @extend_schema_field(MovieMemberStateOutputSerializer(allow_null=True))
    def get_me(self, movie: Movie) -> dict[str, Any] | None:
        return self.context.get("member_state")


class MovieSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        default="",
        help_text="Words of the title, any order; misspelt words and numbers as words match too.",
    )
    genre = serializers.CharField(required=False, max_length=64, help_text="A genre name, e.g. Comedy.")
    decade = serializers.IntegerField(
        required=False, min_value=YEAR_MIN, max_value=YEAR_MAX, help_text="First year of a decade, e.g. 1990."
    )
    year_min = serializers.IntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX)
    year_max = serializers.IntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX)
    ordering = serializers.ChoiceField(
        choices=list(ORDERINGS),
        required=False,
        default="relevance",
        help_text="Default: relevance (best title match first) with q, popularity without.",
    )

    def validate_decade(self, value: int) -> int:
        if value % 10:
            raise serializers.ValidationError("A decade is its first year, e.g. 1990.", code="invalid")
        return value
