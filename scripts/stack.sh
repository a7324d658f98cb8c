#!/usr/bin/env bash
# `make stack`: the production processes of docker-compose.yml (gunicorn, both Celery workers, beat),
# run here with honcho against the local PostgreSQL and Redis, with the production settings.
# Ctrl-C stops them all. Every value below can be overridden from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-services.sh >/dev/null

export DJANGO_SETTINGS_MODULE=recommender_site.settings.production
export STACK_DB=${STACK_DB:-recommender_stack}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/$STACK_DB}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export CACHE_REDIS_URL=${CACHE_REDIS_URL:-redis://127.0.0.1:6379/1}
export DJANGO_ALLOWED_HOSTS=${DJANGO_ALLOWED_HOSTS:-127.0.0.1,localhost}
export PORT=${PORT:-8000}
export GUNICORN_BIND=${GUNICORN_BIND:-127.0.0.1:$PORT}
export MODEL_DIR=${MODEL_DIR:-$PWD/var/stack/models}
export DJANGO_STATIC_ROOT=${DJANGO_STATIC_ROOT:-$PWD/var/stack/static}
# Plain http on loopback: no TLS redirect, cookies not marked secure. Production keeps both on.
export DJANGO_SECURE_SSL_REDIRECT=${DJANGO_SECURE_SSL_REDIRECT:-0}
export DJANGO_SECURE_COOKIES=${DJANGO_SECURE_COOKIES:-0}
export DJANGO_SECURE_HSTS_SECONDS=${DJANGO_SECURE_HSTS_SECONDS:-0}
mkdir -p var/stack
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  [ -s var/stack/secret-key ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(64))" > var/stack/secret-key
  DJANGO_SECRET_KEY=$(cat var/stack/secret-key)
  export DJANGO_SECRET_KEY
fi

db_name=${DATABASE_URL##*/}
if ! psql "${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='$db_name'" | grep -q 1; then
  psql "${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE \"$db_name\""
fi
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
echo "Stack: http://$GUNICORN_BIND (database $db_name, Redis $REDIS_URL). Ctrl-C stops everything."
export PATH="$PWD/.venv/bin:$PATH"
exec honcho -f Procfile start
