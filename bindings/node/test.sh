#!/usr/bin/env bash
# Tests of the Node binding (bindings/node), with Node's built-in test runner. Run after the
# library is built (cargo build --release). Installs the dependencies with `npm ci`, points
# NODESPACE_LIBRARY at target/release/libnodespace.so (unless it is set), finds a development
# ONNX Runtime, runs examples/node/quickstart.mjs on the tiny models, then `node --test`.
# Exits non-zero on failure.
#
#   bindings/node/test.sh [extra node --test arguments, e.g. --test-name-pattern=abort]
#
# Environment: NODESPACE_LIBRARY (the library; default ../../target/release/libnodespace.so),
# NS_ONNXRUNTIME_PATH (else found in .venv or python3's onnxruntime), NS_CLI (the reference
# CLI; default target/release/examples/cli, built here when missing and cargo is available),
# NS_REAL_MODELS (default models/real), NS_REQUIRE_REAL_MODELS=1 (a missing real model fails
# instead of being skipped).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: node and npm are needed (Node.js >= 18.18)" >&2
  exit 1
fi
echo "== node $(node --version), npm $(npm --version)"

case "$(uname -s)" in
  Darwin) lib_name=libnodespace.dylib ;;
  MINGW* | MSYS* | CYGWIN*) lib_name=nodespace.dll ;;
  *) lib_name=libnodespace.so ;;
esac
if [ -z "${NODESPACE_LIBRARY:-}" ]; then
  NODESPACE_LIBRARY="$here/../../target/release/$lib_name"
fi
if [ ! -f "$NODESPACE_LIBRARY" ]; then
  echo "error: $NODESPACE_LIBRARY not found: build the library first (cargo build --release) or set NODESPACE_LIBRARY" >&2
  exit 1
fi
NODESPACE_LIBRARY="$(cd "$(dirname "$NODESPACE_LIBRARY")" && pwd)/$(basename "$NODESPACE_LIBRARY")"
export NODESPACE_LIBRARY
echo "== library: $NODESPACE_LIBRARY"

if [ -z "${NS_ONNXRUNTIME_PATH:-}" ]; then
  for f in "$root"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* \
           "$root"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime*.dylib; do
    if [ -f "$f" ]; then NS_ONNXRUNTIME_PATH="$f"; break; fi
  done
fi
if [ -z "${NS_ONNXRUNTIME_PATH:-}" ] && command -v python3 >/dev/null; then
  capi="$(python3 -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' 2>/dev/null || true)"
  if [ -n "$capi" ]; then
    for f in "$capi"/libonnxruntime.so* "$capi"/libonnxruntime*.dylib; do
      if [ -f "$f" ]; then NS_ONNXRUNTIME_PATH="$f"; break; fi
    done
  fi
fi
if [ -n "${NS_ONNXRUNTIME_PATH:-}" ]; then
  export NS_ONNXRUNTIME_PATH
  echo "== ONNX Runtime: $NS_ONNXRUNTIME_PATH"
else
  echo "note: no development ONNX Runtime found (NS_ONNXRUNTIME_PATH, .venv, python3 onnxruntime); the library will search on its own" >&2
fi

# The Rust CLI is the reference for greedy tokens and real-model vectors.
if [ -z "${NS_CLI:-}" ] && [ ! -x "$root/target/release/examples/cli" ] && command -v cargo >/dev/null; then
  echo "== building the reference CLI (cargo build --release --example cli)"
  (cd "$root" && cargo build --release --example cli)
fi

cd "$here"
echo "== npm ci"
npm ci --no-audit --no-fund

echo "== quickstart (examples/node/quickstart.mjs) on the tiny models"
node "$root/examples/node/quickstart.mjs" "$root/models/tiny/embed-bert" "$root/models/tiny/gen-llama"

flags=()
if node --help | grep -q -- '--test-concurrency'; then flags+=(--test-concurrency=1); fi
if node --help | grep -q -- '--test-timeout'; then flags+=(--test-timeout=600000); fi
echo "== node --test ${flags[*]+${flags[*]}} test/*.test.js $*"
node --test ${flags[@]+"${flags[@]}"} "$@" test/*.test.js
