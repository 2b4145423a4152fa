#!/usr/bin/env bash
# Stage 2 (Swift): CNodeSpace.xcframework.zip and the binary Swift package, from the two
# macOS builds, without Xcode (scripts/package/xcframework.py says what is inside).
#
#   scripts/package/swift.sh NATIVE_DIR OUT_DIR
#
# The framework binary's install name becomes @rpath/CNodeSpace.framework/Versions/A/CNodeSpace
# (llvm-install-name-tool, which signs arm64 again). Package.swift's binaryTarget URL is
# $NS_RELEASE_URL/CNodeSpace.xcframework.zip (default: the GitHub release of this version).
# Without both macOS builds in NATIVE_DIR nothing is made (said loudly).
set -euo pipefail
cd "$(dirname "$0")/../.."
native=$(cd "${1:?usage: swift.sh NATIVE_DIR OUT_DIR}" && pwd)
mkdir -p "${2:?usage: swift.sh NATIVE_DIR OUT_DIR}"
out=$(cd "$2" && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
for p in darwin-arm64 darwin-x64; do
  if [ ! -f "$native/$p/libnodespace.dylib" ]; then
    echo "*** swift: CNodeSpace.xcframework NOT PACKAGED: no $native/$p (scripts/cross.sh macos-arm64 macos-x86_64) ***" >&2
    exit 0
  fi
done
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for p in darwin-arm64 darwin-x64; do
  cp "$native/$p/libnodespace.dylib" "$work/$p.dylib"
  scripts/package/llvm_tool.sh install-name-tool -id @rpath/CNodeSpace.framework/Versions/A/CNodeSpace "$work/$p.dylib"
done
python3 scripts/package/xcframework.py "$work/darwin-arm64.dylib" "$work/darwin-x64.dylib" \
  "$native/darwin-arm64" "$native/darwin-x64" "$out" \
  "${NS_RELEASE_URL:-https://github.com/nodespace/nodespace/releases/download/v$version}"
