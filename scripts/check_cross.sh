#!/usr/bin/env bash
# Checks the cross builds (scripts/cross.sh makes them): file type and architecture,
# exported symbols, import table / install name (scripts/check_cross.py).
#   scripts/check_cross.sh [TRIPLE...]   (default: every target scripts/cross.sh builds)
# Looks in target/cross/<triple>, else in the copy cross.sh keeps in the cache (a fresh
# clone's CI run checks the macOS builds made in a session that way; BUILD-INFO says which
# commit they are). One in neither place is reported loudly and is not a failure: the
# macOS builds run outside CI. Exit status 1 when a present artifact fails a check.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${NS_CROSS_CACHE:-$HOME/.cache/nodespace-cross}

triples=("$@")
[ ${#triples[@]} -gt 0 ] || triples=(x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin)
present=()
for t in "${triples[@]}"; do
  case $t in *windows*) f=nodespace.dll ;; *) f=libnodespace.dylib ;; esac
  found=""
  for dir in "target/cross/$t" "$CACHE/artifacts/$t"; do
    if [ -f "$dir/$f" ]; then found=$dir; break; fi
  done
  if [ -n "$found" ]; then
    present+=("$t" "$found")
    echo "$t: $found/$f, $(cat "$found/BUILD-INFO" 2>/dev/null || echo 'no BUILD-INFO')"
  else
    echo "*** NOT CHECKED: no $t build (target/cross/$t/$f or $CACHE/artifacts/$t/$f): build it with scripts/cross.sh ***"
  fi
done
[ ${#present[@]} -gt 0 ] || exit 0

"$(scripts/check_venv.sh)" scripts/check_cross.py "${present[@]}"
