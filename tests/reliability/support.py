"""Real servers and processes for the reliability tests: a private PostgreSQL cluster and private Redis
servers on free loopback ports (so stopping them never disturbs anyone else's tests), gunicorn and
Celery workers started with the production settings, and small helpers to drive and inspect them.

Nothing here depends on the test process's own database: every fault test talks to its private
servers through real connections (HTTP, psycopg2, Redis), so it runs the same under `make test`
(DATABASE_URL set) and under a bare `pytest tests/reliability`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg2
import redis
import requests

from tests.recommendations.conftest import TINY_TRAIN_CONFIG

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
HOST = "127.0.0.1"
# Every request of these tests goes to loopback as if a TLS proxy had forwarded it (production
# settings redirect plain http to https otherwise).
HTTPS = {"X-Forwarded-Proto": "https"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(
        self, name: str, command: list[str], *, env: dict[str, str], log_dir: Path, **kwargs: Any
    ) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True, **kwargs,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def children(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash (or the OOM killer) would."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=15)

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()


# --- PostgreSQL and Redis of our own --------------------------------------------------------------------


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb) on a free port. initdb refuses to run as root, so as root
    the cluster belongs to the `postgres` OS user and every server command runs as that user."""

    def __init__(self) -> None:
        if PG_BIN is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        # Not under pytest's tmp dir: that is private to the user running the tests (mode 0700).
        self.base = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.logfile = self.base / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            os.chmod(self.base, 0o755)
        self._as_owner([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N",
                        "-E", "UTF8", "--locale", "C.UTF-8"])  # fmt: skip

    def _as_owner(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
        if done.returncode != 0:
            raise RuntimeError(f"{command} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses={HOST} -c max_connections=200"
        self._as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.logfile),
                        "-w", "-t", "60", action, *extra])  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{database}"

    def execute(self, statement: str, database: str = "postgres") -> None:
        conn = psycopg2.connect(self.url(database))
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    def clone(self, template: str, name: str) -> str:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def destroy(self) -> None:
        with suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


