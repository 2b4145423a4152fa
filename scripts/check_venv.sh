#!/usr/bin/env bash
# Prints the python of a venv (in the cross cache) with the pinned readers of Windows and
# macOS binaries that scripts/check_cross.py and scripts/package/check_native.py use;
# creates it the first time (PyPI).
set -euo pipefail
CACHE=${NS_CROSS_CACHE:-$HOME/.cache/nodespace-cross}
VENV=$CACHE/tools/check
PINS=(pefile==2024.8.26 macholib==1.16.4)
if [ "$(cat "$VENV/pins" 2>/dev/null)" != "${PINS[*]}" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q "${PINS[@]}" >&2
  echo "${PINS[*]}" > "$VENV/pins"
fi
echo "$VENV/bin/python"
