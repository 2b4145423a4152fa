#!/usr/bin/env bash
# Swift binding tests, run after the library is built (`cargo build --release`):
#
#   bindings/swift/test.sh
#
# Swift is not packaged for this Debian release, so the tests run in a Debian trixie chroot
# with Debian's swiftlang 6.0.3 (made by ensure_chroot below: debootstrap, then apt's swiftlang),
# created on first use and cached at ${SWIFT_CHROOT:-$HOME/.cache/trixie-swift} (~2.7 GB;
# ~1-4 minutes to create). Needs root (debootstrap, chroot, bind mounts).
#
# What it does:
#  1. stages target/release/libnodespace.so and ONNX Runtime in target/swift/lib (the
#     chroot only sees the repository, so a runtime from elsewhere is copied there);
#     ONNX Runtime: NS_ONNXRUNTIME_PATH, else .venv, else python3's onnxruntime module;
#  2. writes reference outputs of the Rust CLI (target/release/examples/cli) for the real
#     models to target/swift/reference, on the host (scripts/make_reference.py);
#  3. bind-mounts /proc /sys /dev /dev/pts and the repository (at /src) into the chroot,
#     builds the package and its tests with warnings as errors, runs `swift test`, builds
#     and runs the examples/swift quickstart;
#  4. always unmounts (trap), also on failure, Ctrl-C or SIGTERM (stopping what it started
#     first). Runs are serialized by locks; mounts a killed run left behind are removed.
#
# Environment: SWIFT_CHROOT (chroot folder), NS_ONNXRUNTIME_PATH, NS_REQUIRE_REAL_MODELS=1
# (real-model tests fail instead of skipping when a model is missing), NS_REAL_MODELS (the
# real models' folder, default models/real; must be inside the repository),
# SWIFT_TEST_FILTER (passed to `swift test --filter`).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
R=${SWIFT_CHROOT:-$HOME/.cache/trixie-swift}
R=${R%/}
stage=$root/target/swift
inside=/src # where the repository appears in the chroot

