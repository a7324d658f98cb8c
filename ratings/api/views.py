"""The caller's own ratings, hidden movies and watchlist: /api/v1/me/{ratings,hidden,watchlist}/{movie_id}/.

Every queryset is the caller's own (from a selector keyed by request.user), so nobody can even name
another member's rows. PUT creates or replaces (201 then 200: PUT twice is one row); DELETE answers
204 whether or not there was something to delete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.members import member_id
from catalog.api.views import ID_REGEX
from catalog.selectors import movie_summary
from ratings.models import HiddenMovie, Rating, WatchlistEntry
from ratings.selectors import hidden_for_user, rating_list_for_user, watchlist_for_user
from ratings.services import (
    hidden_add,
    hidden_remove,
    rating_delete,
    rating_upsert,
    watchlist_add,
    watchlist_remove,
)

from .serializers import (
    HiddenMovieOutputSerializer,
    RatingInputSerializer,
    RatingListQuerySerializer,
    RatingOutputSerializer,
    WatchlistEntryOutputSerializer,
)

_DATETIME = serializers.DateTimeField()
DELETED = OpenApiResponse(description="Gone (also when there was nothing to delete).")


def call_service(service: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a ratings service; an unknown movie becomes a 404, any other refusal a 400."""
    try:
        return service(**kwargs)
    except DjangoValidationError as exc:
        if getattr(exc, "code", None) == "unknown_movie":
            raise exceptions.NotFound(exc.messages[0], code="unknown_movie") from None
        raise


class OwnMovieRowsViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    # The caller's rows about movies, addressed by movie id.

    lookup_field = "movie_id"
    lookup_value_regex = ID_REGEX

    def movie_id(self) -> int:
        return int(self.kwargs["movie_id"])


@extend_schema_view(
    list=extend_schema(summary="Your ratings", parameters=[RatingListQuerySerializer]),
    retrieve=extend_schema(summary="Your rating of one movie"),
    update=extend_schema(
        summary="Rate a movie, or change your rating",
        request=RatingInputSerializer,
        responses={200: RatingOutputSerializer, 201: RatingOutputSerializer},
    ),
    destroy=extend_schema(summary="Remove your rating", responses={204: DELETED}),
)
class MyRatingViewSet(OwnMovieRowsViewSet):
    serializer_class = RatingOutputSerializer
    queryset = Rating.objects.none()  # for the schema: the real one is always the caller's

    def get_queryset(self) -> QuerySet[Rating]:
        ordering = "recent"
        if self.action == "list":
            params = RatingListQuerySerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            ordering = params.validated_data["ordering"]
        return rating_list_for_user(user_id=member_id(self.request), ordering=ordering)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = RatingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = call_service(
            rating_upsert,
            user_id=member_id(request),
            movie_id=self.movie_id(),
            value=serializer.validated_data["value"],
            with_movie=True,
        )
        # Rendered by hand in RatingOutputSerializer's shape (a test keeps them equal): the movie with its
        # genres comes with the write, and no nested serializers on the site's busiest write.
        rating = result.rating
        assert result.movie is not None  # asked for
        body = {
            "movie": movie_summary(result.movie),
            "value": rating.value,
            "created_at": _DATETIME.to_representation(rating.created_at),
            "updated_at": _DATETIME.to_representation(rating.updated_at),
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rating_delete(user_id=member_id(request), movie_id=self.movie_id())
        return Response(status=status.HTTP_204_NO_CONTENT)


class _MarkViewSet(OwnMovieRowsViewSet):
    # PUT adds the movie to the caller's list, DELETE takes it off.

    add: Callable[..., bool]
    remove: Callable[..., bool]

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        created = call_service(type(self).add, user_id=member_id(request), movie_id=self.movie_id())
        entry = self.get_object()
        serializer: BaseSerializer = self.get_serializer(entry)
        return Response(serializer.data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        type(self).remove(user_id=member_id(request), movie_id=self.movie_id())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Movies you hid from your recommendations"),
    retrieve=extend_schema(summary="Whether you hid one movie (404 if not)"),
    update=extend_schema(
        summary="Hide a movie from your recommendations",
        request=None,
        responses={200: HiddenMovieOutputSerializer, 201: HiddenMovieOutputSerializer},
    ),
    destroy=extend_schema(summary="Un-hide a movie", responses={204: DELETED}),
)
class MyHiddenViewSet(_MarkViewSet):
    serializer_class = HiddenMovieOutputSerializer
    queryset = HiddenMovie.objects.none()
    add = staticmethod(hidden_add)
    remove = staticmethod(hidden_remove)

    def get_queryset(self) -> QuerySet[HiddenMovie]:
        return hidden_for_user(user_id=member_id(self.request))


@extend_schema_view(
    list=extend_schema(summary="Your watchlist, newest first"),
    retrieve=extend_schema(summary="Whether a movie is on your watchlist (404 if not)"),
    update=extend_schema(
        summary="Put a movie on your watchlist",
        request=None,
        responses={200: WatchlistEntryOutputSerializer, 201: WatchlistEntryOutputSerializer},
    ),
    destroy=extend_schema(summary="Take a movie off your watchlist", responses={204: DELETED}),
)
class MyWatchlistViewSet(_MarkViewSet):
    serializer_class = WatchlistEntryOutputSerializer
    queryset = WatchlistEntry.objects.none()
    add = staticmethod(watchlist_add)
    remove = staticmethod(watchlist_remove)

    def get_queryset(self) -> QuerySet[WatchlistEntry]:
        return watchlist_for_user(user_id=member_id(self.request))
