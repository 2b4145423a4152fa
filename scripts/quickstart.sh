#!/usr/bin/env bash
# The main job on a fresh machine: set up, then embed some text and stream a summary of a
# meeting note, and list its action items (as text, and as JSON under a JSON Schema), with
# real models (all-MiniLM-L6-v2 and a generation model: SmolLM2-135M-Instruct, or the one
# --model names); then one tool call on Qwen2.5-Coder-0.5B-Instruct.
#
#   scripts/quickstart.sh [--model SmolLM2-135M-Instruct | Qwen2.5-Coder-0.5B-Instruct | gemma-3-270m]
#
# A model without a chat template (gemma-3-270m is a base model) gets the note as raw
# text that its answer continues.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=SmolLM2-135M-Instruct
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=${2:?--model needs a name}; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$MODEL" in
  SmolLM2-135M-Instruct|Qwen2.5-Coder-0.5B-Instruct|gemma-3-270m) ;;
  *) echo "quickstart: --model $MODEL: not one of SmolLM2-135M-Instruct, Qwen2.5-Coder-0.5B-Instruct, gemma-3-270m" >&2; exit 2 ;;
esac
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
# A base model (no chat template) continues text: the task becomes the start of its answer.
if target/release/examples/cli info --model "models/real/$MODEL" | grep -q '^template: *yes'; then
  CHAT=1
else
  CHAT=0
fi
generate() {
  local prompt
  if [ "$CHAT" = 1 ]; then
    prompt=(--user "$NOTE

$1")
  else
    prompt=(--prompt "$NOTE

$2")
  fi
  shift 2
  target/release/examples/cli generate --model "models/real/$MODEL" --variant fused \
    "${prompt[@]}" --max-new-tokens 120 --greedy "$@"
}
echo
echo "== Generation ($MODEL), streamed: the meeting note"
echo "$NOTE" | fold -s -w 88 | sed 's/ *$//; s/^/   /'
echo
echo "-- summary"
generate "Summarize the meeting above in two sentences." "Summary of the meeting in two sentences:"
echo
echo "-- action items"
generate "List the action items from the meeting above as bullet points." "Action items:
-"
echo
echo "-- action items as JSON: decoding constrained by examples/action_items.schema.json"
echo "   (an app can put these straight into its task list; unconstrained, a small model's"
echo "   JSON often does not parse)"
generate "Extract the action items of the meeting above as a JSON array of objects with the keys owner, task and due (null when there is no date)." \
  "Action items as JSON (owner, task, due):" --json-schema examples/action_items.schema.json --max-new-tokens 300
echo
# Tool calls need a model whose chat template offers tools (Qwen2.5's does; SmolLM2's and
# Gemma 3's do not): the calls are parsed into structured calls, and "one" constrains the
# answer to exactly one call whose arguments validate against its tool's parameters.
TOOL_MODEL=models/real/Qwen2.5-Coder-0.5B-Instruct
if [ -d "$TOOL_MODEL" ]; then
  echo "-- a tool call (Qwen2.5-Coder-0.5B-Instruct q4, tools of examples/tools.json: create_task, search_notes, set_reminder)"
  target/release/examples/cli generate --model "$TOOL_MODEL" --variant q4 --greedy --max-new-tokens 120 \
    --system "You are the assistant of a notes app. Today is $(date +%A), $(date +%F)." \
    --user "Remind me to send Sam the budget figures on Monday at 10:00." \
    --tools examples/tools.json --tool-choice one
else
  echo "-- tool calls: skipped, $TOOL_MODEL is not installed (scripts/setup.sh installs it)"
fi