log() { printf '== swift: %s\n' "$*"; }
die() { printf 'bindings/swift/test.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
mkdir -p "$(dirname "$R")" "$stage"
# One run at a time per chroot (they share its mount points) and per checkout (they share
# target/swift: the staged library and the build folders).
exec 8>"$stage/.lock"
flock 8
exec 9>"$R.lock"
flock 9

# ---- mounts -------------------------------------------------------------------------------

# Mount points under a folder, deepest first (from /proc/self/mounts; octal escapes decoded).
mounts_under() {
  local dir
  dir=$(readlink -f "$1" 2>/dev/null || echo "$1")
  awk '{print $2}' /proc/self/mounts | while read -r m; do printf '%b\n' "$m"; done |
    awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r
}

unmount_all() {
  local m
  for m in $(mounts_under "$1"); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
  if [ -n "$(mounts_under "$1")" ]; then
    echo "bindings/swift/test.sh: still mounted under $1:" >&2
    mounts_under "$1" >&2
    return 1
  fi
}

# rm -rf that never follows into a mount: unmount everything below first, and
# --one-file-system as a second guard (a bind-mounted /dev must never be emptied).
safe_remove() {
  [ -e "$1" ] || return 0
  unmount_all "$1" || die "refusing to remove $1 while something is mounted below it"
  rm -rf --one-file-system "$1"
}

mount_system() {
  local d
  for d in proc sys dev dev/pts; do
    mkdir -p "$R/$d"
    if ! mountpoint -q "$R/$d"; then
      mount --bind "/$d" "$R/$d"
      # Private: on hosts with shared mount propagation, mounts made below it (dev/pts)
      # or their removal must not propagate back to the host's /dev.
      mount --make-private "$R/$d"
    fi
  done
}

# Long steps run in their own process group, waited for with `wait` (which a signal
# interrupts, unlike a foreground command), so that Ctrl-C or a CI timeout stops them and
# unmounts at once. Only the group this script started is signalled.
child=""
run() {
  setsid "$@" &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=""
  return "$rc"
}

# Everything in the session `run` started (swift-build puts its compiler jobs in process
# groups of their own, but they stay in the session).
session_pids() {
  if command -v ps >/dev/null; then
    ps -eo pid=,sid= | awk -v s="$1" '$2 == s {print $1}'
  else # no procps: the session leader's process group at least
    kill -0 -- "-$1" 2>/dev/null && echo "-$1"
  fi
}

stop_child() {
  [ -n "$child" ] || return 0
  local pids i
  pids=$(session_pids "$child")
  [ -z "$pids" ] || kill -TERM -- $pids 2>/dev/null || true
  for i in 1 2 3 4 5 6 7 8 9 10; do
    [ -n "$(session_pids "$child")" ] || break
    sleep 0.5
  done
  pids=$(session_pids "$child")
  [ -z "$pids" ] || kill -KILL -- $pids 2>/dev/null || true
  wait "$child" 2>/dev/null || true
  child=""
}

cleanup() {
  local rc=$?
  stop_child
  if [ -d "$R" ]; then
    unmount_all "$R" || rc=1
  fi
  [ "$rc" = 0 ] || echo "bindings/swift/test.sh: FAILED (exit $rc)" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'stop_child; exit 130' INT
trap 'stop_child; exit 143' TERM

# A previous run killed with SIGKILL may have left mounts behind: start clean.
[ -d "$R" ] && unmount_all "$R"

CH=(chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
    DEBIAN_FRONTEND=noninteractive)

# ---- the chroot (the shared recipe's steps, made restartable) ------------------------------

ensure_chroot() {
  # (usr/bin/swift is a symlink that resolves only inside the chroot.)
  if [ -f "$R/.nodespace-swift-ready" ] && [ -L "$R/usr/bin/swift" -o -x "$R/usr/bin/swift" ]; then
    return
  fi
  local start mirror security
  start=$(date +%s)
  log "creating the trixie chroot with swiftlang in $R (first run only)"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${mirror%/debian}/debian-security
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq && apt-get install -y -qq debootstrap
  fi
  if [ ! -x "$R/usr/bin/apt-get" ]; then
    # Bootstrap into a scratch folder and move it in place only when complete, so an
    # interrupted run never leaves a half-made chroot that looks usable.
    safe_remove "$R.partial"
    safe_remove "$R"
    run debootstrap --variant=minbase trixie "$R.partial" "$mirror"
    unmount_all "$R.partial"
    mv "$R.partial" "$R"
  fi
  mount_system
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  printf 'deb %s trixie main\ndeb %s trixie-updates main\ndeb %s trixie-security main\n' \
    "$mirror" "$mirror" "$security" > "$R/etc/apt/sources.list"
  run "${CH[@]}" apt-get update -qq
  run "${CH[@]}" apt-get install -y -qq swiftlang
  run "${CH[@]}" apt-get clean
  touch "$R/.nodespace-swift-ready"
  log "chroot ready in $(( $(date +%s) - start )) s"
}

# ---- what the tests need, staged inside the repository -------------------------------------

find_onnxruntime() {
  local f dir
  if [ -n "${NS_ONNXRUNTIME_PATH:-}" ]; then
    [ -f "$NS_ONNXRUNTIME_PATH" ] || die "NS_ONNXRUNTIME_PATH=$NS_ONNXRUNTIME_PATH is not a file"
    echo "$NS_ONNXRUNTIME_PATH"; return
  fi
  for f in "$root"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*; do
    [ -f "$f" ] && { echo "$f"; return; }
  done
  dir=$(python3 -c 'import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))' 2>/dev/null || true)
  for f in "$dir"/capi/libonnxruntime.so*; do
    [ -f "$f" ] && { echo "$f"; return; }
  done
  die "ONNX Runtime not found: set NS_ONNXRUNTIME_PATH, or run scripts/setup.sh (.venv), or pip install onnxruntime"
}

copy_if_changed() { cmp -s "$1" "$2" 2>/dev/null || cp -f "$1" "$2"; }

mount_repository() { # the system folders and the repository (at $inside) in the chroot
  mount_system
  mkdir -p "$R$inside"
  if ! mountpoint -q "$R$inside"; then
    mount --bind "$root" "$R$inside"
    mount --make-private "$R$inside"
  fi
}

# --binary-package DIR: only asks SwiftPM about the binary package scripts/package/swift.sh
# made in DIR (inside the repository): DIR/swiftpm-dump-package.json (`swift package
# dump-package` of DIR/NodeSpace) and DIR/swiftpm-checksum.txt (`swift package
# compute-checksum` of the zip), which scripts/package/check_xcframework.py compares.
if [ "${1:-}" = --binary-package ]; then
  dir=$(cd "${2:?usage: test.sh --binary-package DIR}" && pwd)
  case "$dir/" in "$root"/*) ;; *) die "$dir is outside the repository, which is all the chroot sees" ;; esac
  ensure_chroot
  mount_repository
  pkg=$inside${dir#"$root"}
  run "${CH[@]}" bash -c "set -e; cd '$pkg/NodeSpace'; swift package dump-package > '$pkg/swiftpm-dump-package.json'
    swift package compute-checksum '$pkg/CNodeSpace.xcframework.zip' > '$pkg/swiftpm-checksum.txt'"
  log "SwiftPM read $dir/NodeSpace/Package.swift and checksummed the zip"
  exit 0
fi

lib=$root/target/release/libnodespace.so
[ -f "$lib" ] || die "$lib is missing: build the library first (cargo build --release)"
ort=$(find_onnxruntime)
mkdir -p "$stage/lib" "$stage/reference" "$stage/build"
# A snapshot of the library: a concurrent `cargo build` cannot swap it mid-test.
copy_if_changed "$lib" "$stage/lib/libnodespace.so"
ort_name=$(basename "$ort")
copy_if_changed "$ort" "$stage/lib/$ort_name"
log "library $lib, ONNX Runtime $ort"

cli=$root/target/release/examples/cli
if [ ! -x "$cli" ] && command -v cargo >/dev/null; then
  (cd "$root" && cargo build --release --example cli)
fi
if [ -x "$cli" ]; then
  NS_ONNXRUNTIME_PATH=$ort python3 "$here/scripts/make_reference.py" --cli "$cli" --repo "$root" --out "$stage/reference"
else
  log "no CLI at $cli: real-model tests will report missing references"
fi

ensure_chroot

mount_repository

# NS_REAL_MODELS (another folder of real models) must be inside the repository to be seen.
real_models=""
if [ -n "${NS_REAL_MODELS:-}" ]; then
  real_models=$(readlink -f "$NS_REAL_MODELS")
  case "$real_models/" in
    "$root"/*) real_models=$inside${real_models#"$root"} ;;
    *) die "NS_REAL_MODELS=$NS_REAL_MODELS is outside the repository, which is all the chroot sees" ;;
  esac
fi

run_in_chroot() {
  run "${CH[@]}" \
    LIBRARY_PATH="$inside/target/swift/lib" \
    LD_LIBRARY_PATH="$inside/target/swift/lib" \
    NS_ONNXRUNTIME_PATH="$inside/target/swift/lib/$ort_name" \
    NS_SWIFT_REFERENCE="$inside/target/swift/reference" \
    NS_REQUIRE_REAL_MODELS="${NS_REQUIRE_REAL_MODELS:-}" \
    NS_REAL_MODELS="$real_models" \
    SWIFT_TEST_FILTER="${SWIFT_TEST_FILTER:-}" \
    bash -c "$1"
}

log "$("${CH[@]}" swift --version 2>&1 | head -1)"
run_in_chroot '
set -euo pipefail
no_warnings() { # build output on stdout; fail on any warning
  local out rc; out=$(mktemp)
  set +e; "$@" 2>&1 | tee "$out"; rc=${PIPESTATUS[0]}; set -e
  if grep -E "(^|[^a-z])warning:" "$out" >/dev/null; then
    echo "warnings in: $*" >&2; rc=1
  fi
  rm -f "$out"; return $rc
}
flags=(-Xswiftc -warnings-as-errors)
cd /src/bindings/swift
no_warnings swift build --scratch-path /src/target/swift/build/package --build-tests "${flags[@]}"
filter=(); [ -n "$SWIFT_TEST_FILTER" ] && filter=(--filter "$SWIFT_TEST_FILTER")
swift test --scratch-path /src/target/swift/build/package --skip-build "${filter[@]}"

cd /src/examples/swift/Quickstart
no_warnings swift build --scratch-path /src/target/swift/build/example "${flags[@]}"
gen=""; [ -d /src/models/tiny/gen-llama ] && gen=/src/models/tiny/gen-llama
swift run --scratch-path /src/target/swift/build/example --skip-build Quickstart /src/models/tiny/embed-bert $gen
'
log "all Swift tests passed"
