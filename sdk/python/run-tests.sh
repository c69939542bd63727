#!/usr/bin/env bash
# Lint, type-check and test the Python SDK in its own virtual environment (sdk/python/.venv).
#   ./run-tests.sh                 everything (the integration tests start the real collector
#                                  from the repo's .venv; they skip if it is not installed)
#   ./run-tests.sh -m "not integration" -x     any pytest arguments
# PYTHON=python3.9 ./run-tests.sh uses another interpreter for a fresh .venv.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    touch .venv/.installed
fi
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
.venv/bin/mypy
exec .venv/bin/pytest "$@"