class RedisServer:
    """A private redis-server on a free port; stop() and start() keep the port (a restart)."""

    def __init__(self, workdir: Path, *, appendonly: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "", "--dir",
                   str(self.workdir), "--appendonly", "yes" if self.appendonly else "no"]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=(self.workdir / f"redis-{self.port}.log").open("a"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(self.ping, timeout=20, interval=0.05, what="redis to start")

    def ping(self) -> bool:
        try:
            return bool(redis.Redis(host=HOST, port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: redis writes its append-only file first, as in production)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"


# --- The product's processes ------------------------------------------------------------------------------

SCRIPT_SETTINGS = "recommender_site.settings.test"  # fast password hasher for set-up scripts
PRODUCTION_SETTINGS = "recommender_site.settings.production"
_FOREIGN = ("DJANGO_", "CELERY_", "CACHE_URL", "CACHE_REDIS_URL", "DATABASE_URL", "REDIS_URL", "RECOMMENDATIONS_",
            "API_THROTTLE_", "AXES_", "GUNICORN_", "MODEL_DIR", "PYTEST_", "TEST_")  # fmt: skip


def product_env(
    *, database_url: str, redis: RedisServer, model_dir: Path, static_root: Path, **extra: str
) -> dict[str, str]:
    """The environment of a production process (settings.production, secure defaults left on)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env.update(
        DJANGO_SETTINGS_MODULE=PRODUCTION_SETTINGS,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS=f"{HOST},localhost",
        DATABASE_URL=database_url,
        REDIS_URL=redis.url(0),
        CACHE_REDIS_URL=redis.url(1),
        MODEL_DIR=str(model_dir),
        DJANGO_STATIC_ROOT=str(static_root),
        RECOMMENDATIONS_TRAIN_CONFIG=json.dumps(TINY_TRAIN_CONFIG),
        RECOMMENDATIONS_TEST_HOLDOUT="3",
        RECOMMENDATIONS_REFRESH_DEBOUNCE_SECONDS="1",
        RECOMMENDATIONS_PROMOTION_TOLERANCE="1",  # these tests are about faults, not about the gate
        API_THROTTLE_ANON="100000/min",
        API_THROTTLE_USER="100000/min",
        API_THROTTLE_TOKEN="100000/min",
        # Requests come as if through the TLS proxy (HTTPS below): one trusted proxy, on loopback.
        DJANGO_TRUSTED_PROXY_COUNT="1",
        DJANGO_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def script_env(env: dict[str, str]) -> dict[str, str]:
    """The same addresses for a one-off set-up or inspection script, with the test settings."""
    # The test settings prefix Redis keys per run; these private servers belong to this test alone, so
    # scripts use the production processes' (empty) prefixes and see the same queues and cache.
    return {**env, "DJANGO_SETTINGS_MODULE": SCRIPT_SETTINGS, "CACHE_URL": env["CACHE_REDIS_URL"],
            "CELERY_BROKER_URL": env["REDIS_URL"], "CELERY_RESULT_BACKEND": env["REDIS_URL"],
            "CELERY_KEY_PREFIX": env.get("CELERY_KEY_PREFIX", ""),
            "CACHE_KEY_PREFIX": env.get("CACHE_KEY_PREFIX", "")}  # fmt: skip


def django_script(env: dict[str, str], code: str, *, timeout: float = 300) -> Any:
    """Run ``code`` in `manage.py shell` with ``env``; it reports by assigning ``result``."""
    wrapped = code + "\nimport json as _json\nprint('RESULT ' + _json.dumps(result, default=str))\n"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", wrapped], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise AssertionError(
            f"script failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    return json.loads(line.removeprefix("RESULT "))


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_web(
    env: dict[str, str], log_dir: Path, *, workers: int = 2, threads: int = 8
) -> tuple[Process, str]:
    """gunicorn with the project's config and the production settings; returns it and its base URL."""
    port = free_port()
    web_env = {**env, "GUNICORN_BIND": f"{HOST}:{port}", "GUNICORN_WORKERS": str(workers),
               "GUNICORN_THREADS": str(threads)}  # fmt: skip
    web = Process("web", [str(Path(sys.executable).with_name("gunicorn")), "recommender_site.wsgi:application",
                          "--config", "gunicorn.conf.py"], env=web_env, log_dir=log_dir)  # fmt: skip
    base = f"http://{HOST}:{port}"

    def up() -> bool:
        assert web.alive(), web.output()[-3000:]
        try:
            return requests.get(f"{base}/healthz", headers=HTTPS, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=90, interval=0.3, what="gunicorn to answer /healthz")
    return web, base


def start_worker(
    env: dict[str, str], log_dir: Path, *, name: str, queues: str, concurrency: int = 1
) -> Process:
    command = [
        sys.executable, "-m", "celery", "-A", "recommender_site", "worker", "--queues", queues,
        "--concurrency", str(concurrency), "--hostname", f"{name}@reliability", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = Process(f"worker-{name}", command, env=env, log_dir=log_dir)

    def ready() -> bool:
        assert worker.alive(), worker.output()[-3000:]
        return "ready." in worker.output()

    wait_for(ready, timeout=90, interval=0.3, what=f"worker {name} to be ready")
    return worker


# --- Looking inside -----------------------------------------------------------------------------------------


@contextmanager
def pg(url: str) -> Iterator[Any]:
    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


def rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with pg(url) as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def movie_stats_exact(url: str) -> list[tuple[Any, ...]]:
    """Movies whose denormalised count or mean disagrees with the ratings table ([] when exact)."""
    return rows(
        url,
        """
        SELECT m.id, m.rating_count, m.rating_mean, count(r.id), coalesce(avg(r.value), 0)
        FROM catalog_movie m LEFT JOIN ratings_rating r ON r.movie_id = m.id
        GROUP BY m.id HAVING m.rating_count <> count(r.id) OR abs(m.rating_mean - coalesce(avg(r.value), 0)) > 1e-9
        """,
    )


def member_tokens(env: dict[str, str], count: int, prefix: str = "member") -> list[dict[str, Any]]:
    """``count`` members with tokens (no passwords: logins stay out of load tests)."""
    code = f"""
from accounts.models import User
from knox.models import AuthToken
result = []
for k in range({count}):
    user = User.objects.create(username=f"{prefix}{{k}}", email=f"{prefix}{{k}}@example.com")
    result.append({{"id": user.pk, "token": AuthToken.objects.create(user=user)[1]}})
"""
    return django_script(script_env(env), code)


# --- Driving load ------------------------------------------------------------------------------------------


class Client:
    """A member's (or a visitor's) HTTP client: token or session cookie, as if behind the TLS proxy."""

    def __init__(self, base: str, *, token: str | None = None, session: str | None = None) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers.update(HTTPS)
        if token:
            self.http.headers["Authorization"] = f"Token {token}"
        if session:
            self.http.headers["Cookie"] = f"sessionid={session}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return self.http.request(method, self.base + path, **kwargs)


def session_cookie(env: dict[str, str], user_id: int) -> str:
    """A logged-in session for ``user_id`` (made directly, so no password hashing and no lockout)."""
    code = f"""
from django.test import Client
from accounts.models import User
client = Client()
client.force_login(User.objects.get(pk={user_id}), backend="django.contrib.auth.backends.ModelBackend")
result = client.cookies["sessionid"].value
"""
    return django_script(script_env(env), code)


def run_members(
    count: int,
    body: Callable[[int], None],
    *,
    during: Callable[[], None] | None = None,
    join_timeout: float = 300,
) -> list[BaseException]:
    """Run ``body(i)`` for i in range(count) on threads released together, and ``during()`` (the fault)
    on this thread meanwhile; return what the threads raised."""
    import threading

    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            body(i)
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    if during is not None:
        during()
    for thread in threads:
        thread.join(timeout=join_timeout)
    assert not any(t.is_alive() for t in threads), "a load thread did not finish in time"
    return errors
