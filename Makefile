# The two commands: `make run` serves the embedded default, `make test` passes every test.
# Both set up what they need first: a virtualenv in .venv with the pinned dependencies.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := chat:create_app()

.PHONY: run test lint format migrate venv dev-venv browser screenshots clean bench bench-search

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

venv: $(VENV)/.installed
dev-venv: $(VENV)/.dev-installed

migrate: venv
	$(BIN)/flask db upgrade

## Set up and serve on http://$(HOST):$(PORT) (SQLite under instance/, one gevent process).
run: migrate
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## Set up and run every test (browser, PostgreSQL and Redis tests skip when those are absent,
## except under CI=true, where a skip is a failure). PostgreSQL and Redis are found at
## TEST_DATABASE_URL and TEST_REDIS_URL, or at their local defaults when those answer.
test: dev-venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks against the bare relay (docs/performance.md; not part of `make test`): the quick
## sizes by default, the issue's with FULL=1; BENCH_ARGS="--only 1,2 --postgres" and so on.
bench: dev-venv
	$(BIN)/python -m bench $(if $(FULL),--full) $(BENCH_ARGS)

## Search over 100,000 messages, on SQLite and (when reachable) PostgreSQL.
bench-search: dev-venv
	$(BIN)/python -m bench.search --postgres

## Refresh docs/screenshots from the browser tests.
screenshots: dev-venv
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -m browser -q

lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev-venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Debian's Chromium for the browser tests (needs root or sudo).
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
