#!/usr/bin/env bash
# The test command: set up .venv/ (or $VENV; idempotent) and run the whole suite.
# PostgreSQL and Redis are used for real: BOT_TEST_DATABASE_URL / BOT_TEST_REDIS_URL
# (defaults: postgresql+asyncpg://postgres@127.0.0.1:5432/test, redis://127.0.0.1:6379/15).
# With CI=true a missing service fails the run instead of skipping those tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BIN="${VENV:-.venv}/bin"
# the habits before the tests: lint, format and types (configuration in pyproject.toml)
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy"
exec "$BIN/python" -m pytest "$@"
