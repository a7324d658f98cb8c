# syntax=docker/dockerfile:1
# One image for web, workers and beat; the command differs per service (docker-compose.yml).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 app

WORKDIR /app

# Dependencies in their own layer: rebuilt only when the pinned requirements change.
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

COPY --chown=app:app . .

# collectstatic needs settings but no secrets: the local settings module is enough at build time.
RUN DJANGO_SETTINGS_MODULE=recommender_site.settings.local DJANGO_STATIC_ROOT=/app/staticfiles \
    python manage.py collectstatic --noinput -v0 \
 && mkdir -p /data/models && chown -R app:app /data /app/staticfiles

USER app
ENV DJANGO_SETTINGS_MODULE=recommender_site.settings.production \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    MODEL_DIR=/data/models \
    PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["gunicorn", "recommender_site.wsgi:application", "--config", "gunicorn.conf.py"]
