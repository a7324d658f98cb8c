"""End-to-end smoke test of the production stack, run for real: `scripts/stack.sh` (gunicorn, the
default and training Celery workers, beat) on the local PostgreSQL and Redis with the production
settings; a dataset loaded with the real importer; a member signs up and rates over HTTP; staff
triggers a retrain through the API; the member gets personal picks from the new model version."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.recommendations.conftest import TINY_TRAIN_CONFIG

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STACK_DB = f"recommender_stack_smoke_{os.getpid()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def planted_movielens(folder: Path) -> None:
    """A small ml-latest style dataset: three genre clusters, users who love one cluster each."""
    folder.mkdir()
    genres = ["Action", "Comedy", "Drama"]
    movies = ["movieId,title,genres"]
    for g, genre in enumerate(genres):
        for k in range(15):
            movies.append(f"{g * 100 + k + 1},{genre} Story {k} ({1990 + k}),{genre}")
    ratings = ["userId,movieId,rating,timestamp"]
    t = 1_000_000_000
    for g in range(3):
        for u in range(20):
            user = g * 20 + u + 1
            for k in range(12):
                movie = g * 100 + (u + k) % 15 + 1
                t += 60
                ratings.append(f"{user},{movie},{4.5 if k % 2 else 5.0},{t}")
            other = ((g + 1) % 3) * 100 + u % 15 + 1
            ratings.append(f"{user},{other},1.5,{t + 30}")
    (folder / "movies.csv").write_text("\n".join(movies) + "\n")
    (folder / "ratings.csv").write_text("\n".join(ratings) + "\n")


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Token {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else {}


@pytest.fixture
def stack_env(tmp_path):
    port = free_port()
    prefix = secrets.token_hex(4)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "CACHE_URL"))},
        "STACK_DB": STACK_DB,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{STACK_DB}",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "CACHE_REDIS_URL": "redis://127.0.0.1:6379/12",
        "PORT": str(port),
        "GUNICORN_WORKERS": "2",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "MODEL_DIR": str(tmp_path / "models"),
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "RECOMMENDATIONS_TRAIN_CONFIG": json.dumps(TINY_TRAIN_CONFIG),
        "RECOMMENDATIONS_TEST_HOLDOUT": "3",
        "API_THROTTLE_ANON": "1000/min",
        "API_THROTTLE_USER": "1000/min",
        "API_THROTTLE_TOKEN": "1000/min",
        "DJANGO_SUPERUSER_PASSWORD": "staff-" + secrets.token_urlsafe(12),
        # Keys of their own, so a concurrent run elsewhere on this machine never shares queues or cache.
        "CELERY_KEY_PREFIX": f"smoke-{prefix}:",
        "CACHE_KEY_PREFIX": f"smoke-{prefix}",
    }
    subprocess.run(["./scripts/ensure-services.sh"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [
            "psql",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "-qc",
            f'DROP DATABASE IF EXISTS "{STACK_DB}"',
        ],
        check=True,
        capture_output=True,
    )
    return env


def manage(env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE":
        "recommender_site.settings.production", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_stack_serves_personal_picks_from_a_model_retrained_through_the_api(stack_env, tmp_path):
    log = tmp_path / "stack.log"
    stack = subprocess.Popen(
        ["./scripts/stack.sh"], cwd=ROOT, env=stack_env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    api = Api(f"http://127.0.0.1:{stack_env['PORT']}")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if api.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert stack.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the stack did not become ready:\n" + log.read_text()[-3000:]
            time.sleep(1)
        for name in ("web.1", "worker.1", "worker-ml.1", "beat.1"):
            assert f"{name} " in log.read_text() or f"{name}|" in log.read_text(), log.read_text()[-2000:]

        data = tmp_path / "ml-small"
        planted_movielens(data)
        loaded = manage(stack_env, "load_movielens", str(data), "--format", "ml-latest")
        assert loaded.returncode == 0, loaded.stderr
        staff = manage(
            stack_env, "createsuperuser", "--noinput", "--username", "staff", "--email", "s@example.com"
        )
        assert staff.returncode == 0, staff.stderr

        status, body = api.call(
            "POST", "/api/v1/auth/register/", {"username": "ada", "password": "a-Long-pass-42!"}
        )
        assert status == 201, body
        member = body["token"]
        status, movies = api.call("GET", "/api/v1/movies/?q=Comedy+Story", token=member)
        assert status == 200, movies
        for movie in movies["results"][:5]:
            assert api.call("PUT", f"/api/v1/me/ratings/{movie['id']}/", {"value": 5.0}, token=member)[0] in (
                200,
                201,
            )

        status, body = api.call(
            "POST",
            "/api/v1/auth/token/",
            {"username": "staff", "password": stack_env["DJANGO_SUPERUSER_PASSWORD"]},
        )
        assert status in (200, 201), body
        staff_token = body["token"]
        status, run = api.call("POST", "/api/v1/training-runs/", {}, token=staff_token)
        assert status == 202, run

        deadline = time.monotonic() + 300
        while True:
            status, run = api.call("GET", f"/api/v1/training-runs/{run['id']}/", token=staff_token)
            if run["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, (
                f"the retrain did not finish: {run}\n" + log.read_text()[-3000:]
            )
            time.sleep(2)
        assert run["status"] == "succeeded", run
        version = run["model_version_id"]

        status, picks = api.call("GET", "/api/v1/me/recommendations/?n=5", token=member)
        assert status == 200, picks
        assert picks["source"] == "model"
        assert picks["model_version_id"] == version
        assert len(picks["items"]) == 5
        titles = [item["movie"]["title"] for item in picks["items"]]
        assert sum(t.startswith("Comedy") for t in titles) >= 4, titles
    finally:
        os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C: honcho stops every process
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    leftovers = subprocess.run(["pgrep", "-g", str(stack.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], "processes left running after Ctrl-C"
    subprocess.run(
        [
            "psql",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "-qc",
            f'DROP DATABASE IF EXISTS "{STACK_DB}"',
        ],
        check=True,
        capture_output=True,
    )
