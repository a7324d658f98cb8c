"""Real processes for integration tests: a Celery worker on the real Redis, against the test database.

Tests using these fixtures must commit their data (`transactional_db`), since the worker is another
process with its own connection.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
CACHE_URL = os.environ.get("TEST_CACHE_URL", "redis://127.0.0.1:6379/14")


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("integration tests need PostgreSQL (make test sets DATABASE_URL)")
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its children), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def run_prefix() -> str:
    """This test run's key prefix (settings.TEST_RUN_PREFIX), shared with the worker processes."""
    from django.conf import settings

    return str(settings.TEST_RUN_PREFIX)


def _delete_prefixed(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


@pytest.fixture
def redis_clean() -> Iterator[None]:
    """Empty this run's keys (and only this run's: others may share the databases) before and after."""
    for url in (BROKER_URL, CACHE_URL):
        _delete_prefixed(url, run_prefix())
    yield
    for url in (BROKER_URL, CACHE_URL):
        _delete_prefixed(url, run_prefix())


@pytest.fixture
def shared_cache(settings, redis_clean):
    """Point this process's cache at the Redis the worker uses (the debounce marker is shared)."""
    # Django's setting_changed handler rebuilds the cache connections when CACHES changes.
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",  # the production backend
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": run_prefix(),
        }
    }
    return


@pytest.fixture
def start_worker(transactional_db, tmp_path, settings, redis_clean):
    """Start real `celery worker` processes; returns a function(name, queues, extra_env) -> Worker."""
    from recommender_site.celery import app

    # An eager app would run every task in this process and the workers would never see one.
    assert not app.conf.task_always_eager, "a previous test left Celery in eager mode"
    workers: list[Worker] = []
    settings.MODEL_DIR = tmp_path / "models"

    def start(
        name: str = "w1", queues: str = "default,training", concurrency: int = 1, **extra_env: str
    ) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "recommender_site.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_RESULT_BACKEND": BROKER_URL,
            "CACHE_URL": CACHE_URL,
            "TEST_RUN_PREFIX": run_prefix(),
            "MODEL_DIR": str(settings.MODEL_DIR),
            **extra_env,
        }
        log = tmp_path / f"worker-{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "recommender_site", "worker", "--queues", queues,
            "--concurrency", str(concurrency), "--hostname", f"{name}@test", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        worker = Worker(process, log)
        workers.append(worker)
        deadline = time.monotonic() + 60
        while "ready." not in worker.output():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{worker.output()[-3000:]}")
            time.sleep(0.2)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
