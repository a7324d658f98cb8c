"""Movie serializers: the summary every other resource nests, the list row and the search query."""

from __future__ import annotations

from rest_framework import serializers

from catalog.models import Movie
from catalog.selectors import ORDERINGS

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


class MovieSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        default="",
        help_text="Words of the title, any order.",
    )
    genre = serializers.CharField(required=False, max_length=64, help_text="A genre name, e.g. Comedy.")
    decade = serializers.IntegerField(
        required=False, min_value=YEAR_MIN, max_value=YEAR_MAX, help_text="First year of a decade, e.g. 1990."
    )
    year_min = serializers.IntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX)
    year_max = serializers.IntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX)
    ordering = serializers.ChoiceField(
        choices=list(ORDERINGS), required=False, default="popularity", help_text="Default: popularity."
    )

    def validate_decade(self, value: int) -> int:
        if value % 10:
            raise serializers.ValidationError("A decade is its first year, e.g. 1990.", code="invalid")
        return value
