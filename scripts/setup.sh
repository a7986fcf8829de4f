#!/usr/bin/env bash
# Create the virtual environment (.venv/, or $VENV) in the checkout with Python 3.11, 3.12 or
# 3.13 and install the bot (editable) with its test tools.
#
# Which Python: $PYTHON when given (it must be 3.11–3.13); else `python3` when it is in range —
# the interpreter the user and the CI machine already call python3, so nothing changes under
# them; else the newest of python3.13, python3.12, python3.11 found on PATH.
# VENV=.venv313 PYTHON=python3.13 keeps a second environment beside the first (the suite can
# then run on each version: VENV=.venv313 bash scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
SUPPORTED="3.11, 3.12 or 3.13"

in_range() {  # does "$1" run, and is it Python 3.11–3.13?
  "$1" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)' \
    >/dev/null 2>&1
}

PY=${PYTHON:-}
if [ -n "$PY" ]; then
  if ! in_range "$PY"; then
    echo "PYTHON=$PY is not a Python $SUPPORTED" >&2; exit 1
  fi
else
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && in_range "$candidate"; then
      PY=$candidate; break
    fi
  done
fi
if [ -z "$PY" ]; then
  found=$(command -v python3 >/dev/null 2>&1 && python3 -V 2>&1 || echo "no python3")
  echo "Python $SUPPORTED is needed ($found found). Install one (Debian/Ubuntu:" \
       "apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.1x" >&2
  exit 1
fi

if [ -x "$VENV/bin/python" ]; then
  if ! in_range "$VENV/bin/python"; then
    echo "$VENV/ was made with $("$VENV/bin/python" -V 2>&1), not Python $SUPPORTED:" \
         "remove it (rm -rf $VENV) and run this again" >&2
    exit 1
  fi
else
  if ! "$PY" -m venv "$VENV"; then
    echo "could not create $VENV/ with $PY (Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
echo "$VENV/: $("$VENV/bin/python" -V 2>&1)"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"

# The web chat's browser test (tests/test_webchat_browser.py) drives Debian's Chromium through
# Playwright; Playwright's own browser download cannot be used here. Installed only as root and
# only when missing (elsewhere the test reports Chromium as missing).
if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
