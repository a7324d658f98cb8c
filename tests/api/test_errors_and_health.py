"""One JSON error shape everywhere under /api/ (DRF errors, unknown URLs, Django's error handlers,
unexpected exceptions); /healthz and /readyz."""

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from recommender_site import api_errors, health
from recommender_site.celery import app as celery_app

from .support import error_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/", "/api/v1/", "/api/v1/nothing/", "/api/v2/movies/", "/api/v1/movies"]
)
def test_unknown_api_urls_are_a_json_404(anon, path):
    response = anon.get(path)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert path in error["message"]


def test_trailing_slash_hint(anon):
    assert "end with a slash" in error_of(anon.get("/api/v1/movies"))["message"]


def test_unsupported_accept_is_answered_in_json(anon, db):
    response = anon.get("/api/v1/movies/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert error_of(response)["code"] == "not_acceptable"


def test_unexpected_exceptions_become_a_json_500(member_client, monkeypatch):
    from recommendations.api import views

    def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(views.serving, "recommendations_for_user", broken)
    member_client.raise_request_exception = False
    response = member_client.get("/api/v1/me/recommendations/")
    assert response.status_code == 500
    assert error_of(response) == {
        "code": "server_error",
        "message": "Something went wrong on our side.",
        "fields": {},
    }


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (api_errors.bad_request, 400, "bad_request"),
        (api_errors.permission_denied, 403, "permission_denied"),
        (api_errors.page_not_found, 404, "not_found"),
    ],
)
def test_django_error_handlers_answer_json_under_api_and_html_elsewhere(handler, status, code):
    api = handler(RequestFactory().get("/api/v1/x/"), Exception("x"))
    assert (api.status_code, api["Content-Type"]) == (status, "application/json")
    assert error_of(api)["code"] == code
    site = handler(RequestFactory().get("/movies/x/"), Exception("x"))
    assert site.status_code == status
    assert site["Content-Type"].startswith("text/html")


def test_server_error_handler(db):
    api = api_errors.server_error(RequestFactory().get("/api/v1/movies/"))
    assert api.status_code == 500
    assert error_of(api)["code"] == "server_error"
    assert api_errors.server_error(RequestFactory().get("/")).status_code == 500


def test_validation_errors_are_flattened_field_by_field():
    from rest_framework.exceptions import ErrorDetail, ValidationError

    exc = ValidationError(
        {
            "a": [ErrorDetail("bad a", code="invalid")],
            "b": {"c": [ErrorDetail("bad c", code="invalid")]},
            "non_field_errors": [ErrorDetail("all wrong", code="mismatch")],
        }
    )
    body = api_errors._validation_error_body(exc)
    assert body == {
        "error": {"code": "mismatch", "message": "all wrong", "fields": {"a": ["bad a"], "b.c": ["bad c"]}}
    }


def test_healthz(anon):
    response = anon.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_reports_every_dependency(anon):
    response = anon.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "cache", "broker", "model"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True
    assert body["checks"]["model"] == {
        "serving": "fallback",
        "active_version_id": None,
        "activated_at": None,
        "artifact_present": None,
    }


def test_readyz_is_503_when_the_database_is_unreachable(anon, monkeypatch):
    def down():
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(health, "_database", down)
    response = anon.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert "Connection refused" in body["checks"]["database"]["detail"]
    assert body["checks"]["model"]["serving"] == "unknown"


def test_readyz_reports_an_unreachable_broker_without_failing(anon, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = anon.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["ok"] is False


def test_readyz_reports_the_active_model(anon, tmp_path):
    from recommendations.models import ModelVersion
    from recommendations.registry import model_version_activate

    version = ModelVersion.objects.create(artifact_path=str(tmp_path), data_fingerprint="x")
    model_version_activate(version_id=version.pk)
    model = anon.get("/readyz").json()["checks"]["model"]
    assert (model["serving"], model["active_version_id"], model["artifact_present"]) == (
        "model",
        version.pk,
        True,
    )


def test_probes_ignore_credentials_and_throttles(anon, db):
    anon.credentials(HTTP_AUTHORIZATION="Token bogus")
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/readyz").status_code == 200
