"""Requests too absurd to reach a view: answered here with a 4xx that says what is wrong.

Django raises ``TooManyFieldsSent`` (more than ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` query parameters) and
``RequestDataTooBig`` (a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``) lazily, wherever ``request.GET`` or
the body is first read: inside DRF's view (whose handler does not know them: a 500), inside a
template, or inside the DEBUG error page itself. Checking both before any view runs gives one clear
answer everywhere. The admin's list filters are the third case: a filter value the database cannot
take (``?updated_at__year=99999999``, a NUL byte on PostgreSQL) fails while the list is counted.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape

from .api_errors import API_PREFIX, error_body


def _refusal(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body(code, message), status=status)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bad request</title></head>'
        f'<body><h1>Bad request</h1><p>{escape(message)}</p><p><a href="/">Go home</a></p></body></html>'
    )
    return HttpResponse(page, status=status)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        try:
            request.GET  # noqa: B018 (parsed here, once, under the limit)
        except TooManyFieldsSent:
            message = f"Too many query parameters: at most {limit} are accepted."
            return _refusal(request, 400, "too_many_parameters", message)
        max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        content_type = request.META.get("CONTENT_TYPE", "")
        # Multipart uploads are streamed to disk and bounded per field by Django itself.
        too_large = max_body is not None and _declared_length(request) > max_body
        if too_large and not content_type.startswith("multipart/"):
            message = f"The request body is too large: at most {max_body} bytes are accepted."
            return _refusal(request, 413, "request_too_large", message)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """An admin list filter with a value the database refuses: 400 naming the filters, not 500."""
        match = getattr(request, "resolver_match", None)
        if (
            match is None
            or match.namespace != "admin"
            or not str(match.url_name).endswith("_changelist")
            or not request.GET
            or not isinstance(exception, ValueError | OverflowError | DataError)
        ):
            return None
        names = ", ".join(sorted(request.GET)[:10])
        message = f"A list filter has a value this list cannot be filtered by ({names}): {exception}"
        return _refusal(request, 400, "invalid_filter", message)
