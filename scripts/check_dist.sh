#!/usr/bin/env bash
# The dist folder works when moved: build it, move it, compile examples/c/embed.c with its
# pkg-config file and run it with no ONNX Runtime path set (found beside libnodespace).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
scripts/dist.sh "$tmp/built" >/dev/null
mv "$tmp/built" "$tmp/moved"
cc examples/c/embed.c $(PKG_CONFIG_PATH="$tmp/moved/lib/pkgconfig" pkg-config --cflags --libs nodespace) -o "$tmp/embed"
out=$(env -u NS_ONNXRUNTIME_PATH -u ORT_DYLIB_PATH "$tmp/embed" models/tiny/embed-bert "same" "same")
echo "$out" | grep -q "32 dimensions" && echo "$out" | grep -q "cos\[0\]: 1.0000 1.0000" || { echo "dist check failed: $out" >&2; exit 1; }
echo "dist: moved folder works (library, header, pkg-config, ONNX Runtime beside the library)"
