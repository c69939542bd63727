# WhoWhyWhen developer commands. `make run` and `make test` work on a fresh clone with
# Python 3.11+ and Node 20; everything else is installed into .venv/ and node_modules/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint format install lock pytest sdk-test ui ui-test clean

$(UV):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check 'uv>=0.13,<0.14'

install: $(UV)
	$(UV) sync --frozen --inexact --all-extras --python $(BIN)/python

lock: $(UV)
	$(UV) lock --python $(BIN)/python

STATIC_INDEX := src/whowhywhen/static/index.html
UI_SOURCES := $(shell find frontend/src frontend/static -type f 2>/dev/null) \
	frontend/package.json frontend/svelte.config.js frontend/vite.config.ts

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

$(STATIC_INDEX): frontend/node_modules/.package-lock.json $(UI_SOURCES)
	cd frontend && npm run build

ui: $(STATIC_INDEX)

run: install ui
	$(BIN)/whowhywhen serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

pytest: install
	$(BIN)/pytest

sdk/js/node_modules/.package-lock.json: sdk/js/package-lock.json
	cd sdk/js && npm ci --no-audit --no-fund

sdk-test: install sdk/js/node_modules/.package-lock.json
	sdk/python/run-tests.sh
	cd sdk/js && npm test

ui-test: install frontend/node_modules/.package-lock.json
	@command -v chromium >/dev/null 2>&1 || test -x "$${CHROMIUM_PATH:-/usr/bin/chromium}" || \
		(echo "installing Debian's chromium for the browser tests" && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	cd frontend && npm run check:api && npm run check && npm run lint && npm test
	cd frontend && npm run build && npm run size && E2E_SKIP_BUILD=1 npm run e2e

test: lint pytest sdk-test ui-test

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache
