#!/usr/bin/env bash
# Re-extract UI text, merge it into every catalog, and compile the .mo files the app loads.
# After running: translate the new/fuzzy entries in src/keyrelay/locale/*/LC_MESSAGES/messages.po
# (empty msgstr = shown in English), then run this script again to compile.
set -euo pipefail
cd "$(dirname "$0")/.."
BABEL="${BABEL:-.venv/bin/pybabel}"
LOCALE=src/keyrelay/locale

"$BABEL" extract -F babel.cfg --sort-by-file --no-wrap --project KeyRelay --copyright-holder "KeyRelay" \
  --msgid-bugs-address "" -o "$LOCALE/messages.pot" src/keyrelay
for lang in zh_CN; do
  if [ -f "$LOCALE/$lang/LC_MESSAGES/messages.po" ]; then
    "$BABEL" update -i "$LOCALE/messages.pot" -d "$LOCALE" -l "$lang" --no-wrap --ignore-obsolete
  else
    "$BABEL" init -i "$LOCALE/messages.pot" -d "$LOCALE" -l "$lang" --no-wrap
  fi
done
"$BABEL" compile -d "$LOCALE" --statistics
