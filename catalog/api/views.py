"""Browse and search the catalogue (open to everyone)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import Movie
from catalog.selectors import movie_search
from ratings.selectors import rating_histogram_for_movie, user_movie_marks

from .serializers import (
    MovieDetailOutputSerializer,
    MovieListOutputSerializer,
    MovieSearchQuerySerializer,
    MovieSummaryOutputSerializer,
)

#: Ids in URLs: at most 18 digits, so no number from a URL overflows a 64-bit database column.
ID_REGEX = r"[0-9]{1,18}"


@extend_schema_view(
    list=extend_schema(
        summary="Search and filter movies",
        parameters=[MovieSearchQuerySerializer],
        responses=MovieListOutputSerializer(many=True),
    ),
    retrieve=extend_schema(summary="A movie with its rating statistics (and your marks, when logged in)"),
)
class MovieViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    serializer_class = MovieDetailOutputSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self) -> QuerySet[Movie]:
        if self.action == "list":
            params = MovieSearchQuerySerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            data = params.validated_data
            return movie_search(
                query=data["q"],
                genre=data.get("genre"),
                decade=data.get("decade"),
                year_min=data.get("year_min"),
                year_max=data.get("year_max"),
                ordering=data["ordering"],
            )
        return movie_search()

    def get_serializer_class(self) -> type[MovieSummaryOutputSerializer]:
        return MovieListOutputSerializer if self.action == "list" else MovieDetailOutputSerializer

    def member_state(self, movie: Movie) -> dict[str, Any] | None:
        """The caller's marks on ``movie`` (None when anonymous)."""
        user = self.request.user
        if not user.is_authenticated:
            return None
        marks = user_movie_marks(user_id=user.pk, movie_ids=[movie.pk])
        return {
            "rating": marks.ratings.get(movie.pk),
            "hidden": movie.pk in marks.hidden,
            "on_watchlist": movie.pk in marks.watchlist,
            "predicted_stars": None,
        }

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        movie = self.get_object()
        context = {
            **self.get_serializer_context(),
            "histogram": rating_histogram_for_movie(movie_id=movie.pk),
            "member_state": self.member_state(movie),
        }
        return Response(MovieDetailOutputSerializer(movie, context=context).data)
