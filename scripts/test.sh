#!/usr/bin/env bash
# The test suite: Rust unit and integration tests (tiny models and, once scripts/setup.sh
# installed them, the real models), the C-ABI tests (compiled C against the built
# library), the shipping-folder, memory and fuzz checks, and the Node, C# and Swift
# bindings' tests; the Windows build (cross-compiled here) under Wine, and the checks of
# the cross-built artifacts.
#   NS_SKIP_BINDINGS=1   only the Rust and C tests (no bindings, no packages)
#   NS_FUZZ_SECONDS=N    time per fuzz target (default 60)
#   NS_SKIP_WINDOWS=1    no Windows cross build and Wine tests
# Every step runs even when an earlier one failed (a step whose prerequisite failed is
# reported as skipped, with the reason); then a table of step, result and seconds, and the
# exit status is non-zero when any step failed. Each step's output streams as it runs.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/need.sh

names=() results=() times=()
failed=0

# step NAME PREREQUISITE_STEPS COMMAND...: runs COMMAND in a subshell (its `exit` or a
# failing command under set -e ends the step, not the suite) unless a prerequisite did not
# pass. PREREQUISITE_STEPS: space-separated names, or "".
step() {
  local name=$1 prerequisites=$2 result start p i rc
  shift 2
  for p in $prerequisites; do
    for i in "${!names[@]}"; do
      if [ "${names[$i]}" = "$p" ] && [ "${results[$i]}" != ok ]; then
        skip "$name" "$p did not pass"
        return
      fi
    done
  done
  echo
  echo "== $name"
  start=$(date +%s)
  # Not in an `if`: there bash would ignore the subshell's set -e.
  ( set -e; "$@" )
  rc=$?
  if [ "$rc" = 0 ]; then result=ok; else result="FAILED (exit $rc)"; failed=1; fi
  names+=("$name") results+=("$result") times+=("$(( $(date +%s) - start ))")
  [ "$result" = ok ] || echo "!! $name: $result" >&2
}

skip() { # skip NAME REASON
  echo
  echo "== $1: skipped ($2)"
  names+=("$1") results+=("skipped: $2") times+=("-")
}

setup() {
  need cc build-essential  # the C-ABI tests, examples/c and the dist check compile C
  scripts/setup.sh
}
build() { cargo build --release --lib --examples; }
clippy() {
  if ! cargo clippy --version >/dev/null 2>&1 && command -v rustup >/dev/null; then
    rustup component add clippy
  fi
  cargo clippy --release --all-targets -- -D warnings
}
binding() { # node: Node >= 18.18 and npm (Debian's nodejs and npm packages)
  if [ "$1" = node ]; then need node nodejs; need npm npm; fi
  "bindings/$1/test.sh"
}

. scripts/env.sh
export NS_REQUIRE_REAL_MODELS=1

step setup "" setup
. scripts/env.sh  # setup made .venv: its ONNX Runtime for the steps below
step build "" build
if cargo clippy --version >/dev/null 2>&1 || command -v rustup >/dev/null; then
  step "clippy (warnings are errors)" "" clippy
else
  skip "clippy (warnings are errors)" "cargo clippy is not installed and there is no rustup to add it"
fi
step "cargo test" "setup build" cargo test --release --no-fail-fast
step "dist check" "setup build" scripts/check_dist.sh
step valgrind "setup build" scripts/check_valgrind.sh
step "fuzz (${NS_FUZZ_SECONDS:-60} s per target)" "setup build" scripts/fuzz.sh "${NS_FUZZ_SECONDS:-60}"
if [ -n "${NS_SKIP_WINDOWS:-}" ]; then
  skip "windows-build" "NS_SKIP_WINDOWS=$NS_SKIP_WINDOWS"
  skip "windows under wine" "NS_SKIP_WINDOWS=$NS_SKIP_WINDOWS"
else
  step "windows-build" "" scripts/cross.sh windows
  step "windows under wine" "setup build windows-build" scripts/test_windows.sh
fi
step "macOS artifacts check" "" scripts/check_cross.sh aarch64-apple-darwin x86_64-apple-darwin
for b in node csharp swift; do
  if [ -n "${NS_SKIP_BINDINGS:-}" ]; then
    skip "bindings/$b" "NS_SKIP_BINDINGS=$NS_SKIP_BINDINGS"
  elif [ ! -x "bindings/$b/test.sh" ]; then
    skip "bindings/$b" "no bindings/$b/test.sh"
  else
    step "bindings/$b" "setup build" binding "$b"
  fi
done
if [ -n "${NS_SKIP_BINDINGS:-}" ]; then
  skip "packages" "NS_SKIP_BINDINGS=$NS_SKIP_BINDINGS"
else
  step "packages" "setup build" scripts/package.sh target/packages
fi

echo
printf '%-34s | %-34s | %s\n' step result seconds
printf '%-34s-|-%-34s-|-%s\n' "$(printf '%.0s-' {1..34})" "$(printf '%.0s-' {1..34})" -------
skipped=()
for i in "${!names[@]}"; do
  printf '%-34s | %-34s | %7s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  case ${results[$i]} in skipped*) skipped+=("${names[$i]}") ;; esac
done
echo
if [ "$failed" != 0 ]; then
  failures=()
  for i in "${!names[@]}"; do case ${results[$i]} in FAILED*) failures+=("${names[$i]}") ;; esac; done
  echo "== FAILED: $(printf '%s, ' "${failures[@]}" | sed 's/, $//')"
  exit 1
fi
if [ ${#skipped[@]} -gt 0 ]; then
  echo "== all tests passed (skipped: $(printf '%s, ' "${skipped[@]}" | sed 's/, $//'))"
else
  echo "== all tests passed"
fi
