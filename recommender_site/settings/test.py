"""Settings for the test suite: fast password hashing, no DEBUG, in-memory email."""

from .base import *  # noqa: F403
from pathlib import Path

from .base import VAR_DIR, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-not-secret")
# PBKDF2 costs ~0.3 s of CPU per hash on this machine; tests hash thousands of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Unit tests enqueue into memory; integration tests start real workers with a Redis broker themselves.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
MODEL_DIR = Path(env("MODEL_DIR", default=str(VAR_DIR / "test-models")))
# Lockout is tested on purpose (override AXES_ENABLED=True); elsewhere it would turn tests' logins flaky.
AXES_ENABLED = env.bool("AXES_ENABLED", default=False)
