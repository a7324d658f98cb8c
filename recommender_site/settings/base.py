"""Settings shared by every environment. Values come from the environment; defaults are the
embedded, server-less configuration (SQLite and model artifacts under ``var/``)."""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A .env file is optional and only read when asked for, so a stray file never changes production.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# How many reverse proxies of ours stand in front of the web processes. The one place forwarded headers
# are trusted from: with N, the client's address is the Nth entry from the right of X-Forwarded-For (DRF
# throttles via NUM_PROXIES; django-axes and the password-reset limit via recommender_site.client_ip) and
# X-Forwarded-Proto says whether the client used https (production's SECURE_PROXY_SSL_HEADER). With 0,
# the default, no forwarded header is believed: the connection's own address and scheme count.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ValueError("DJANGO_TRUSTED_PROXY_COUNT must be 0 or more.")
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "knox",
    "csp",
    "django_filters",
    "drf_spectacular",
    "axes",
    "accounts",
    "catalog",
    "ratings",
    "recommendations",
    "ingest",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the query string or the body: absurd requests get a 400/413 here.
    "recommender_site.middleware.RequestLimitsMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "recommender_site.urls"
WSGI_APPLICATION = "recommender_site.wsgi.application"
ASGI_APPLICATION = "recommender_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Embedded default: one SQLite file under var/. DATABASE_URL (postgres://...) switches to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while an import or a worker writes; the timeout rides out short locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, but a connection proven good by the previous request less than this many
        # seconds ago skips the per-request health check (recommender_site/postgresql/base.py; 0: never).
        DATABASES["default"]["ENGINE"] = "recommender_site.postgresql"
        DATABASES["default"]["HEALTH_CHECK_AFTER_IDLE_SECONDS"] = env.float(
            "DATABASE_HEALTH_CHECK_AFTER_IDLE_SECONDS", default=1.0
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    # Counts failed logins per account and per address and locks both out (brute-force protection;
    # DRF's throttling is documented as not being a security control).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per account and per address
AXES_RESET_ON_SUCCESS = True
# The client's address as throttles see it (TRUSTED_PROXY_COUNT), never a header the client chose.
AXES_CLIENT_IP_CALLABLE = "recommender_site.client_ip.client_ip"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Embedded default: the database cache, shared by runserver and the Celery worker (a per-process
# memory cache would break the refresh debounce between them). REDIS_URL switches to Redis.
if env("REDIS_URL", default=""):
    CACHES = {
        "default": {
            # django-redis keeps one redis-py client per server; Django's own backend builds one per call
            # (~100 us of CPU each, a third of a cached request; docs/BENCHMARKS.md).
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": env("CACHE_REDIS_URL", default=env("REDIS_URL")),
            # A dead Redis must not stall every request for redis-py's default 5 s. Errors are raised,
            # not ignored: callers decide (serving carries on uncached, /readyz reports the cache down).
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default=""),
        }
    }
else:
    CACHES = {"default": env.cache("CACHE_URL", default="dbcache://django_cache")}

# Where trained model artifacts live (one versioned directory per model).
MODEL_DIR = Path(env("MODEL_DIR", default=str(VAR_DIR / "models")))
# Where downloaded datasets are cached.
DATASET_CACHE_DIR = Path(env("DATASET_CACHE_DIR", default=str(VAR_DIR / "datasets")))

# --- The site: accounts and email ---------------------------------------------------------------------
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
# django-axes renders this page (HTTP 429) when a login is locked out.
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
# Console by default (the reset link is printed); production.py switches to SMTP from EMAIL_URL.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="recommender@localhost")
PASSWORD_RESET_TIMEOUT = env.int("DJANGO_PASSWORD_RESET_TIMEOUT", default=60 * 60 * 24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Celery -----------------------------------------------------------------------------------------
# Production: Redis as broker and result store. Embedded default: kombu's filesystem transport, which
# needs no server, so `make demo` still runs a real worker and beat beside runserver.
REDIS_URL = env("REDIS_URL", default="")
CELERY_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
else:
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
    if CELERY_BROKER_URL.startswith("filesystem://"):
        # The transport expects its folders to exist; web, worker and beat all start from here.
        for folder in ("queue", "processed", "control"):
            (CELERY_DIR / folder).mkdir(parents=True, exist_ok=True)
# The longest task (retrain) must finish well inside the broker's visibility timeout, or Redis hands
# it to a second worker while the first still runs.
CELERY_RETRAIN_TIME_LIMIT = env.int("CELERY_RETRAIN_TIME_LIMIT", default=45 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60),
    # Short timeouts so a dead Redis is reported at once instead of stalling a web request.
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
    "max_retries": 1,
    # Filesystem transport (embedded default): the message folders under var/celery/.
    "data_folder_in": str(CELERY_DIR / "queue"),
    "data_folder_out": str(CELERY_DIR / "queue"),
    "processed_folder": str(CELERY_DIR / "processed"),
    "control_folder": str(CELERY_DIR / "control"),
    "store_processed": False,
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Lets several deployments (or concurrent test runs) share one Redis database without sharing queues.
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env("CELERY_KEY_PREFIX", default="")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_ACKS_LATE = True
# acks_late alone still acknowledges a task whose worker process was killed; this redelivers it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = not bool(CELERY_RESULT_BACKEND)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"recommendations.retrain": {"queue": "training"}}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Recommendations --------------------------------------------------------------------------------
RECOMMENDATIONS = {
    # Length of each persisted list: more than any page shows, so read-time filters leave enough.
    "LIST_LENGTH": env.int("RECOMMENDATIONS_LIST_LENGTH", default=100),
    # A new model is promoted unless its test NDCG@10 is below the active one's by more than this.
    "PROMOTION_TOLERANCE": env.float("RECOMMENDATIONS_PROMOTION_TOLERANCE", default=0.005),
    # Seconds to wait after a rating before the batch refresh of every member noted stale starts, so a
    # burst (of one member or many) causes one batch; short enough that a new member's picks reflect a
    # rating within ~1 s (docs/BENCHMARKS.md).
    "REFRESH_DEBOUNCE_SECONDS": env.float("RECOMMENDATIONS_REFRESH_DEBOUNCE_SECONDS", default=0.5),
    # Members refreshed per batch at most (one fold-in, one scoring, one bulk list write); more noted
    # members are taken by the next batch at once.
    "REFRESH_BATCH_USERS": env.int("RECOMMENDATIONS_REFRESH_BATCH_USERS", default=1000),
    # A member's list noted stale (ratings.StaleListNote) for longer than this is refreshed by the beat
    # sweep (recommendations.refresh_stale_sweep): its refresh was never queued (Redis was down) or lost.
    "STALE_SWEEP_AFTER_SECONDS": env.float("RECOMMENDATIONS_STALE_SWEEP_AFTER_SECONDS", default=10),
    # Lifetime of a cached API answer: bounds what no event invalidates (other members changing a
    # movie's statistics, popularity fallbacks).
    "RESPONSE_CACHE_SECONDS": env.int("RECOMMENDATIONS_RESPONSE_CACHE_SECONDS", default=300),
    "CACHE_SECONDS": env.int("RECOMMENDATIONS_CACHE_SECONDS", default=24 * 60 * 60),
    # The API's recommendation cards (title, year, genres, count and mean) come from a per-process copy
    # of the catalogue at most this old (catalog.selectors.movie_cards); 0 reads them on every request.
    "MOVIE_CARDS_SECONDS": env.float("RECOMMENDATIONS_MOVIE_CARDS_SECONDS", default=60),
    # A bulk refresh scores this many users per matrix product...
    "REFRESH_CHUNK_USERS": env.int("RECOMMENDATIONS_REFRESH_CHUNK_USERS", default=2048),
    # ...and reads ratings in user id ranges this wide, the next range while the current one is scored.
    "REFRESH_READ_USERS": env.int("RECOMMENDATIONS_REFRESH_READ_USERS", default=8192),
    # Users per shard when refresh_all is spread over the workers as a Celery group.
    "REFRESH_SHARD_USERS": env.int("RECOMMENDATIONS_REFRESH_SHARD_USERS", default=20_000),
    # Each user's most recent ratings held out to test a new model and gate its promotion.
    "TEST_HOLDOUT": env.int("RECOMMENDATIONS_TEST_HOLDOUT", default=5),
    # A queued or running retrain without a sign of life for this long is presumed lost (its worker
    # was killed) and marked failed, which frees the retrain lock.
    "STALE_RUN_SECONDS": env.int("RECOMMENDATIONS_STALE_RUN_SECONDS", default=15 * 60),
    # Overrides of ml.config.TrainConfig, as JSON (e.g. '{"max_epochs": 20}').
    "TRAIN_CONFIG": env.json("RECOMMENDATIONS_TRAIN_CONFIG", default={}),
}

# --- REST API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.TokenAuthentication",  # knox: hashed, expiring tokens
        "rest_framework.authentication.SessionAuthentication",  # the site's own JavaScript, with CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON in, JSON out: errors are never HTML (exploring is what /api/docs/ is for).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["recommender_site.api_parsers.JSONParser"],  # DRF's, nesting-safe
    "EXCEPTION_HANDLER": "recommender_site.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "recommender_site.api_params.PageNumberPagination",  # ?page= is not page 1
    "PAGE_SIZE": 20,
    # Rates are read from here on every request (tests override them); "token" is the stricter scope
    # on sign-up and log-in. Brute-force lockout is django-axes' job, not throttling's.
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.api.throttles.AnonThrottle",
        "accounts.api.throttles.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="120/min"),
        "user": env("API_THROTTLE_USER", default="600/min"),
        "token": env("API_THROTTLE_TOKEN", default="10/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
# API tokens (django-rest-knox): stored as SHA-512 digests, never in plain text; each log-in makes a
# token of its own that expires after API_TOKEN_TTL_DAYS and can be revoked on its own.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.float("API_TOKEN_TTL_DAYS", default=30)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
# How long a token the database has vouched for authenticates from the cache (accounts.api.authentication;
# revocation still takes effect at once). Off with the database cache, where it would save no query.
API_TOKEN_CACHE_SECONDS = env.int(
    "API_TOKEN_CACHE_SECONDS", default=300 if env("REDIS_URL", default="") else 0
)
#: A member's live tokens beyond this many: the oldest are revoked when a new one is made.
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=20)

# Password reset mails: at most this many per address and per client within the window (cache counters).
PASSWORD_RESET_LIMIT_PER_EMAIL = env.int("PASSWORD_RESET_LIMIT_PER_EMAIL", default=3)
PASSWORD_RESET_LIMIT_PER_CLIENT = env.int("PASSWORD_RESET_LIMIT_PER_CLIENT", default=10)
PASSWORD_RESET_LIMIT_WINDOW_SECONDS = env.int("PASSWORD_RESET_LIMIT_WINDOW_SECONDS", default=60 * 60)

# Content-Security-Policy (django-csp) on every response: scripts, styles, images and fonts from this
# site only, no plugins, no framing, forms post here only. Inline style *attributes* stay allowed: the
# templates set CSS custom properties (poster hue, bar widths) that way; inline <style> and <script>
# elements, event-handler attributes and javascript: URLs are refused.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Movie recommender API",
    "DESCRIPTION": (
        "Browse movies, rate them and get personal recommendations. Authenticate with "
        "`Authorization: Token <key>` (from /api/v1/auth/register/ or /api/v1/auth/token/). Every error "
        'is JSON: `{"error": {"code", "message", "fields"}}`. See docs/API.md.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "TrainingRunStatusEnum": "recommendations.models.TrainingRun.Status",
        "HealthStatusEnum": ["ok"],
        "ReadinessStatusEnum": ["ready", "unavailable"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "recommender_site.api_errors.schema_add_error_responses",
    ],
}
