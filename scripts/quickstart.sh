#!/usr/bin/env bash
# The main job on a fresh machine: set up, then embed some text and stream a summary of a
# meeting note, and list its action items, with real models (all-MiniLM-L6-v2,
# SmolLM2-135M-Instruct).
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
# A 135M model does one task per request best: asked for a summary and the action items in
# one prompt it invents facts or repeats the note, so the two are separate requests, with
# the note first and the task after it (the most faithful of the prompt shapes tried).
generate() {
  target/release/examples/cli generate --model models/real/SmolLM2-135M-Instruct --variant fused \
    --user "$NOTE

$1" --max-new-tokens 120 --greedy
}
echo
echo "== Generation (SmolLM2-135M-Instruct), streamed: the meeting note"
echo "$NOTE" | fold -s -w 88 | sed 's/ *$//; s/^/   /'
echo
echo "-- summary"
generate "Summarize the meeting above in two sentences."
echo
echo "-- action items"
generate "List the action items from the meeting above as bullet points."
