"""Production: every secret and address from the environment; refuses to start without them."""

import hashlib
import warnings

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import TRUSTED_PROXY_COUNT, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
_secret = env("DJANGO_SECRET_KEY")  # no default: missing -> ImproperlyConfigured
if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production.")
# Words that only appear in example, placeholder or development keys (.env.example's among them).
_PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace", "example", "placeholder", "secret-key",
                      "insecure", "not-secret", "notsecret", "your-", "dummy", "sample", "0123456789")  # fmt: skip
if (
    len(_secret) < 32
    or len(set(_secret)) < 12
    or _secret.lower().startswith(("local-", "test-", "django-insecure"))
    or any(word in _secret.lower() for word in _PLACEHOLDER_WORDS)
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be a long random value in production (32+ characters, not an example or "
        "placeholder such as the one in .env.example), e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`."
    )
# Django asks for 50+ characters. A random secret of 32-49 characters (e.g. 32 bytes in base64) is
# just as strong, so it is stretched to a fixed 64-character key rather than refused; its entropy is
# kept, not added to.
SECRET_KEY = _secret if len(_secret) >= 50 else hashlib.sha256(b"recommender:" + _secret.encode()).hexdigest()
# DJANGO_ALLOWED_HOSTS (ALLOWED_HOSTS is accepted too, as many platforms set that name); required.
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=env.list("ALLOWED_HOSTS", default=[]))
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set DJANGO_ALLOWED_HOSTS to the host names this site answers to.")

# X-Forwarded-Proto is believed only when a proxy of ours sets it (settings.base.TRUSTED_PROXY_COUNT);
# otherwise any client could claim https. gunicorn.conf.py applies the same rule to gunicorn's own check.
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Only a plain-http trial on loopback (`make stack`) turns these off; production sits behind TLS.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

if env("RECOMMENDER_FAILPOINTS", default=""):
    # Fault-injection tests only (ml/failpoints.py): an armed fail point pauses a worker for good.
    warnings.warn(
        f"RECOMMENDER_FAILPOINTS is set ({env('RECOMMENDER_FAILPOINTS')}): processes will pause at those "
        "fail points until killed. Never set it outside the reliability tests.",
        RuntimeWarning,
        stacklevel=1,
    )

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://localhost:25")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="recommender@localhost")

# Structured logs to stdout: one JSON object per line, for the container runtime to collect.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "recommender_site.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}
    },
    "root": {"handlers": ["stdout"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
