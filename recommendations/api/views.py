"""The model-backed API: your recommendations, similar movies, predicted stars, and (staff) training
runs and model versions. Model-backed extras degrade to fallbacks, never to a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import QuerySet, prefetch_related_objects
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from knox.models import AuthToken
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import MovieSummaryOutputSerializer
from catalog.api.views import ID_REGEX
from catalog.api.views import MovieViewSet as CatalogMovieViewSet
from catalog.models import Movie
from ratings.api.views import member_id
from recommendations.models import ModelVersion, TrainingRun
from recommendations.selectors import (
    RESPONSE_PARAMS,
    model_version_list,
    movie_similar,
    predicted_stars,
    predicted_stars_many,
    recommendations_cached_response,
    recommendations_for_user,
    training_run_list,
)
from recommendations.services import (
    EnqueueError,
    RetrainAlreadyRunning,
    model_version_activate_and_refresh,
    recommendation_response_slot,
    recommendation_response_store,
    training_run_request,
)

from .permissions import IsStaff
from .serializers import (
    ModelActivateOutputSerializer,
    ModelVersionOutputSerializer,
    MovieSimilarQuerySerializer,
    RecommendationListOutputSerializer,
    RecommendationQuerySerializer,
    TrainingRunDetailOutputSerializer,
    TrainingRunInputSerializer,
    TrainingRunOutputSerializer,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


def optional(what: str, compute: Callable[[], T], default: T) -> T:
    """A model-backed extra that fails is logged and left out; the response still succeeds."""
    try:
        return compute()
    except Exception:
        logger.exception("Could not compute %s; answering without it", what)
        return default


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class QueueUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "queue_unavailable"
    default_detail = "The task queue is unreachable; nothing was queued. Try again shortly."


# --- Movies: the catalogue's resource, plus what the model knows about them ---------------------------


class MovieViewSet(CatalogMovieViewSet):
    def member_state(self, movie: Movie) -> dict[str, Any] | None:
        state = super().member_state(movie)
        if state is not None:
            user_id = member_id(self.request)
            state["predicted_stars"] = optional(
                "predicted stars", lambda: predicted_stars(user_id=user_id, movie_id=movie.pk), None
            )
        return state

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
        movies: list[Movie] = optional(
            "similar movies", lambda: movie_similar(movie_id=movie.pk, n=params.validated_data["n"]), []
        )
        prefetch_related_objects(movies, "genres")
        return Response(MovieSummaryOutputSerializer(movies, many=True).data)


# --- Your recommendations -----------------------------------------------------------------------------


def _bearer_token(request: HttpRequest) -> str | None:
    """The key of an `Authorization: Token <key>` header, parsed as DRF's TokenAuthentication does."""
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    parts = (header.encode("iso-8859-1") if isinstance(header, str) else header).split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode()
    except UnicodeError:
        return None


def _accepts_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    return not accept or any(kind in accept for kind in ("application/json", "*/*", "application/*"))


class RecommendationListView(APIView):
    """Cached answers are served before DRF runs (no authentication query, no throttle bookkeeping,
    no serialisation): one cache round trip, zero SQL. Anything unusual takes the normal DRF path.

    Cache hits are not throttled: the throttle protects the database and CPU, and counting a hit would
    cost two more cache round trips (read and rewrite the history), tripling what the hit itself costs.
    Misses, which do the work, are throttled as before.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "GET" and _accepts_json(request) and set(request.GET) <= RESPONSE_PARAMS:
            token_key = _bearer_token(request)
            if token_key:
                hit = recommendations_cached_response(
                    token_key=token_key, query_string=request.META.get("QUERY_STRING", "")
                )
                if hit is not None:
                    response = HttpResponse(hit.body, content_type="application/json")
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
        slot = None
        auth = request.auth
        token_key = _bearer_token(request) if isinstance(auth, AuthToken) else None
        if token_key and isinstance(auth, AuthToken) and set(request.query_params) <= RESPONSE_PARAMS:
            slot = recommendation_response_slot(
                token_key=token_key,
                user_id=user_id,
                query_string=request.META.get("QUERY_STRING", ""),
                token_expiry=auth.expiry,
            )
        recs = recommendations_for_user(
            user_id=user_id,
            n=params.validated_data["n"],
            genre=params.validated_data.get("genre"),
            decade=params.validated_data.get("decade"),
        )
        picks = [p for p in recs.picks if p.movie_id in recs.movies]
        movies = [recs.movies[p.movie_id] for p in picks]
        prefetch_related_objects(movies, "genres")
        stars: dict[int, float] = optional(
            "predicted stars",
            lambda: predicted_stars_many(user_id=user_id, movie_ids=[p.movie_id for p in picks]),
            {},
        )
        body = {
            "source": recs.source,
            "model_version_id": recs.model_version_id,
            "generated_at": recs.generated_at,
            "personal": recs.personal,
            "items": [
                {
                    "rank": rank,
                    "movie": recs.movies[p.movie_id],
                    "score": p.score,
                    "predicted_stars": stars.get(p.movie_id),
                    "reason": p.reason,
                    "because_movie_id": p.because_movie_id,
                }
                for rank, p in enumerate(picks, start=1)
            ],
        }
        response = Response(RecommendationListOutputSerializer(body).data)
        if slot is not None:
            response = self.finalize_response(request, response)
            response.render()
            recommendation_response_store(slot=slot, body=response.content)
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
