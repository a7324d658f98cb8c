"""Fixtures of the reliability suite: a private PostgreSQL cluster for the session, a database with the
planted world and a trained model (made once, cloned per test), and a `stack` per test with its own
Redis, on which tests start gunicorn and Celery workers with the production settings."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import (
    PostgresCluster,
    Process,
    RedisServer,
    django_script,
    manage,
    product_env,
    script_env,
    start_web,
    start_worker,
)

TEMPLATE_DB = "reliability_trained"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def trained_template(pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A database holding the planted world (60 dataset users, 45 movies) and an active model trained
    on it with the tiny config, with every list written. Tests clone it (CREATE DATABASE ... TEMPLATE)."""
    base = tmp_path_factory.mktemp("trained")
    pg_cluster.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
    pg_cluster.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    redis = RedisServer(base)  # never started: the set-up script uses a memory cache
    env = script_env(
        product_env(
            database_url=pg_cluster.url(TEMPLATE_DB), redis=redis, model_dir=base / "models",
            static_root=base / "static",
        )
    )  # fmt: skip
    env["CACHE_URL"] = "locmemcache://template"
    migrated = manage(env, "migrate", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    trained = django_script(
        env,
        """
from tests.recommendations.conftest import build_world
from recommendations.models import ModelVersion, RecommendationList
from recommendations.registry import training_run_create
from recommendations.pipeline import retrain_execute
world = build_world()
run = training_run_create(trigger="cli")
outcome = retrain_execute(run_id=run.pk)
version = ModelVersion.objects.get(is_active=True)
result = {"outcome": outcome, "version": version.pk, "artifact": version.artifact_path,
          "lists": RecommendationList.objects.filter(model_version=version).count(),
          "clusters": {name: [m.pk for m in movies] for name, movies in world.movies.items()},
          "users": {name: [u.pk for u in users] for name, users in world.users.items()}}
""",
    )
    assert trained["lists"] == 60, trained
    return {**trained, "model_dir": base / "models"}


class Stack:
    """One test's servers: its own database (a clone of the trained template), its own Redis, and
    whatever product processes the test starts. Everything is stopped at the end of the test."""

    def __init__(
        self, pg_cluster: PostgresCluster, template: dict[str, Any], tmp_path: Path, name: str
    ) -> None:
        self.pg = pg_cluster
        self.template = template
        self.dir = tmp_path
        self.database = name
        self.database_url = pg_cluster.clone(TEMPLATE_DB, name)
        self.redis = RedisServer(tmp_path, appendonly=True)  # as docker-compose.yml runs it
        self.redis.start()
        self.model_dir = tmp_path / "models"
        shutil.copytree(template["model_dir"], self.model_dir)
        # The clone's active version points at the template's artifact; point it at this copy.
        self._sql(
            "UPDATE recommendations_modelversion SET artifact_path = replace(artifact_path, %s, %s)",
            (str(template["model_dir"]), str(self.model_dir)),
        )
        self.env = product_env(
            database_url=self.database_url, redis=self.redis, model_dir=self.model_dir,
            static_root=tmp_path / "static",
        )  # fmt: skip
        self.processes: list[Process] = []

    def _sql(self, statement: str, params: tuple[Any, ...]) -> None:
        from .support import pg

        with pg(self.database_url) as cursor:
            cursor.execute(statement, params)

    def web(self, **kwargs: Any) -> str:
        process, base = start_web(self.env, self.dir, **kwargs)
        self.processes.append(process)
        return base

    def worker(self, name: str, queues: str, **extra_env: str) -> Process:
        process = start_worker({**self.env, **extra_env}, self.dir, name=name, queues=queues)
        self.processes.append(process)
        return process

    def script(self, code: str) -> Any:
        return django_script(script_env(self.env), code)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=20)
        self.redis.kill()


@pytest.fixture
def stack(pg_cluster: PostgresCluster, trained_template: dict[str, Any], tmp_path: Path,
          request: pytest.FixtureRequest) -> Iterator[Stack]:  # fmt: skip
    name = "rel_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]
    built = Stack(pg_cluster, trained_template, tmp_path, name)
    yield built
    built.close()
    pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long variants (@pytest.mark.slow) run only under `make soak` (RELIABILITY_SOAK=1)."""
    import os

    if os.environ.get("RELIABILITY_SOAK"):
        return
    skip = pytest.mark.skip(reason="long variant: run by `make soak` (RELIABILITY_SOAK=1)")
    for item in items:
        if "slow" in item.keywords and "reliability" in str(item.path):
            item.add_marker(skip)
