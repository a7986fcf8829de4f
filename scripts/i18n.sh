#!/usr/bin/env bash
# The Babel catalogs in one step: extract every user-facing text (code `_()`/`N_()` and
# data/answers/*.yml, see babel.cfg) into bot/locales/messages.pot, merge it into each
# bot/locales/<lang>/LC_MESSAGES/messages.po, then list what is still to translate.
#
#   bash scripts/i18n.sh          # extract, update, check (exit 1 while something is missing)
#   bash scripts/i18n.sh check    # check only
#
# The service reads the .po files directly (bot/i18n.py compiles them in memory): there is no
# .mo to build or commit. How to translate: docs/i18n.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ "${1:-}" != "check" ]; then
  "$VENV/bin/pybabel" -q extract -F babel.cfg --no-location \
    -o bot/locales/messages.pot .
  for po in bot/locales/*/LC_MESSAGES/messages.po; do
    lang=$(basename "$(dirname "$(dirname "$po")")")
    "$VENV/bin/pybabel" -q update -i bot/locales/messages.pot -d bot/locales -l "$lang" \
      --no-fuzzy-matching --ignore-obsolete
  done
fi
exec "$VENV/bin/python" - <<'PY'
import sys
from bot.i18n import available, problems
bad = 0
for lang in available()[1:]:
    found = problems(lang)
    bad += len(found)
    print(f"{lang}: {'complete' if not found else f'{len(found)} to fix'}")
    for line in found:
        print("  " + line)
sys.exit(1 if bad else 0)
PY
