"""Settings for the test suite: fast password hashing, no DEBUG, in-memory email."""

import os
import secrets
from pathlib import Path

from .base import *  # noqa: F403
from .base import CELERY_BROKER_TRANSPORT_OPTIONS, VAR_DIR, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-not-secret")
# PBKDF2 costs ~0.3 s of CPU per hash on this machine; tests hash thousands of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The real Redis (a database of its own), so integration tests' worker processes see what tests enqueue.
# Keys carry a per-run prefix: two test runs on one machine (or CI beside a developer) never take each
# other's tasks or cache entries; integration tests hand the same prefixes to their worker processes.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/15")
TEST_RUN_PREFIX = env("TEST_RUN_PREFIX", default=f"t{os.getpid()}-{secrets.token_hex(3)}")
if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "global_keyprefix": env("CELERY_KEY_PREFIX", default=f"{TEST_RUN_PREFIX}:"),
    }
CELERY_TASK_IGNORE_RESULT = False
# Unit tests use a private memory cache; integration tests point test and worker at Redis via CACHE_URL.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://tests")}
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default=TEST_RUN_PREFIX)
MODEL_DIR = Path(env("MODEL_DIR", default=str(VAR_DIR / "test-models")))
# Lockout is tested on purpose (override AXES_ENABLED=True); elsewhere it would turn tests' logins flaky.
AXES_ENABLED = env.bool("AXES_ENABLED", default=False)
# The memory cache stands in for Redis: API tokens are cached as in production.
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", default=300)
