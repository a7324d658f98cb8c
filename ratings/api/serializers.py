"""A member's ratings, hidden movies and watchlist."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.api.serializers import MovieSummaryOutputSerializer
from ratings.models import MAX_RATING, MIN_RATING, HiddenMovie, Rating, WatchlistEntry
from ratings.selectors import RATING_ORDERINGS
from ratings.services import rating_value_clean
from recommender_site.api_params import QueryParamsSerializer


@extend_schema_field(
    {"type": "number", "format": "double", "minimum": MIN_RATING, "maximum": MAX_RATING, "multipleOf": 0.5}
)
class HalfStarField(serializers.FloatField):
    """0.5 to 5.0 in steps of 0.5, judged by the same rule as every other way of rating; true/false
    are not numbers here (Python would take True for 1.0)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=MIN_RATING, max_value=MAX_RATING, **kwargs)

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        try:
            return rating_value_clean(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from None


class RatingInputSerializer(serializers.Serializer):
    value = HalfStarField(help_text="Half stars: 0.5, 1.0, ..., 5.0.")


class RatingListQuerySerializer(QueryParamsSerializer):
    ordering = serializers.ChoiceField(
        choices=list(RATING_ORDERINGS), required=False, default="recent", help_text="Default: recent."
    )


class RatingOutputSerializer(serializers.ModelSerializer):
    movie = MovieSummaryOutputSerializer(read_only=True)

    class Meta:
        model = Rating
        fields = ["movie", "value", "created_at", "updated_at"]
        read_only_fields = fields


class HiddenMovieOutputSerializer(serializers.ModelSerializer):
    movie = MovieSummaryOutputSerializer(read_only=True)

    class Meta:
        model = HiddenMovie
        fields = ["movie", "created_at"]
        read_only_fields = fields


class WatchlistEntryOutputSerializer(serializers.ModelSerializer):
    movie = MovieSummaryOutputSerializer(read_only=True)

    class Meta:
        model = WatchlistEntry
        fields = ["movie", "created_at"]
        read_only_fields = fields
