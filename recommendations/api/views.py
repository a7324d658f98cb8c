"""The model-backed API: your recommendations, similar movies, predicted stars, and (staff) training
runs and model versions. Model-backed extras degrade to fallbacks, never to a 500."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet, prefetch_related_objects
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.members import member_id
from catalog.api.serializers import MovieSummaryOutputSerializer
from catalog.api.views import ID_REGEX
from catalog.api.views import MovieViewSet as CatalogMovieViewSet
from catalog.models import Movie
from catalog.selectors import movie_summary
from ratings.selectors import rating_histogram_for_movie, user_movie_marks
from recommendations import caches, serving
from recommendations.models import ModelVersion, TrainingRun
from recommendations.registry import (
    EnqueueError,
    RetrainAlreadyRunning,
    model_version_activate_and_refresh,
    model_version_list,
    training_run_list,
    training_run_request,
)

from .permissions import IsStaff
from .serializers import (
    ModelActivateOutputSerializer,
    ModelVersionOutputSerializer,
    MovieDetailOutputSerializer,
    MovieSimilarQuerySerializer,
    RecommendationListOutputSerializer,
    RecommendationQuerySerializer,
    TrainingRunDetailOutputSerializer,
    TrainingRunInputSerializer,
    TrainingRunOutputSerializer,
)

logger = logging.getLogger(__name__)
_DATETIME = serializers.DateTimeField()


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class QueueUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "queue_unavailable"
    default_detail = "The task queue is unreachable; nothing was queued. Try again shortly."


# --- Movies: the catalogue's resource, plus what the model knows about them ---------------------------


@extend_schema_view(
    retrieve=extend_schema(
        summary="A movie with its rating statistics (and your marks and predicted stars, when logged in)"
    ),
)
class MovieViewSet(CatalogMovieViewSet):
    serializer_class = MovieDetailOutputSerializer

    def get_serializer_class(self) -> type[MovieSummaryOutputSerializer]:
        return MovieDetailOutputSerializer if self.action == "retrieve" else super().get_serializer_class()

    def member_state(self, movie: Movie) -> dict[str, Any] | None:
        """The caller's marks on ``movie`` and the model's guess of their rating (None when anonymous)."""
        if not self.request.user.is_authenticated:
            return None
        user_id = member_id(self.request)
        marks = user_movie_marks(user_id=user_id, movie_ids=[movie.pk])
        return {
            "rating": marks.ratings.get(movie.pk),
            "hidden": movie.pk in marks.hidden,
            "on_watchlist": movie.pk in marks.watchlist,
            "predicted_stars": serving.optional(
                "predicted stars", lambda: serving.predicted_stars(user_id=user_id, movie_id=movie.pk), None
            ),
        }

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        movie = self.get_object()
        context = {
            **self.get_serializer_context(),
            "histogram": rating_histogram_for_movie(movie_id=movie.pk),
            "member_state": self.member_state(movie),
        }
        return Response(MovieDetailOutputSerializer(movie, context=context).data)

    @extend_schema(
        summary="Movies similar to this one",
        parameters=[MovieSimilarQuerySerializer],
        responses=MovieSummaryOutputSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def similar(self, request: Request, pk: str | None = None) -> Response:
        params = MovieSimilarQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        movie = self.get_object()
        movies: list[Movie] = serving.optional(
            "similar movies",
            lambda: serving.movie_similar(
                movie_id=movie.pk,
                n=params.validated_data["n"],
                user_id=member_id(request) if request.user.is_authenticated else None,
            ),
            [],
        )
        prefetch_related_objects(movies, "genres")
        return Response(MovieSummaryOutputSerializer(movies, many=True).data)


# --- Your recommendations -----------------------------------------------------------------------------


class RecommendationListView(APIView):
    """Cached answers are served before DRF runs (no authentication query, no throttle bookkeeping,
    no serialisation): one cache round trip, zero SQL. Which requests may be answered so, and why it
    is safe, is decided in one place: `recommendations.caches.answer_cached`. Anything else takes the
    normal DRF path, and its answer is cached for the next request.

    Cache hits are not throttled: the throttle protects the database and CPU, and counting a hit would
    cost two more cache round trips (read and rewrite the history), tripling what the hit itself costs.
    Misses, which do the work, are throttled as before.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        body = caches.answer_cached(request)
        if body is not None:
            response = HttpResponse(body, content_type="application/json")
            response["Allow"] = ", ".join(self.allowed_methods)
            return response
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="me_recommendations_retrieve",
        tags=["me"],
        summary="Your recommendations",
        parameters=[RecommendationQuerySerializer],
        responses=RecommendationListOutputSerializer,
    )
    def get(self, request: Request) -> Response:
        params = RecommendationQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        user_id = member_id(request)
        slot = caches.answer_slot(request=request, user_id=user_id)
        recs = serving.recommendations_for_user(
            user_id=user_id,
            n=params.validated_data["n"],
            genre=params.validated_data.get("genre"),
            decade=params.validated_data.get("decade"),
            cards=True,
        )
        picks = [p for p in recs.picks if p.movie_id in recs.movies]
        stars = serving.pick_stars(user_id=user_id, recs=recs)
        # Rendered by hand, in RecommendationListOutputSerializer's shape (the schema; a test keeps the
        # two equal): its nested serializers cost more than the rest of the request.
        body = {
            "source": recs.source,
            "model_version_id": recs.model_version_id,
            "generated_at": _DATETIME.to_representation(recs.generated_at),
            "personal": recs.personal,
            "items": [
                {
                    "rank": rank,
                    "movie": movie_summary(recs.movies[p.movie_id]),
                    "score": p.score,
                    "predicted_stars": stars.get(p.movie_id),
                    "reason": p.reason,
                    "because_movie_id": p.because_movie_id,
                }
                for rank, p in enumerate(picks, start=1)
            ],
        }
        response = Response(body)
        if slot is not None:
            response = self.finalize_response(request, response)
            response.render()
            caches.answer_store(slot=slot, body=response.content)
        return response


