"""The embedded default: runs on a laptop with no servers and no environment variables."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Only for local development; production.py refuses to start without a real key.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-only-not-secret")
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
