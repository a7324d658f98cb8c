"""docs/API.md stays true: its ```sh blocks run, top to bottom in one shell, with real curl against a
live server, and its Python example runs too."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from knox.models import AuthToken

from ratings.models import HiddenMovie, Rating
from recommendations import tasks
from recommendations.models import ModelVersion, TrainingRun
from tests.factories import GenreFactory, MovieFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


class _FakeResult:
    id = "docs"


@pytest.fixture
def site(live_server, monkeypatch, tmp_path):
    monkeypatch.setattr(tasks.retrain, "apply_async", lambda **kw: _FakeResult())
    monkeypatch.setattr(tasks.refresh_all, "apply_async", lambda **kw: _FakeResult())
    comedy = GenreFactory.create(name="Comedy")
    for title, year, count in [("Toy Story", 1995, 300), ("Babe", 1995, 200), ("Aladdin", 1992, 250)]:
        MovieFactory.create(title=title, year=year, rating_count=count, rating_mean=4.0).genres.add(comedy)
    MovieFactory.create_batch(12, year=1990, rating_count=10)
    ModelVersion.objects.create(artifact_path=str(tmp_path / "no-model"), data_fingerprint="x")
    staff = UserFactory.create(username="boss", is_staff=True)
    return {"BASE": live_server.url, "STAFF_TOKEN": AuthToken.objects.create(user=staff)[1]}


def test_the_curl_walk_through_runs_as_written(site):
    script = "\n".join(blocks("sh"))
    assert script.count("curl ") >= 20
    env = {**os.environ, **site}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    # The error examples printed the JSON error shape.
    assert '"error":{"code":"invalid"' in out
    assert '"error":{"code":"not_authenticated"' in out
    assert out.rstrip().endswith("204")
    ada_ratings = Rating.objects.filter(user__username="ada")
    assert [(r.movie.title, r.value) for r in ada_ratings] == [("Toy Story", 4.5)]
    assert HiddenMovie.objects.filter(user__username="ada").count() == 1
    assert TrainingRun.objects.filter(trigger="api").count() == 1
    assert ModelVersion.objects.get().is_active
    assert not AuthToken.objects.filter(user__username="ada").exists()


def test_the_python_example_runs(site):
    (code,) = blocks("python")
    member = UserFactory.create()
    token = AuthToken.objects.create(user=member)[1]
    exec(code, {"token": token, "base": site["BASE"]})
    assert Rating.objects.get(user=member).value == 4.5


def test_every_endpoint_in_the_schema_is_documented(anon):
    text = DOC.read_text()
    schema = anon.get("/api/schema/", {"format": "json"}).json()
    for path in schema["paths"]:
        assert path in text, path
