"""A movie as a member sees it, recommendations, similar movies, and the model registry (training runs,
model versions)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.api.serializers import DecadeField, MovieSummaryOutputSerializer
from catalog.models import Movie
from ratings.models import HALF_STARS
from recommendations.models import ModelVersion, TrainingRun
from recommender_site.api_params import QueryParamsSerializer, StrictBooleanField

MAX_RECOMMENDATIONS = 100
MAX_SIMILAR = 50


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


class RecommendationQuerySerializer(QueryParamsSerializer):
    n = serializers.IntegerField(required=False, default=20, min_value=1, max_value=MAX_RECOMMENDATIONS)
    genre = serializers.CharField(required=False, max_length=64, help_text="Only this genre, e.g. Comedy.")
    decade = DecadeField(required=False, help_text="Only this decade, e.g. 1990.")


class RecommendationItemOutputSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 for the best pick.")
    movie = MovieSummaryOutputSerializer()
    score = serializers.FloatField(help_text="The ranking score (model score, or popularity for a fallback).")
    predicted_stars = serializers.FloatField(
        allow_null=True, help_text="The model's guess of your rating, 0.5 to 5.0; null without a model."
    )
    reason = serializers.CharField(help_text="Why this movie, in words.")
    because_movie_id = serializers.IntegerField(
        allow_null=True, help_text="The movie you rated that explains this pick, if any."
    )


class RecommendationListOutputSerializer(serializers.Serializer):
    # A field named "source" (DRF removes declared fields from the class; the stubs do not know).
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="Where the list came from: 'model', or a fallback name ('popular', 'popular-in-your-genres')."
    )
    model_version_id = serializers.IntegerField(allow_null=True, help_text="The model version, for 'model'.")
    generated_at = serializers.DateTimeField()
    personal = serializers.BooleanField(help_text="Whether the list depends on your ratings.")
    items = RecommendationItemOutputSerializer(many=True)


class MovieSimilarQuerySerializer(QueryParamsSerializer):
    n = serializers.IntegerField(required=False, default=10, min_value=1, max_value=MAX_SIMILAR)


class TrainingRunOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    triggered_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    model_version_id = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "url",
            "status",
            "trigger",
            "triggered_by",
            "force",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "phase",
            "progress",
            "phase_seconds",
            "n_users",
            "n_movies",
            "n_ratings",
            "metrics_validation",
            "metrics_test",
            "baseline_metrics_test",
            "error",
            "model_version_id",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, run: TrainingRun) -> str:
        path = reverse("api:training-run-detail", args=[run.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_model_version_id(self, run: TrainingRun) -> int | None:
        version = getattr(run, "model_version", None)
        return version.pk if version is not None else None


class TrainingRunDetailOutputSerializer(TrainingRunOutputSerializer):
    class Meta(TrainingRunOutputSerializer.Meta):
        fields = [*TrainingRunOutputSerializer.Meta.fields, "log"]
        read_only_fields = fields


class TrainingRunInputSerializer(serializers.Serializer):
    force = StrictBooleanField(
        required=False, default=False, help_text="Train even when no rating changed since the active model."
    )


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    training_run_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "is_active",
            "activated_at",
            "created_at",
            "training_run_id",
            "data_fingerprint",
            "metrics",
            "config",
            "n_users",
            "n_movies",
            "n_ratings",
        ]
        read_only_fields = fields


class ModelActivateOutputSerializer(serializers.Serializer):
    model = ModelVersionOutputSerializer()
    changed = serializers.BooleanField(help_text="False when the version was already the active one.")
    refresh_queued = serializers.BooleanField(
        help_text="Whether recomputing every member's list with this version was queued."
    )
