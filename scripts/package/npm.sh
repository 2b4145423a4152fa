#!/usr/bin/env bash
# Stage 2 (npm): the `nodespace` package and one package per platform, as `npm pack` tarballs.
#
#   scripts/package/npm.sh NATIVE_DIR OUT_DIR
#
# NATIVE_DIR is stage 1's output (scripts/package/native.sh). Writes to OUT_DIR:
#   nodespace-<version>.tgz                 bindings/node (JavaScript, types, README), with
#                                           optionalDependencies on the four below
#   nodespace-<platform>-<version>.tgz      @nodespace/<platform>: the library and ONNX
#                                           Runtime, `os`/`cpu` set so that npm installs
#                                           only the one matching the machine
# A platform missing from NATIVE_DIR gets no tarball (said loudly); the main package still
# names all four, as the published one does.
set -euo pipefail
cd "$(dirname "$0")/../.."
native=$(cd "${1:?usage: npm.sh NATIVE_DIR OUT_DIR}" && pwd)
mkdir -p "${2:?usage: npm.sh NATIVE_DIR OUT_DIR}"
out=$(cd "$2" && pwd)
version=$(node -p 'require("./bindings/node/package.json").version')
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT

for platform in linux-x64 win32-x64 darwin-arm64 darwin-x64; do
  if [ ! -f "$native/$platform/INFO" ]; then
    echo "*** npm: @nodespace/$platform NOT PACKAGED: no $native/$platform ***" >&2
    continue
  fi
  dir=$stage/$platform; mkdir -p "$dir"
  find "$native/$platform" -maxdepth 1 -type f ! -name INFO -exec cp {} "$dir/" \;
  os=${platform%-*}; cpu=${platform#*-}
  {
    echo "# @nodespace/$platform"
    echo
    echo "The native part of [nodespace](https://www.npmjs.com/package/nodespace) for $os $cpu:"
    echo "installed by \`npm install nodespace\` on this platform, not meant to be used alone."
    echo
    sed 's/^/    /' "$native/$platform/INFO"
  } > "$dir/README.md"
  (cd "$dir" && NAME="@nodespace/$platform" VERSION=$version OS=$os CPU=$cpu node -e '
    const fs = require("fs");
    const files = fs.readdirSync(".").filter((f) => f !== "package.json");
    fs.writeFileSync("package.json", JSON.stringify({
      name: process.env.NAME,
      version: process.env.VERSION,
      description: `nodespace native library and ONNX Runtime for ${process.env.OS} ${process.env.CPU}`,
      license: "MIT OR Apache-2.0",
      os: [process.env.OS],
      cpu: [process.env.CPU],
      files,
      preferUnplugged: true,
    }, null, 2) + "\n");' && npm pack --silent --pack-destination "$out" >/dev/null)
  echo "npm: $out/nodespace-$platform-$version.tgz ($(du -k "$out/nodespace-$platform-$version.tgz" | cut -f1) KB)"
done

# The main package: the binding as committed, plus the platform packages as optional
# dependencies (not in the committed package.json: this repository's own tests load the
# library from target/ and must not look for unpublished packages).
dir=$stage/main; mkdir -p "$dir"
cp -r bindings/node/{index.js,index.d.ts,lib,README.md,package.json} "$dir/"
(cd "$dir" && VERSION=$version node -e '
  const fs = require("fs");
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  pkg.optionalDependencies = Object.fromEntries(
    ["linux-x64", "win32-x64", "darwin-arm64", "darwin-x64"].map((p) => [`@nodespace/${p}`, process.env.VERSION]));
  delete pkg.scripts;
  fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");' && npm pack --silent --pack-destination "$out" >/dev/null)
echo "npm: $out/nodespace-$version.tgz ($(du -k "$out/nodespace-$version.tgz" | cut -f1) KB)"
