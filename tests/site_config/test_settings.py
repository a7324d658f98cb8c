"""Settings come from the environment; production refuses unsafe configurations."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "pK7vQ2xL9mT4wR8nB3cY6hJ1fD5gS0aZ-eU_iO" * 2  # 76 characters, many distinct


def load_settings(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update(env, DJANGO_SETTINGS_MODULE=module)
    code = "import django; django.setup(); from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_embedded_default_needs_no_environment():
    result = load_settings("recommender_site.settings.local")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True"]


def test_database_url_switches_to_postgresql():
    result = load_settings("recommender_site.settings.local", DATABASE_URL="postgres://u@127.0.0.1:5432/x")
    # Django's PostgreSQL backend with a lighter health check (recommender_site/postgresql/base.py)
    assert result.stdout.split()[0] == "recommender_site.postgresql", result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "example.com"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short", "DJANGO_ALLOWED_HOSTS": "example.com"}, "long random value"),
        (
            {"DJANGO_SECRET_KEY": GOOD_KEY, "DJANGO_ALLOWED_HOSTS": "x", "DJANGO_DEBUG": "1"},
            "DEBUG must be off",
        ),
    ],
)
def test_production_refuses_unsafe_settings(env, message):
    result = load_settings("recommender_site.settings.production", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_starts_with_a_real_secret():
    result = load_settings(
        "recommender_site.settings.production", DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_ALLOWED_HOSTS="example.com"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "False"]


def test_a_strong_secret_shorter_than_django_asks_for_is_stretched_not_refused():
    code = "import django; django.setup(); from django.conf import settings as s; print(len(s.SECRET_KEY))"
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="recommender_site.settings.production",
        DJANGO_SECRET_KEY="Zq3vX9-pL0sT7wYb2Nc8Rk4mHd6Ja1Ue5",  # 33 random-looking characters
        DJANGO_ALLOWED_HOSTS="example.com",
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)
    assert result.stdout.strip() == "64", result.stderr


def test_check_deploy_is_clean_with_production_settings():
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="recommender_site.settings.production",
        DJANGO_SECRET_KEY=GOOD_KEY,
        DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL="sqlite:///:memory:",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=clean, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
