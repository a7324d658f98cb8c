"""Schemathesis (a third-party, schema-driven fuzzer) against the live schema of a live server, with an
authenticated staff member: no server errors, and every response matches the schema (status code,
content type, headers, body). Bounded examples per operation, so it finishes in a couple of minutes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from knox.models import AuthToken

from catalog.models import Genre
from ratings.services import rating_upsert
from recommendations import tasks
from recommendations.models import ModelVersion
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


class _FakeResult:
    id = "fuzz"


@pytest.fixture
def world(live_server, monkeypatch):
    """Movies, ratings and model versions to find; a staff member's token; a broker that only records
    (the fuzzer must not queue real retrains on a shared broker)."""
    monkeypatch.setattr(tasks.retrain, "apply_async", lambda **kw: _FakeResult())
    monkeypatch.setattr(tasks.refresh_all, "apply_async", lambda **kw: _FakeResult())
    comedy = Genre.objects.create(name="Comedy")
    movies = [MovieFactory.create(title=f"Film {i}", year=1980 + i) for i in range(1, 30)]
    for movie in movies[:10]:
        movie.genres.add(comedy)
    staff = UserFactory.create(username="fuzzer", is_staff=True)
    for movie in movies[:5]:
        rating_upsert(user_id=staff.pk, movie_id=movie.pk, value=4)
    ModelVersion.objects.create(artifact_path="/nonexistent/v1", data_fingerprint="x")
    return AuthToken.objects.create(user=staff)[1]


def test_the_api_survives_schemathesis(live_server, world, tmp_path):
    no_limits = {"anon": None, "user": None, "token": None}
    from django.conf import settings

    command = [
        str(SCHEMATHESIS),
        "run",
        f"{live_server.url}/api/schema/",
        "--header",
        f"Authorization: Token {world}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"),
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "20240601"),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        # Revoking the token would log the fuzzer out for the rest of the run; tests/api/test_auth.py covers it.
        "--exclude-operation-id",
        "auth_token_delete",
        "--no-color",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "",
        "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis"),
    }
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": no_limits}):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "passed" in output
