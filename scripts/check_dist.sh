#!/usr/bin/env bash
# The dist folder works when moved: build it, move it, compile examples/c/embed.c with its
# pkg-config file and run it with no ONNX Runtime path set (found beside libnodespace).
# The shipped libraries carry no debug info (no .debug_* sections; the shared library's is
# in debug/, linked by .gnu_debuglink), and the stripped static library still links.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/need.sh
need pkg-config pkg-config
need readelf binutils
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
scripts/dist.sh "$tmp/built" >/dev/null
mv "$tmp/built" "$tmp/moved"
d=$tmp/moved
fail() { echo "dist check failed: $*" >&2; exit 1; }

# Stripped: no debug sections in what ships, the debug info kept separately.
debug_sections() { readelf -S --wide "$1" | { grep -Eo '\.debug_[a-z_]+' || true; } | sort -u | tr '\n' ' '; }
s=$(debug_sections "$d/lib/libnodespace.so"); [ -z "$s" ] || fail "lib/libnodespace.so has $s"
s=$(debug_sections "$d/lib/libnodespace.a"); [ -z "$s" ] || fail "lib/libnodespace.a has $s"
readelf -S --wide "$d/lib/libnodespace.so" | grep -q '\.gnu_debuglink' || fail "lib/libnodespace.so has no .gnu_debuglink"
readelf -S --wide "$d/debug/libnodespace.so.debug" | grep -q '\.debug_line' || fail "debug/libnodespace.so.debug has no .debug_line"
exported=$(nm -D --defined-only "$d/lib/libnodespace.so" | grep -c ' T ns_')
[ "$exported" = "$(nm -D --defined-only target/release/libnodespace.so | grep -c ' T ns_')" ] || fail "stripping lost exported ns_ functions"

check_run() { # the example's output for two equal texts
  echo "$1" | grep -q "32 dimensions" && echo "$1" | grep -q "cos\[0\]: 1.0000 1.0000" || fail "$2: $1"
}
cc examples/c/embed.c $(PKG_CONFIG_PATH="$d/lib/pkgconfig" pkg-config --cflags --libs nodespace) -o "$tmp/embed"
check_run "$(env -u NS_ONNXRUNTIME_PATH -u ORT_DYLIB_PATH "$tmp/embed" models/tiny/embed-bert "same" "same")" "shared library"
if [ "$(uname -s)" = Linux ]; then
  # The static library, with the system libraries rustc names (--print native-static-libs).
  cc examples/c/embed.c -I"$d/include" "$d/lib/libnodespace.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$tmp/embed_static"
  check_run "$(NS_ONNXRUNTIME_PATH="$d/lib/libonnxruntime.so" "$tmp/embed_static" models/tiny/embed-bert "same" "same")" "static library"
fi
echo "dist: moved folder works (library, header, pkg-config, ONNX Runtime beside the library);" \
  "libraries stripped ($(du -k "$d/lib/libnodespace.so" | cut -f1) KB .so, $(du -k "$d/lib/libnodespace.a" | cut -f1) KB .a), debug info in debug/"
