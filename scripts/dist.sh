#!/usr/bin/env bash
# Assemble a folder an app can consume:
#   dist/nodespace-<version>-<os>-<arch>/
#     lib/libnodespace.so (+ .a), lib/libonnxruntime.so* (found beside libnodespace at run time)
#     include/nodespace.h, lib/pkgconfig/nodespace.pc (relocatable), README.md
# The folder works when moved: libnodespace finds ONNX Runtime in its own folder.
#   scripts/dist.sh [OUT_DIR]     (ONNX Runtime from NS_ONNXRUNTIME_PATH or .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
os=$(uname -s | tr '[:upper:]' '[:lower:]'); arch=$(uname -m)
out=${1:-dist/nodespace-$version-$os-$arch}
[ -n "${NS_ONNXRUNTIME_PATH:-}" ] && [ -f "$NS_ONNXRUNTIME_PATH" ] || { echo "no ONNX Runtime: run scripts/setup.sh or set NS_ONNXRUNTIME_PATH" >&2; exit 1; }

cargo build --release --lib
rm -rf "$out"; mkdir -p "$out/lib/pkgconfig" "$out/include"
case "$os" in darwin) lib=libnodespace.dylib ;; *) lib=libnodespace.so ;; esac
cp "target/release/$lib" target/release/libnodespace.a "$out/lib/"
cp include/nodespace.h "$out/include/"
ort_name=$(basename "$NS_ONNXRUNTIME_PATH")
cp "$NS_ONNXRUNTIME_PATH" "$out/lib/$ort_name"
# The plain name too, so that the library's search finds it whatever the version suffix.
[ "$ort_name" = libonnxruntime.so ] || ln -sf "$ort_name" "$out/lib/libonnxruntime.so"
cat > "$out/lib/pkgconfig/nodespace.pc" <<PC
prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: nodespace
Description: On-device embeddings and text generation over ONNX Runtime
Version: $version
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lnodespace
Cflags: -I\${includedir}
PC
cat > "$out/README.md" <<'MD'
# nodespace (binary distribution)

- `include/nodespace.h`: the C API; every function is documented there.
- `lib/libnodespace.so` (`.dylib` on macOS, `nodespace.dll` on Windows) and the static
  `libnodespace.a`; `lib/libonnxruntime*`: the ONNX Runtime it loads. Keep them in the same
  folder: libnodespace looks for ONNX Runtime beside itself (or set NS_ONNXRUNTIME_PATH,
  or call ns_runtime_init with a path).

## C / C++

    cc app.c $(PKG_CONFIG_PATH=/path/to/this/lib/pkgconfig pkg-config --cflags --libs nodespace)

## Swift (SwiftPM)

Use the `NodeSpace` package in `bindings/swift` of the source tree: its `CNodeSpace`
module map links `nodespace`; pass `-L lib` (or set LIBRARY_PATH) when building, and ship
`lib/` inside the app bundle (`@rpath`). On macOS an `.xcframework` is built by
`bindings/swift/scripts/build-xcframework.sh`.

## C# (.NET)

Put `libnodespace.*` and `libonnxruntime.*` in `runtimes/<rid>/native/` of the NuGet
package (or next to the app); the `NodeSpace` binding P/Invokes `nodespace`.
MD
echo "$out"
