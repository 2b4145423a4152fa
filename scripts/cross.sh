#!/usr/bin/env bash
# Builds nodespace for Windows and macOS from this Linux machine.
#   scripts/cross.sh [windows] [macos-arm64] [macos-x86_64] [all]   (default: windows)
# Artifacts land in target/cross/<triple>/:
#   windows       x86_64-pc-windows-gnu   nodespace.dll, nodespace.dll.a (import library), feature directml
#   macos-arm64   aarch64-apple-darwin    libnodespace.dylib (@rpath install name, only ns_* exported), feature coreml
#   macos-x86_64  x86_64-apple-darwin     the same for Intel Macs
# then scripts/check_cross.sh checks each one (file type, architecture, exports, install
# name / imports).
#
# Why these tools: rustup cannot add targets without its server, so std is built for the
# target from source (-Zbuild-std) with Debian's rustc-web and its std sources
# (rust-web-src), unpacked into a private folder (they conflict with rustup when
# installed); mingw-w64 links Windows; zig (PyPI ziglang, driven by cargo-zigbuild) links
# macOS with its own system library stubs. All at pinned versions, cached in
#   $NS_CROSS_CACHE (default ~/.cache/nodespace-cross): tools/, and one target folder per
#   Cargo.lock (target-<hash>/), so a rebuild with the same dependencies only recompiles
#   nodespace itself.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${NS_CROSS_CACHE:-$HOME/.cache/nodespace-cross}
TOOLS=$CACHE/tools

# Pinned tools. Debian bookworm(-security) package versions; PyPI versions.
DEBS=(
  rustc-web=1.96.0+dfsg1-1~deb12u2 libstd-rust-web-dev=1.96.0+dfsg1-1~deb12u2
  libstd-rust-web-1.96=1.96.0+dfsg1-1~deb12u2 rust-web-src=1.96.0+dfsg1-1~deb12u2
  libllvm22=1:22.1.8-1~deb12u1
  gcc-mingw-w64-x86-64-win32=12.2.0-14+deb12u1+25.2+b1
  gcc-mingw-w64-x86-64-win32-runtime=12.2.0-14+deb12u1+25.2+b1
  gcc-mingw-w64-base=12.2.0-14+deb12u1+25.2+b1 binutils-mingw-w64-x86-64=2.40-2+10.4
  mingw-w64-x86-64-dev=10.0.0-3 mingw-w64-common=10.0.0-3
)
ZIG_PIP=(ziglang==0.17.1 cargo-zigbuild==0.24.1)

targets=()
for a in "${@:-windows}"; do
  case $a in
    windows) targets+=(x86_64-pc-windows-gnu) ;;
    macos-arm64) targets+=(aarch64-apple-darwin) ;;
    macos-x86_64) targets+=(x86_64-apple-darwin) ;;
    all) targets+=(x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin) ;;
    *) echo "unknown target '$a': expected windows, macos-arm64, macos-x86_64 or all" >&2; exit 2 ;;
  esac
done

