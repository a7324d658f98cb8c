"""Movie serializers: the summary every other resource nests, the list row and the search query."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Movie
from catalog.selectors import ORDERINGS
from recommender_site.api_params import QueryParamsSerializer

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


@extend_schema_field({"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX, "multipleOf": 10})
class DecadeField(serializers.IntegerField):
    """A decade by its first year (1990); the schema says so too (multipleOf 10)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=YEAR_MIN, max_value=YEAR_MAX, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        value = super().to_internal_value(data)
        if value % 10:
            raise serializers.ValidationError("A decade is its first year, e.g. 1990.", code="invalid")
        return value


class MovieSearchQuerySerializer(QueryParamsSerializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        default="",
        help_text="Words of the title, any order; misspelt words and numbers as words match too.",
    )
    genre = serializers.CharField(required=False, max_length=64, help_text="A genre name, e.g. Comedy.")
    decade = DecadeField(required=False, help_text="First year of a decade, e.g. 1990.")
    year_min = serializers.IntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX)
    year_max = serializers.IntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX)
    ordering = serializers.ChoiceField(
        choices=list(ORDERINGS),
        required=False,
        default="relevance",
        help_text="Default: relevance (best title match first) with q, popularity without.",
    )
