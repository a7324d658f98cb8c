"""Browse and search the catalogue (open to everyone). The registered viewset is
`recommendations.api.views.MovieViewSet`, which adds what a member sees of a movie."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.permissions import AllowAny

from catalog.models import Movie
from catalog.selectors import movie_search

from .serializers import (
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
)
class MovieViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    serializer_class = MovieSummaryOutputSerializer
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
        return MovieListOutputSerializer if self.action == "list" else MovieSummaryOutputSerializer