# Debian's rustc and mingw-w64: downloaded and unpacked, not installed (no dpkg lock, no
# conflict with rustup). The stamp names the pins, so changing one re-unpacks.
install_debs() {
  local stamp=$TOOLS/debian.stamp want
  want=$(printf '%s\n' "${DEBS[@]}")
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  echo "== cross tools: downloading ${#DEBS[@]} Debian packages"
  rm -rf "$TOOLS/debs" "$TOOLS/root"
  mkdir -p "$TOOLS/debs" "$TOOLS/root"
  command -v apt-get >/dev/null || { echo "error: apt-get is needed to fetch the cross tools" >&2; exit 1; }
  if ! (cd "$TOOLS/debs" && apt-get download -qq "${DEBS[@]}" 2>/dev/null); then
    apt-get update -qq
    (cd "$TOOLS/debs" && apt-get download -qq "${DEBS[@]}") || {
      echo "error: a pinned package is not in this machine's apt sources; update DEBS in $0" >&2; exit 1; }
  fi
  for d in "$TOOLS"/debs/*.deb; do dpkg -x "$d" "$TOOLS/root"; done
  rm -rf "$TOOLS/debs"
  echo "$want" > "$stamp"
}

install_zig() {
  local stamp=$TOOLS/zig.stamp want
  want=$(printf '%s\n' "${ZIG_PIP[@]}")
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  echo "== cross tools: ${ZIG_PIP[*]} (PyPI)"
  rm -rf "$TOOLS/zig"
  python3 -m venv "$TOOLS/zig"
  "$TOOLS/zig/bin/pip" install -q "${ZIG_PIP[@]}"
  echo "$want" > "$stamp"
}

mkdir -p "$TOOLS"
install_debs
for t in "${targets[@]}"; do
  case $t in *apple-darwin) install_zig ;; esac
done

export PATH="$TOOLS/zig/bin:$TOOLS/root/usr/bin:$PATH"
export LD_LIBRARY_PATH="$TOOLS/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUSTC="$TOOLS/root/usr/bin/rustc" RUSTC_BOOTSTRAP=1
# The wrapper keeps llguidance's C API out of the DLL's exports (see the script).
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=$REPO/scripts/mingw-link.sh
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc-win32
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
# macOS: apps find the library through their rpath (Frameworks/, beside the executable),
# never at this machine's build path. Only the C ABI may be exported, but zig's linker
# ignores -exported_symbols_list (the list rustc hands every cdylib link), so every
# symbol is hidden at compile time instead: Rust's (std too, built here) with
# -Zdefault-visibility=hidden, which leaves #[no_mangle] extern "C" functions visible
# (those of the dependencies are made private-extern after the build, see below), and the
# C code linked in (oniguruma, under the tokenizer) with -fvisibility=hidden.
mac_flags="-C link-arg=-Wl,-install_name,@rpath/libnodespace.dylib -Zdefault-visibility=hidden"
export CARGO_TARGET_AARCH64_APPLE_DARWIN_RUSTFLAGS=$mac_flags
export CARGO_TARGET_X86_64_APPLE_DARWIN_RUSTFLAGS=$mac_flags
export CFLAGS_aarch64_apple_darwin=-fvisibility=hidden CFLAGS_x86_64_apple_darwin=-fvisibility=hidden
"$RUSTC" --version

# One target folder per Cargo.lock; older ones go.
lock=$(sha256sum Cargo.lock | cut -c1-16)
export CARGO_TARGET_DIR=$CACHE/target-$lock
for old in "$CACHE"/target-*; do
  [ -d "$old" ] && [ "$old" != "$CARGO_TARGET_DIR" ] && rm -rf "$old"
done

for t in "${targets[@]}"; do
  start=$(date +%s)
  out=$REPO/target/cross/$t
  echo "== building $t"
  case $t in
    *windows*)
      # The DLL carries no debug information (the Linux build keeps line tables for its
      # backtraces; 49 MB of the DLL would be DWARF that no Windows debugger reads). Mach-O
      # leaves DWARF in the object files anyway, and rustc's strip there needs rust-objcopy.
      CARGO_PROFILE_RELEASE_STRIP=debuginfo \
      cargo build --release --lib --features directml -Zbuild-std=std,panic_abort,panic_unwind --target "$t"
      rm -rf "$out"; mkdir -p "$out"
      cp "$CARGO_TARGET_DIR/$t/release/nodespace.dll" "$out/"
      cp "$CARGO_TARGET_DIR/$t/release/libnodespace.dll.a" "$out/nodespace.dll.a" ;;
    *apple-darwin)
      build() { cargo zigbuild --release --lib --features coreml -Zbuild-std=std,panic_abort,panic_unwind --target "$t"; }
      build
      # rustc exports the #[no_mangle] functions of every crate in a cdylib (llguidance's
      # llg_* C API); zig ignores the export list rustc gives it, but honours private-extern
      # symbols: mark the dependencies' exports so (scripts/macho_hide.py), then link again.
      deps=$(find "$CARGO_TARGET_DIR/$t/release/deps" -name 'lib*.rlib' ! -name 'libnodespace-*')
      # (Always linked again: a build that found the rlibs already patched still linked
      # before this step could run, e.g. after nodespace itself changed.)
      # shellcheck disable=SC2086 # one path per word
      python3 scripts/macho_hide.py $deps
      cargo clean -p nodespace --release --target "$t"
      build
      rm -rf "$out"; mkdir -p "$out"
      cp "$CARGO_TARGET_DIR/$t/release/libnodespace.dylib" "$out/" ;;
  esac
  cp include/nodespace.h "$out/"
  echo "built from $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)') on $(date -u +%Y-%m-%d) in $(( $(date +%s) - start )) s" > "$out/BUILD-INFO"
  # A copy outside the clone, so a fresh clone's test run can still check the builds
  # that run outside CI (macOS).
  rm -rf "$CACHE/artifacts/$t"; mkdir -p "$CACHE/artifacts"; cp -r "$out" "$CACHE/artifacts/$t"
  echo "== $t: $(cat "$out/BUILD-INFO") -> $out"
done
scripts/check_cross.sh "${targets[@]}"
