#!/usr/bin/env bash
# Run every fuzz target for a bounded time (default 60 s each) on the tiny models, with
# AddressSanitizer. cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them (its sanitizer runtimes ship with rust-std).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script; add such an
# input as a regression test before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/need.sh
need c++ g++ || exit 1  # libfuzzer-sys compiles libFuzzer (C++)
seconds=${1:-60}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(embed_batch generate_request chat_template model_configs)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd fuzz
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 >"$log" 2>&1; then
    tail -40 "$log"; echo "fuzz: $t FOUND A CRASH (see fuzz/artifacts/$t)"; exit 1
  fi
  echo "fuzz: $t $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1), no crash"
  rm -f "$log"
done
