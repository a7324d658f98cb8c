"""Health checks for load balancers and orchestrators.

/healthz: the process is up and serving (touches nothing else). /readyz: the database answers (503 if
not, so traffic goes elsewhere), and the state of the cache, the task broker and the model, which
are reported but do not fail readiness: the site degrades gracefully without them (no cache: slower;
no broker: no retrains or refreshes; no model: fallback recommendations).
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommendations.registry import active_version
from recommender_site.celery import app

logger = logging.getLogger(__name__)
BROKER_TIMEOUT_SECONDS = 2.0


class HealthOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])


class ReadinessCheckOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    detail = serializers.CharField(help_text="What was found, or the error.")


class ModelStateOutputSerializer(serializers.Serializer):
    serving = serializers.ChoiceField(
        choices=["model", "fallback", "unknown"], help_text="fallback: no active model, popularity lists."
    )
    active_version_id = serializers.IntegerField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    artifact_present = serializers.BooleanField(allow_null=True)


class ReadinessChecksOutputSerializer(serializers.Serializer):
    database = ReadinessCheckOutputSerializer()
    cache = ReadinessCheckOutputSerializer()
    broker = ReadinessCheckOutputSerializer()
    model = ModelStateOutputSerializer()


class ReadinessOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ready", "unavailable"], help_text="unavailable: the database is down."
    )
    checks = ReadinessChecksOutputSerializer()


class _Probe(APIView):
    # No authentication, permission or throttling: probes must answer cheaply and always.

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []


class HealthView(_Probe):
    @extend_schema(
        operation_id="healthz", tags=["health"], summary="The process is up", responses=HealthOutputSerializer
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def _check(what: str, probe: Any) -> dict[str, Any]:
    try:
        return {"ok": True, "detail": str(probe())}
    except Exception as exc:
        logger.warning("Readiness: %s check failed: %s", what, exc)
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"{connection.vendor} reachable"


def _cache() -> str:
    key, value = f"readyz:{uuid.uuid4().hex}", time.time()
    cache.set(key, value, 10)
    found = cache.get(key)
    cache.delete(key)
    if found != value:
        raise RuntimeError("a value written was not read back")
    return f"{settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]} read/write ok"


def _broker() -> str:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        return f"{conn.transport_cls} reachable"


def _model(database_ok: bool) -> dict[str, Any]:
    state: dict[str, Any] = {
        "serving": "unknown",
        "active_version_id": None,
        "activated_at": None,
        "artifact_present": None,
    }
    if not database_ok:
        return state

    try:
        version = active_version()
    except Exception:
        logger.warning("Readiness: could not read the active model", exc_info=True)
        return state
    if version is None:
        return {**state, "serving": "fallback"}
    present = Path(version.artifact_path).is_dir()
    return {
        "serving": "model" if present else "fallback",
        "active_version_id": version.pk,
        "activated_at": version.activated_at,
        "artifact_present": present,
    }


class ReadinessView(_Probe):
    @extend_schema(
        operation_id="readyz",
        tags=["health"],
        summary="Ready for traffic: the database answers (cache, broker and model are reported)",
        responses={200: ReadinessOutputSerializer, 503: ReadinessOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        database = _check("database", _database)
        checks = {
            "database": database,
            "cache": _check("cache", _cache),
            "broker": _check("broker", _broker),
            "model": _model(database["ok"]),
        }
        ready = database["ok"]
        body = ReadinessOutputSerializer(
            {"status": "ready" if ready else "unavailable", "checks": checks}
        ).data
        return Response(body, status=200 if ready else 503)
