#!/usr/bin/env bash
# valgrind memcheck on the C examples with the tiny models: no definitely or indirectly
# lost bytes (ONNX Runtime's one-time allocations are suppressed by scripts/valgrind.supp).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/need.sh
need valgrind valgrind
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cargo build --release --lib
for ex in embed generate; do
  cc examples/c/$ex.c -Iinclude -Ltarget/release -Wl,-rpath,"$PWD/target/release" -lnodespace -o "$tmp/$ex"
done
check() {
  local name=$1; shift
  valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
    --suppressions=scripts/valgrind.supp --log-file="$tmp/$name.log" "$@" >/dev/null 2>&1 || {
      echo "valgrind: $name FAILED"; grep -E "lost|ERROR SUMMARY|Invalid" "$tmp/$name.log" | head -20; exit 1; }
  echo "valgrind: $name clean ($(grep -E 'definitely lost|indirectly lost' "$tmp/$name.log" | sed 's/==[0-9]*==//' | tr -s ' ' | paste -sd';'))"
}
check embed "$tmp/embed" models/tiny/embed-bert "hello world" "second text" ""
check generate "$tmp/generate" models/tiny/gen-llama "hello" 8
