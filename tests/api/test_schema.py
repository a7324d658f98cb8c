"""The OpenAPI schema: valid without warnings, served at /api/schema/, with Swagger UI at /api/docs/,
and listing every path and method of the contract."""

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

CONTRACT = {
    "/api/v1/auth/register/": {"post"},
    "/api/v1/auth/token/": {"post", "delete"},
    "/api/v1/auth/tokens/": {"get", "delete"},
    "/api/v1/auth/password/": {"post"},
    "/api/v1/auth/tokens/{key_prefix}/": {"delete"},
    "/api/v1/movies/": {"get"},
    "/api/v1/movies/{id}/": {"get"},
    "/api/v1/movies/{id}/similar/": {"get"},
    "/api/v1/me/ratings/": {"get"},
    "/api/v1/me/ratings/{movie_id}/": {"get", "put", "delete"},
    "/api/v1/me/hidden/": {"get"},
    "/api/v1/me/hidden/{movie_id}/": {"get", "put", "delete"},
    "/api/v1/me/watchlist/": {"get"},
    "/api/v1/me/watchlist/{movie_id}/": {"get", "put", "delete"},
    "/api/v1/me/recommendations/": {"get"},
    "/api/v1/training-runs/": {"get", "post"},
    "/api/v1/training-runs/{id}/": {"get"},
    "/api/v1/models/": {"get"},
    "/api/v1/models/{id}/": {"get"},
    "/api/v1/models/{id}/activate/": {"post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = {
        path: set(item) & {"get", "put", "post", "delete", "patch"} for path, item in schema["paths"].items()
    }
    assert paths == CONTRACT


def test_schema_and_docs_are_served(anon):
    response = anon.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == set(CONTRACT)
    assert anon.get("/api/schema/").status_code == 200  # YAML by default
    docs = anon.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_every_operation_documents_the_error_shape(anon):
    schema = anon.get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
            if path not in ("/healthz", "/readyz"):
                assert {"401", "403", "429"} <= set(errors), (path, method)
            for code, response in errors.items():
                if (path, code) != ("/readyz", "503"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (path, method, code)
