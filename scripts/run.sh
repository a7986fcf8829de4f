#!/usr/bin/env bash
# The run command: set up .venv/ (or $VENV; idempotent) and start the service on the embedded default
# (SQLite under var/, in-process coordination, demo communes from config.yml) and print a
# console login for each demo commune (a new random password at every start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${VENV:-.venv}/bin/bot" serve --demo-login "$@"
