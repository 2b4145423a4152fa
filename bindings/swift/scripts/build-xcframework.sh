#!/usr/bin/env bash
# Build CNodeSpace.xcframework for apps on macOS, and the binary Swift package around it.
#
#   bindings/swift/scripts/build-xcframework.sh /path/to/libonnxruntime.dylib [OUT_DIR]
#
# MACOS ONLY, AND NEVER RUN IN THIS PROJECT'S CI: it needs Xcode (xcodebuild, lipo,
# install_name_tool, codesign) and Rust's two Apple targets; the project's machines are
# Linux. It is the documented packaging path; see bindings/swift/README.md.
#
# ONNX Runtime: a universal (arm64 + x86_64) libonnxruntime.<version>.dylib, e.g. from
# onnxruntime-osx-universal2-<version>.tgz of the ONNX Runtime GitHub releases (lib/). The
# script puts it inside the framework beside the nodespace binary, where libnodespace looks
# for it at run time (it searches the folder of its own binary), so an app needs nothing else.
#
# Result (OUT_DIR, default bindings/swift/dist):
#   CNodeSpace.xcframework/                     macos-arm64_x86_64/CNodeSpace.framework
#       CNodeSpace.framework/Versions/A/
#           CNodeSpace                          universal dylib (libnodespace), id @rpath/...
#           libonnxruntime.<version>.dylib      universal, found beside CNodeSpace at run time
#           Headers/nodespace.h                 the repository's include/nodespace.h
#           Modules/module.modulemap            framework module CNodeSpace
#           Resources/Info.plist
#   CNodeSpace.xcframework.zip + .checksum      for a remote binaryTarget(url:checksum:)
#   NodeSpace/                                  a Swift package an app can depend on:
#       Package.swift                           scripts/Package.binary.swift (binaryTarget)
#       Sources/NodeSpace/*.swift               the same sources as bindings/swift
#       CNodeSpace.xcframework
#
# Apps add NodeSpace/ as a local package (or publish it and the zip: see the README), then
# `import NodeSpace`. Xcode embeds and signs CNodeSpace.framework like any framework.
set -euo pipefail

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh runs on macOS with Xcode only" >&2; exit 1; }
ort=${1:?usage: build-xcframework.sh /path/to/libonnxruntime.dylib [OUT_DIR]}
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
out=${2:-$here/dist}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
min_macos=13.0
targets=(aarch64-apple-darwin x86_64-apple-darwin)

lipo -info "$ort" | grep -q arm64 && lipo -info "$ort" | grep -q x86_64 ||
  { echo "$ort is not a universal (arm64 + x86_64) dylib" >&2; exit 1; }

# 1. libnodespace for both architectures, then one universal binary.
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  (cd "$root" && MACOSX_DEPLOYMENT_TARGET=$min_macos cargo build --release --lib --target "$t")
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lipo -create -output "$work/CNodeSpace" \
  "$root/target/aarch64-apple-darwin/release/libnodespace.dylib" \
  "$root/target/x86_64-apple-darwin/release/libnodespace.dylib"
install_name_tool -id @rpath/CNodeSpace.framework/Versions/A/CNodeSpace "$work/CNodeSpace"

# 2. A versioned macOS framework around it: binary, ONNX Runtime beside it, header, module map.
fw=$work/CNodeSpace.framework
mkdir -p "$fw/Versions/A/Headers" "$fw/Versions/A/Modules" "$fw/Versions/A/Resources"
cp "$work/CNodeSpace" "$fw/Versions/A/CNodeSpace"
ort_name=$(basename "$ort")
cp "$ort" "$fw/Versions/A/$ort_name"
install_name_tool -id "@rpath/CNodeSpace.framework/Versions/A/$ort_name" "$fw/Versions/A/$ort_name"
cp "$root/include/nodespace.h" "$fw/Versions/A/Headers/nodespace.h"
cat > "$fw/Versions/A/Modules/module.modulemap" <<'MODULEMAP'
framework module CNodeSpace [system] {
    umbrella header "nodespace.h"
    export *
}
MODULEMAP
cat > "$fw/Versions/A/Resources/Info.plist" <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>CFBundleExecutable</key><string>CNodeSpace</string>
    <key>CFBundleIdentifier</key><string>org.nodespace.CNodeSpace</string>
    <key>CFBundleName</key><string>CNodeSpace</string>
    <key>CFBundlePackageType</key><string>FMWK</string>
    <key>CFBundleShortVersionString</key><string>$version</string>
    <key>CFBundleVersion</key><string>$version</string>
    <key>LSMinimumSystemVersion</key><string>$min_macos</string>
</dict>
</plist>
PLIST
ln -s A "$fw/Versions/Current"
for link in CNodeSpace Headers Modules Resources; do
  ln -s "Versions/Current/$link" "$fw/$link"
done
# Ad-hoc signature so the framework loads as built; apps re-sign it when embedding.
codesign --force --sign - "$fw/Versions/A/$ort_name"
codesign --force --sign - "$fw"

# 3. The xcframework (one macOS slice holding both architectures), zipped with its checksum.
rm -rf "$out"
mkdir -p "$out"
xcodebuild -create-xcframework -framework "$fw" -output "$out/CNodeSpace.xcframework"
(cd "$out" && ditto -c -k --sequesterRsrc --keepParent CNodeSpace.xcframework CNodeSpace.xcframework.zip)

# 4. The binary Swift package: same Swift sources, CNodeSpace from the xcframework.
pkg=$out/NodeSpace
mkdir -p "$pkg/Sources"
cp -R "$here/Sources/NodeSpace" "$pkg/Sources/NodeSpace"
cp "$here/scripts/Package.binary.swift" "$pkg/Package.swift"
cp -R "$out/CNodeSpace.xcframework" "$pkg/CNodeSpace.xcframework"
(cd "$pkg" && swift package compute-checksum ../CNodeSpace.xcframework.zip > ../CNodeSpace.xcframework.zip.checksum)
(cd "$pkg" && swift build -c release) # the package builds against the xcframework

echo "built $out/CNodeSpace.xcframework and the package $pkg"
echo "remote binaryTarget checksum: $(cat "$out/CNodeSpace.xcframework.zip.checksum")"
