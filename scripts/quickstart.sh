#!/usr/bin/env bash
# The main job on a fresh machine: set up, then embed some text and stream a summary of a
# meeting note with real models (all-MiniLM-L6-v2, SmolLM2-135M-Instruct).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo build --release --example cli

echo
echo "== Embeddings (all-MiniLM-L6-v2): cosine similarity of four notes"
target/release/examples/cli embed --model models/real/all-MiniLM-L6-v2 --variant fused \
  "Budget review moved to Friday" \
  "The finance meeting is now on Friday" \
  "Buy oat milk and coffee beans" \
  "Q3 hiring plan: two backend engineers"

NOTE="Meeting notes, Tuesday: Ana presented the Q3 budget, which is 5% over plan. \
Ben will ask vendors for new quotes by Friday. The launch moves from May 2 to May 16 \
because QA found two blocking bugs. Chen owns the bug fixes. Next sync is Monday 10am."
echo
echo "== Generation (SmolLM2-135M-Instruct): summary and action items, streamed"
target/release/examples/cli generate --model models/real/SmolLM2-135M-Instruct --variant fused \
  --user "Summarize this meeting in two sentences, then list the action items. $NOTE" \
  --max-new-tokens 160 --greedy
