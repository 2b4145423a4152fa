#!/usr/bin/env bash
# Every package from the platform builds, each then installed into a clean project and used
# there as an app would (README, "Packages"):
#
#   scripts/package.sh [OUT_DIR]        (default dist/packages)
#
# A pipeline of stages (scripts/package/):
#   native.sh   OUT/native/<platform>/: each platform's library, stripped, with ONNX Runtime
#               (OUT/native/debug/: what stripping removed)
#   npm.sh      OUT/npm/: nodespace-<v>.tgz and one tarball per platform; test_npm.sh
#               installs them on Linux and, with Windows' node.exe, under Wine
#   nuget.sh    OUT/nuget/NodeSpace.<v>.nupkg: lib/netstandard2.0 + runtimes/<rid>/native;
#               test_nuget.sh installs it with nuget into a Mono app
#   swift.sh    OUT/swift/: CNodeSpace.xcframework.zip (+ .checksum) and the binary package
#               NodeSpace/ (Package.swift's binaryTarget); check_xcframework.py checks its
#               structure, with SwiftPM's own reading of it (bindings/swift/test.sh
#               --binary-package, in the Swift chroot; root only)
# Inputs: this tree's Linux build (built here) and scripts/cross.sh's Windows and macOS
# builds; a platform without a build is left out, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
out=${1:-dist/packages}
cargo build --release --lib
scripts/package/native.sh "$out/native"
scripts/package/npm.sh "$out/native" "$out/npm"
scripts/package/test_npm.sh "$out/npm"
scripts/package/nuget.sh "$out/native" "$out/nuget"
scripts/package/test_nuget.sh "$out/nuget" "$out/native"
scripts/package/swift.sh "$out/native" "$out/swift"
if [ -f "$out/swift/CNodeSpace.xcframework.zip" ]; then
  if [ "$(id -u)" = 0 ]; then
    bindings/swift/test.sh --binary-package "$out/swift"
  else
    echo "*** swift: SwiftPM NOT ASKED (bindings/swift/test.sh --binary-package needs root for its chroot) ***"
  fi
  "$(scripts/check_venv.sh)" scripts/package/check_xcframework.py "$out/swift"
fi
echo "packages in $out:"
(cd "$out" && find . -maxdepth 2 -type f \( -name '*.tgz' -o -name '*.nupkg' -o -name '*.zip' \) -exec du -k {} + | sort -k2 | awk '{ printf "  %-48s %6.1f MB\n", $2, $1 / 1024 }')
