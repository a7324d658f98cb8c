"""One JSON error shape for the whole API, wherever the error comes from.

Every error under /api/ is ``{"error": {"code": str, "message": str, "fields": {name: [messages]}}}``:
DRF exceptions (through ``api_exception_handler``), Django's 400/403/404/500 handlers, URLs that match
no route, and the OpenAPI schema (``schema_add_error_responses`` documents the shape on every
operation, so schema-driven clients and fuzzers know what to expect).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("recommender_site.api")

API_PREFIX = "/api/"

#: How long a client should wait before retrying when the database is unreachable (a restart or
#: fail-over usually takes seconds).
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE_MESSAGE = "The database is unreachable right now; try again in a few seconds."


def database_unavailable(exc: BaseException | None) -> bool:
    """An outage of the database (refused, restarting, connection dropped), not a bug: answer 503."""
    return isinstance(exc, OperationalError | InterfaceError)


def error_body(code: str, message: str, fields: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[Any]]:
    """{"a": {"b": ["x"]}, "c": [{"d": ["y"]}]} -> {"a.b": ["x"], "c.0.d": ["y"]} (ErrorDetails kept)."""
    if isinstance(detail, Mapping):
        flat: dict[str, list[Any]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, Mapping | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix: [item for item in items if item not in (None, "", [], {})]} if items else {}


def _validation_error_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    flat = {key: value for key, value in _flatten(exc.detail).items() if value}
    non_field_key = str(settings.REST_FRAMEWORK.get("NON_FIELD_ERRORS_KEY", "non_field_errors"))
    general = flat.pop("", []) + flat.pop(non_field_key, [])
    fields = {key: [str(message) for message in messages] for key, messages in flat.items()}
    if general:
        code = str(getattr(general[0], "code", None) or "invalid")
        message = " ".join(str(m) for m in general)
    else:
        code = "invalid"
        first_field, first_messages = next(iter(fields.items()), ("", ["The request is not valid."]))
        message = f"{first_field}: {first_messages[0]}" if first_field else first_messages[0]
    return error_body(code, message, fields)


def _from_django_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(
            {
                field: [exceptions.ErrorDetail(str(m), code=e.code or "invalid") for e in errors for m in e]
                for field, errors in exc.error_dict.items()
            }
        )
    return exceptions.ValidationError(
        [exceptions.ErrorDetail(str(m), code=e.code or "invalid") for e in exc.error_list for m in e]
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: DRF's own handling (status, WWW-Authenticate, Retry-After headers),
    then the body rewritten into the one error shape. Unexpected exceptions become a logged JSON 500
    (or propagate under DEBUG, for the technical page)."""
    if isinstance(exc, DjangoValidationError):
        exc = _from_django_validation_error(exc)
    if isinstance(exc, SuspiciousOperation):
        # Django's request limits, when a body or query string slips past RequestLimitsMiddleware (e.g. a
        # chunked body with no Content-Length): the client's doing, never a server error.
        if isinstance(exc, RequestDataTooBig):
            message = f"The request body is too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes are accepted."
            return Response(error_body("request_too_large", message), status=413)
        if isinstance(exc, TooManyFieldsSent):
            message = (
                f"Too many query parameters: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} are accepted."
            )
            return Response(error_body("too_many_parameters", message), status=400)
        return Response(error_body("bad_request", "The request could not be understood."), status=400)
    if database_unavailable(exc):
        logger.warning("Database unavailable in %s: %s", context.get("view"), exc)
        return Response(
            error_body("database_unavailable", DATABASE_UNAVAILABLE_MESSAGE),
            status=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        if settings.DEBUG:
            return None
        request = context.get("request")
        logger.error("Unhandled error in %s", context.get("view"), exc_info=exc)
        # Lets Django's test client re-raise it, so tests see the real traceback.
        got_request_exception.send(sender=None, request=getattr(request, "_request", request))
        return Response(error_body("server_error", "Something went wrong on our side."), status=500)
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_error_body(exc)
    else:
        if isinstance(exc, Http404):
            exc = exceptions.NotFound(*exc.args)
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied(*exc.args)
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(str(code), str(detail))
    return response


# --- Django's error views: JSON under /api/, the site's usual pages elsewhere -------------------------
# Wired in recommender_site/urls.py as handler400/403/404/500.


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        message = "You do not have permission to perform this action."
        return JsonResponse(error_body("permission_denied", message), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls handler500 inside its `except` block, so the exception is the one being handled.
    if database_unavailable(sys.exc_info()[1]):
        return service_unavailable(request)
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
    return defaults.server_error(request)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 while the database is down: JSON under /api/, a static page elsewhere (it renders without
    a context, so nothing on it touches the database)."""
    if _is_api(request):
        response: HttpResponse = JsonResponse(
            error_body("database_unavailable", DATABASE_UNAVAILABLE_MESSAGE), status=503
        )
    else:
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


@csrf_exempt  # nothing changes here, and a CSRF failure would answer with the site's HTML page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The catch-all for /api/ URLs that match no route: JSON even under DEBUG."""
    message = f"There is no API endpoint at {request.path}."
    if not request.path.endswith("/"):
        message += " API paths end with a slash."
    return JsonResponse(error_body("not_found", message), status=404)


# --- OpenAPI: the error shape, documented on every operation --------------------------------------------

ERROR_COMPONENT = "Error"
ERROR_SCHEMAS: dict[str, Any] = {
    ERROR_COMPONENT: {
        "type": "object",
        "description": "Every error response of the API has this shape.",
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
        "required": ["error"],
    },
    "ErrorDetail": {
        "type": "object",
        "properties": {
            "code": {
                "type": "string",
                "description": "Machine-readable, e.g. not_found, invalid, throttled.",
            },
            "message": {"type": "string", "description": "Human-readable, safe to show."},
            "fields": {
                "type": "object",
                "description": "Field name -> its messages; empty unless the input was invalid.",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
        "required": ["code", "message", "fields"],
    },
}
ERROR_DESCRIPTIONS = {
    "400": "Invalid input",
    "401": "Not authenticated (send `Authorization: Token <key>`)",
    "403": "Not allowed",
    "404": "Not found",
    "405": "Method not allowed",
    "409": "Conflict",
    "413": "Request body too large",
    "415": "Unsupported media type (send JSON)",
    "429": "Too many requests (see the Retry-After header)",
    "503": "A dependency is unavailable",
}
_METHODS = ("get", "put", "post", "delete", "patch")
#: The URL pattern of ids (catalog.api.views.ID_REGEX): at most 18 digits.
_ID_PATTERN = "^[0-9]{1,18}$"


def _integer_path_ids(parameters: list[dict[str, Any]]) -> None:
    """Ids in paths are matched by ID_REGEX, which drf-spectacular documents as a patterned string;
    say what clients actually send: a non-negative integer below 10**18."""
    for parameter in parameters:
        if parameter.get("in") == "path" and parameter.get("schema", {}).get("pattern") == _ID_PATTERN:
            parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}


def schema_add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular post-processing hook: document the error shape and the error statuses each
    operation can return (bad input, authentication, permission, missing object, throttling)."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
    error_content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for path, item in result.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = operation.get("parameters", []) + item.get("parameters", [])
            codes: set[str] = set()
            if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
                codes.add("400")
            if "requestBody" in operation:
                codes.add("415")
            _integer_path_ids(parameters)
            if any(
                scheme for scheme in operation.get("security", [])
            ):  # authenticated, permission-checked, throttled
                codes.update({"401", "403", "429"})
            if "{" in path or any(p.get("name") == "page" for p in parameters):
                codes.add("404")
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.startswith(("4", "5")) and "content" not in response:
                    response["content"] = error_content
    return result
