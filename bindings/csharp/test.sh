#!/usr/bin/env bash
# Tests of the C# binding, with Mono (no .NET SDK needed). Run after the library is built
# (cargo build --release). Installs Mono with apt when mcs is missing, compiles the binding,
# the tests and the quickstart with mcs, and runs them with mono. Exits non-zero on failure.
#
#   bindings/csharp/test.sh [NAME_FILTER]
#
# Environment: NS_ONNXRUNTIME_PATH (else found in .venv or python3's onnxruntime),
# NS_LIB_DIR (folder of libnodespace.so; default target/release), NS_CLI (the reference CLI;
# default target/release/examples/cli, built here when missing), NS_REAL_MODELS,
# NS_REQUIRE_REAL_MODELS=1 (a missing real model fails instead of being skipped).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

# System.Runtime.Serialization: DataContractJsonSerializer (JsonSchemas.Deserialize), part of
# netstandard2.0 but a package of its own in Debian's Mono.
if ! command -v mcs >/dev/null || ! command -v mono >/dev/null || [ ! -f /usr/lib/mono/4.5/System.Runtime.Serialization.dll ]; then
  echo "== installing Mono (mcs, mono, System.Runtime.Serialization)"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends mono-mcs mono-runtime libmono-system-core4.0-cil \
    libmono-system-runtime-serialization4.0-cil >/dev/null
fi

lib_dir="$(cd "${NS_LIB_DIR:-target/release}" 2>/dev/null && pwd || true)"
case "$(uname -s)" in Darwin) lib_name=libnodespace.dylib ;; *) lib_name=libnodespace.so ;; esac
if [ -z "$lib_dir" ] || [ ! -f "$lib_dir/$lib_name" ]; then
  echo "error: ${NS_LIB_DIR:-target/release}/$lib_name not found: build the library first (cargo build --release)" >&2
  exit 1
fi

if [ -z "${NS_ONNXRUNTIME_PATH:-}" ]; then
  for f in "$root"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* \
           "$root"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime*.dylib; do
    if [ -f "$f" ]; then NS_ONNXRUNTIME_PATH="$f"; break; fi
  done
fi
if [ -z "${NS_ONNXRUNTIME_PATH:-}" ] && command -v python3 >/dev/null; then
  capi="$(python3 -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' 2>/dev/null || true)"
  for f in "$capi"/libonnxruntime.so* "$capi"/libonnxruntime*.dylib; do
    if [ -f "$f" ]; then NS_ONNXRUNTIME_PATH="$f"; break; fi
  done
fi
if [ -z "${NS_ONNXRUNTIME_PATH:-}" ]; then
  echo "note: no development ONNX Runtime found (NS_ONNXRUNTIME_PATH, .venv, python3 onnxruntime); the library will search on its own" >&2
else
  export NS_ONNXRUNTIME_PATH
  echo "== ONNX Runtime: $NS_ONNXRUNTIME_PATH"
fi

# The Rust CLI is the reference for generated texts and real-model vectors.
if [ -z "${NS_CLI:-}" ] && [ ! -x target/release/examples/cli ] && command -v cargo >/dev/null; then
  echo "== building the reference CLI (cargo build --release --example cli)"
  cargo build --release --example cli
fi

build="$here/build"
rm -rf "$build"
mkdir -p "$build/example"
mcs_flags=(-langversion:7.2 -warn:4 -warnaserror+ -nologo -debug)

echo "== compiling the binding (mcs, C# 7.2)"
mcs "${mcs_flags[@]}" -target:library -unsafe -out:"$build/NodeSpace.dll" \
  -r:System.dll -r:System.Core.dll -r:System.Runtime.Serialization.dll "$here"/src/*.cs
# Mono resolves the P/Invoke name "nodespace" through this dllmap (an absolute path here).
cat >"$build/NodeSpace.dll.config" <<EOF
<configuration>
  <dllmap dll="nodespace" target="$lib_dir/$lib_name" />
</configuration>
EOF

echo "== compiling the tests"
mcs "${mcs_flags[@]}" -target:exe -out:"$build/NodeSpace.Tests.exe" \
  -r:"$build/NodeSpace.dll" -r:System.dll -r:System.Core.dll -r:System.Runtime.Serialization.dll "$here"/tests/*.cs

echo "== compiling the quickstart (examples/csharp)"
cp "$build/NodeSpace.dll" "$build/example/"
mcs "${mcs_flags[@]}" -target:exe -out:"$build/example/Quickstart.exe" \
  -r:"$build/example/NodeSpace.dll" -r:System.Core.dll "$root"/examples/csharp/*.cs

echo "== quickstart on the tiny models (library found through LD_LIBRARY_PATH, no dllmap)"
gen_model="models/tiny/gen-llama"
[ -f "$gen_model/expected.json" ] || gen_model=""
LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
DYLD_LIBRARY_PATH="$lib_dir${DYLD_LIBRARY_PATH:+:$DYLD_LIBRARY_PATH}" \
  mono --debug "$build/example/Quickstart.exe" models/tiny/embed-bert $gen_model

echo "== without dllmap or LD_LIBRARY_PATH, a missing native library is reported with where to put it"
if out="$(env -u LD_LIBRARY_PATH -u DYLD_LIBRARY_PATH mono "$build/example/Quickstart.exe" models/tiny/embed-bert 2>&1)"; then
  echo "note: libnodespace was found without help (installed system-wide?); check skipped"
elif grep -q "runtimes/<rid>/native/" <<<"$out"; then
  echo "ok: DllNotFoundException says where .NET and Mono look for libnodespace"
else
  echo "error: unexpected failure without the native library:" >&2
  echo "$out" >&2
  exit 1
fi

echo "== tests (library found through NodeSpace.dll.config)"
mono --debug "$build/NodeSpace.Tests.exe" "$root" "$@"