# --- Staff: training runs and model versions -----------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Training runs, newest first"),
    retrieve=extend_schema(
        summary="One training run, with its log", responses=TrainingRunDetailOutputSerializer
    ),
    create=extend_schema(
        summary="Queue a retrain",
        request=TrainingRunInputSerializer,
        responses={
            202: TrainingRunOutputSerializer,
            409: OpenApiResponse(description="A retrain is already queued or running."),
            503: OpenApiResponse(description="The task queue is unreachable; nothing was queued."),
        },
        parameters=[
            OpenApiParameter(
                "Location", str, OpenApiParameter.HEADER, response=[202], description="The run's URL."
            )
        ],
    ),
)
class TrainingRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    permission_classes = [IsStaff]
    serializer_class = TrainingRunOutputSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self) -> QuerySet[TrainingRun]:
        return training_run_list()

    def get_serializer_class(self) -> type[TrainingRunOutputSerializer]:
        return TrainingRunDetailOutputSerializer if self.action == "retrieve" else TrainingRunOutputSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = TrainingRunInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            run = training_run_request(
                trigger=TrainingRun.Trigger.API,
                triggered_by_id=member_id(request),
                force=params.validated_data["force"],
            )
        except RetrainAlreadyRunning as exc:
            raise Conflict(str(exc), code="retrain_running") from None
        except EnqueueError:
            raise QueueUnavailable() from None
        run = self.get_queryset().get(pk=run.pk)
        data = TrainingRunOutputSerializer(run, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


@extend_schema_view(
    list=extend_schema(summary="Model versions, newest first"),
    retrieve=extend_schema(summary="One model version"),
)
class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsStaff]
    serializer_class = ModelVersionOutputSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return model_version_list()

    @extend_schema(
        summary="Make this version the one in service (promote, or roll back)",
        request=None,
        responses=ModelActivateOutputSerializer,
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        done = model_version_activate_and_refresh(version_id=self.get_object().pk)
        body = {"model": done.version, "changed": done.changed, "refresh_queued": done.refresh_queued}
        return Response(ModelActivateOutputSerializer(body).data)
