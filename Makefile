# The README's two commands are `make demo` (run the site) and `make test` (run the whole suite).
# Every target builds what it needs first: the virtualenv from the pinned requirements, services, data.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs against the real PostgreSQL (pytest-django creates test_<name> itself).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/recommender
PYTEST_ARGS ?=
# axe-core (MPL-2.0) runs in the browser tests; installed under var/ at test time, never committed.
AXE_VERSION := 4.14.1
AXE_JS := var/node/node_modules/axe-core/axe.min.js

.DEFAULT_GOAL := help
.PHONY: help venv demo migrate data admin-account model test check lint format typecheck services system-deps \
	stack compose-config bench bench-quick bench-model soak audit clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	$(PY) -m pip install -q -r requirements/dev.txt
	touch $(STAMP)

venv: $(STAMP)  ## Build the virtualenv from the pinned requirements

migrate: $(STAMP)
	$(MANAGE) migrate --noinput -v0

data: migrate  ## Import ml-100k (skipped quickly when it is already there)
	$(MANAGE) load_movielens ml-100k --if-empty

admin-account: migrate
	$(MANAGE) demo_admin

model: data  ## Train the first model and fill every list (skipped when nothing changed)
	$(MANAGE) retrain --wait

demo: model admin-account  ## Run the site, a worker and beat on the embedded default (http://$(HOST):$(PORT))
	HOST=$(HOST) PORT=$(PORT) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho -f Procfile.demo start

stack: $(STAMP)  ## Run the production processes (gunicorn, workers, beat) here on PostgreSQL and Redis
	./scripts/stack.sh

compose-config: system-deps  ## Validate docker-compose.yml
	docker-compose config -q

services:  ## Start PostgreSQL and Redis when they are not running
	./scripts/ensure-services.sh

system-deps:  ## What the tests need outside Python: Chromium, docker-compose, axe-core (browser accessibility checks)
	@# only the missing ones: asking apt for Debian's npm beside a Node.js that brings its own npm fails
	@missing="$$(for c in chromium docker-compose npm; do command -v $$c >/dev/null || echo $$c; done)"; \
	  [ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }
	@test -f $(AXE_JS) || npm install --silent --no-save --no-audit --no-fund --prefix var/node axe-core@$(AXE_VERSION) >/dev/null

test: $(STAMP) services system-deps  ## Run the whole test suite against real PostgreSQL and Redis
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest $(PYTEST_ARGS)

soak: $(STAMP) services  ## Long reliability variants (50 members for RELIABILITY_SOAK_SECONDS, default 120)
	RELIABILITY_SOAK=1 DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest tests/reliability -m slow $(PYTEST_ARGS)

audit: $(STAMP)  ## Known vulnerabilities in the pinned requirements (pip-audit; unexplained ones fail)
	$(PY) scripts/audit.py

lint: $(STAMP)  ## ruff (lint + format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(STAMP)  ## mypy with django-stubs
	$(VENV)/bin/mypy .

check: lint typecheck test  ## Lint, type-check and test

bench: $(STAMP) services  ## Benchmarks at ML-20M scale -> docs/BENCHMARKS.md (BENCH_ARGS="--wait-quiet 3600")
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(PY) scripts/bench/run.py $(BENCH_ARGS)

bench-quick: $(STAMP) services  ## The same benchmarks at small sizes (a few minutes)
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(PY) scripts/bench/run.py --quick $(BENCH_ARGS)

bench-model: $(STAMP)  ## Benchmark the model against the baselines on ml-100k (docs/BENCHMARKS.md)
	$(PY) -m ml.bench --data "$$($(MANAGE) dataset_path ml-100k)" --json var/ml-bench.json \
		--markdown docs/BENCHMARKS.md --plot docs/img/ml-bench.png

clean:  ## Remove the virtualenv and local state (database, models, caches)
	rm -rf $(VENV) var/db.sqlite3* var/models var/static
