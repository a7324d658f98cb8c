"""Schemathesis (a third-party, schema-driven fuzzer) against the live schema of a live server, as a staff
member, as a member and anonymously, with every check it has: no server errors, every response matches
the schema (status code, content type, headers, body), input the schema forbids is refused and input it
allows is accepted. Bounded examples per operation, so each run finishes in a couple of minutes."""

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
CHECKS = "all"
# Sign-up, log-in and password change refuse some schema-valid bodies by design: a wrong password, a
# common password, a taken name. No schema can say which, so a 400 there is an acceptable answer to
# valid-looking data (every other check still applies to them, and to every other operation in full).
CONFIG = """
[[operations]]
include-operation-id = ["auth_register", "auth_token_create", "auth_password_change"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "429"]
"""


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
    member = UserFactory.create(username="member-fuzzer")
    for movie in movies[:5]:
        rating_upsert(user_id=staff.pk, movie_id=movie.pk, value=4)
        rating_upsert(user_id=member.pk, movie_id=movie.pk, value=3.5)
    ModelVersion.objects.create(artifact_path="/nonexistent/v1", data_fingerprint="x")
    return {
        "staff": AuthToken.objects.create(user=staff)[1],
        "member": AuthToken.objects.create(user=member)[1],
        "anonymous": None,
    }


@pytest.mark.parametrize("who", ["staff", "member", "anonymous"])
def test_the_api_survives_schemathesis(live_server, world, tmp_path, who):
    token = world[who]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    no_limits = {"anon": None, "user": None, "token": None}
    from django.conf import settings

    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{live_server.url}/api/schema/",
        *(["--header", f"Authorization: Token {token}"] if token else []),
        "--checks",
        CHECKS,
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
        # Revoking the token would log the fuzzer out for the rest of the run; tests/api/test_auth.py and
        # tests/reliability/test_hardening.py cover them.
        "--exclude-operation-id",
        "auth_token_delete",
        "--exclude-operation-id",
        "auth_tokens_delete_all",
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
    # The figures for docs/RELIABILITY.md (shown with `pytest -s`): cases generated and failures found.
    lines = output.splitlines()
    print(who, *(lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if line.strip() == "Test cases:"))
