#!/usr/bin/env bash
# Assemble a folder an app can consume:
#   dist/nodespace-<version>-<os>-<arch>/
#     lib/libnodespace.so (+ .a), lib/libonnxruntime.so* (found beside libnodespace at run time)
#     include/nodespace.h, lib/pkgconfig/nodespace.pc (relocatable), README.md
#     debug/libnodespace.so.debug (the shared library's debug info, split off)
# The shipped libraries are stripped: the shared one of everything but its dynamic symbols
# (its debug info and symbol table go to debug/, linked by .gnu_debuglink), the static one
# of its debug info (strip --strip-debug; its symbols stay, a linker needs them).
# The folder works when moved: libnodespace finds ONNX Runtime in its own folder.
#   scripts/dist.sh [OUT_DIR]     (ONNX Runtime from NS_ONNXRUNTIME_PATH or .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/need.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
os=$(uname -s | tr '[:upper:]' '[:lower:]'); arch=$(uname -m)
out=${1:-dist/nodespace-$version-$os-$arch}
[ -n "${NS_ONNXRUNTIME_PATH:-}" ] && [ -f "$NS_ONNXRUNTIME_PATH" ] || { echo "no ONNX Runtime: run scripts/setup.sh or set NS_ONNXRUNTIME_PATH" >&2; exit 1; }

cargo build --release --lib
rm -rf "$out"; mkdir -p "$out/lib/pkgconfig" "$out/include" "$out/debug"
case "$os" in darwin) lib=libnodespace.dylib ;; *) lib=libnodespace.so ;; esac
cp "target/release/$lib" target/release/libnodespace.a "$out/lib/"
if [ "$os" = darwin ]; then
  # Xcode's tools: the debug info as a dSYM bundle, then local symbols and debug info off.
  dsymutil "$out/lib/$lib" -o "$out/debug/$lib.dSYM"
  strip -S -x "$out/lib/$lib"
  strip -S "$out/lib/libnodespace.a"
else
  need objcopy binutils || exit 1
  need strip binutils || exit 1
  objcopy --only-keep-debug "$out/lib/$lib" "$out/debug/$lib.debug"
  chmod -x "$out/debug/$lib.debug"
  strip --strip-unneeded "$out/lib/$lib"
  # The link's CRC is of the debug file; gdb looks for it beside the library or in lib/.debug/.
  objcopy --add-gnu-debuglink="$out/debug/$lib.debug" "$out/lib/$lib"
  strip --strip-debug "$out/lib/libnodespace.a"
fi
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
  or call ns_runtime_init with a path). Both libraries are stripped of debug info.
- `debug/libnodespace.so.debug` (`.dylib.dSYM` on macOS): the shared library's debug info
  and symbol table, not needed at run time. For symbolized backtraces in gdb, put it beside
  the library or in `lib/.debug/` (found through the library's `.gnu_debuglink`), or load
  it with `symbol-file`; lldb finds a dSYM beside the library.

## C / C++

    cc app.c $(PKG_CONFIG_PATH=/path/to/this/lib/pkgconfig pkg-config --cflags --libs nodespace)

## Swift (SwiftPM)

Use the `NodeSpace` package in `bindings/swift` of the source tree: its `CNodeSpace`
module map links `nodespace`; pass `-L lib` (or set LIBRARY_PATH) when building, and ship
`lib/` inside the app bundle (`@rpath`). Apps on macOS use the binary package with
`CNodeSpace.xcframework` that `scripts/package.sh` builds.

## C# (.NET)

Put `libnodespace.*` and `libonnxruntime.*` in `runtimes/<rid>/native/` of the NuGet
package (or next to the app); the `NodeSpace` binding P/Invokes `nodespace`.
MD
echo "$out"
