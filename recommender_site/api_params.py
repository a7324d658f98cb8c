"""Input fields that mean exactly what the OpenAPI schema says, so clients (and schemathesis) can trust it.

DRF is lenient where the schema is strict: an empty query parameter silently means "use the default"
(the schema says an enum or an integer), a boolean accepts 0, 1, "yes" and "on" (the schema says
``boolean``), and ``?page=`` is page 1. Each is refused here with a message that says what to send.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import pagination, serializers
from rest_framework.request import Request

EMPTY_PARAMETER = "This parameter may not be empty: give a value or leave it out."


class QueryParamsSerializer(serializers.Serializer):
    """Query parameters: one given empty is refused, unless its field allows blank (e.g. ``q``)."""

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "get"):
            errors = {
                name: [EMPTY_PARAMETER]
                for name, field in self.fields.items()
                if data.get(name) == "" and not getattr(field, "allow_blank", False)
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


@extend_schema_field({"type": "boolean"})
class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only (DRF's BooleanField also takes 0, 1, "true", "on", ...)."""

    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data: Any) -> bool:
        if data is True or data is False:
            return data
        self.fail("invalid")
        raise AssertionError("unreachable")


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page numbers, but ``?page=`` (empty) is not page 1: it is 404 "Invalid page", like ``?page=abc``."""

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        value = request.query_params.get(self.page_query_param)
        if value == "":
            return "empty"  # fails Django's Paginator validation, so DRF answers its usual 404
        return super().get_page_number(request, paginator)
