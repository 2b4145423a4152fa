#!/usr/bin/env bash
# The test suite: Rust unit and integration tests (tiny models and, once scripts/setup.sh
# installed them, the real models), the C-ABI tests (compiled C against the built
# library), and the Node, C# and Swift bindings' tests.
#   NS_SKIP_BINDINGS=1   only the Rust and C tests
#   NS_FUZZ_SECONDS=N    time per fuzz target (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
export NS_REQUIRE_REAL_MODELS=1

echo "== build (library, header, examples)"
cargo build --release --lib --examples
echo "== clippy (warnings are errors)"
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --release --all-targets -- -D warnings
else
  echo "!! cargo clippy is not installed: the lint step did NOT run" >&2
fi
echo "== cargo test"
cargo test --release
echo "== shipping folder and memory checks"
scripts/check_dist.sh
scripts/check_valgrind.sh
echo "== fuzzing (${NS_FUZZ_SECONDS:-60} s per target)"
scripts/fuzz.sh "${NS_FUZZ_SECONDS:-60}"

if [ -z "${NS_SKIP_BINDINGS:-}" ]; then
  for binding in node csharp swift; do
    if [ -x "bindings/$binding/test.sh" ]; then
      echo "== bindings/$binding"
      "bindings/$binding/test.sh"
    fi
  done
fi
echo "== all tests passed"
