#!/usr/bin/env python3
"""Prompt-lookup speculative decoding side by side, in one run (issue #16): nodespace's q4
and fused graphs with and without lookup, and llama.cpp / onnxruntime-genai when they are
set up (as in scripts/bench_generate_engines.py), on the app's copying work (the README's
meeting note: summary, action items, two rewrites) and on two prompts with nothing to copy
(a poem, an explanation). 2 threads, greedy, up to 128 new tokens, each engine in its own
process, warm pass discarded, --repeats rounds with the engines alternating; decode
tokens/s and time to first token per prompt group, ratios per round (min / median / max).

Also the physical limit: the bytes a decode pass reads (every weight the pass touches, the
embedding table's one row excepted, plus the KV cache at the mean context), the machine's
memory bandwidth (a numpy copy over 1 GiB: read + write bytes per second, best of 5), and
so the tokens/s one pass per token can reach.

  .venv/bin/python scripts/bench_lookup.py --repeats 5

onnxruntime-genai's graphs, from the same GGUF (outside the repo; ~4 GB of PyPI wheels):
  python3 -m venv /root/genai-venv && /root/genai-venv/bin/pip install torch transformers gguf \
      accelerate onnx onnxruntime-genai sentencepiece protobuf onnx_ir
  an HF folder /root/smollm2-hf: AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=...)
      (dequantized), its state_dict saved with safetensors (lm_head dropped: tied), its
      config without quantization_config and with architectures ["LlamaForCausalLM"], the
      tokenizer saved beside it
  /root/genai-venv/bin/python -m onnxruntime_genai.models.builder -i /root/smollm2-hf \
      -o /root/genai-smollm2-int4 -p int4 -e cpu       (and -p fp32 -o /root/genai-smollm2-fp32)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench_generate_engines as engines  # noqa: E402
from bench_generate import NOTE, render  # noqa: E402

COPYING = [
    "Summarize this meeting in two sentences. " + NOTE,
    "List the action items with their owners. " + NOTE,
    "Rewrite this note as a short email to the team. " + NOTE,
    "Rewrite these notes as a bulleted list. " + NOTE,
]
NOTHING_TO_COPY = ["Write a short poem about autumn leaves.", "Explain how a rainbow forms."]
CHATS = [[{"role": "user", "content": p}] for p in COPYING + NOTHING_TO_COPY]
GROUPS = {"copying": range(len(COPYING)), "nothing to copy": range(len(COPYING), len(CHATS))}


def run_ours(args, prompts_path, variant, lookup):
    exe = os.path.join(ROOT, "target/release/examples/bench_generate")
    out = subprocess.run([exe, "--model", args.model, "--variant", variant, "--threads", str(args.threads),
                          "--prompts", prompts_path, "--max-new-tokens", str(args.max_new_tokens),
                          "--lookup", lookup], check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    return lines[:-1]


def bytes_per_pass(path, context):
    """Bytes of the weights one decode pass reads, and of the KV cache at `context` positions."""
    model = onnx.load(path, load_external_data=False)
    sizes = {}
    for t in model.graph.initializer:
        n = int(np.prod(t.dims)) if t.dims else 1
        sizes[t.name] = n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    # A table read by Gather (the embedding) costs one row per token, not its size.
    gathered = {n.input[0] for n in model.graph.node if n.op_type in ("Gather", "GatherBlockQuantized")}
    weights = sum(s for name, s in sizes.items() if name not in gathered)
    cfg = json.load(open(os.path.join(os.path.dirname(os.path.dirname(path)), "config.json")))
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    kv = 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * head_dim * 4 * context
    return weights, kv


def bandwidth_gb_s():
    a = np.ones(1 << 27, dtype=np.float64)  # 1 GiB
    b = np.empty_like(a)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        best = max(best, 2 * a.nbytes / (time.perf_counter() - t))
    return best / 1e9


def mmm(values, nd=2):
    v = sorted(values)
    return [round(v[0], nd), round(statistics.median(v), nd), round(v[-1], nd)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=engines.MODEL)
    ap.add_argument("--gguf", default=engines.GGUF)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--llama-python", default="/root/llama-venv/bin/python")
    ap.add_argument("--genai-python", default="/root/genai-venv/bin/python")
    ap.add_argument("--genai-int4", default="/root/genai-smollm2-int4")
    ap.add_argument("--genai-fp32", default="/root/genai-smollm2-fp32")
    args = ap.parse_args()
    engines.setup_env()

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    ids = [tok.encode(render(c, None), add_special_tokens=False).ids for c in CHATS]
    base = {"threads": args.threads, "max_new_tokens": args.max_new_tokens, "items": ids}
    runs = {f"nodespace {v} lookup {l}": ("ours", v, l) for v in ("q4", "fused") for l in ("on", "off")}
    if engines.works(args.llama_python, "llama_cpp"):
        runs["llama.cpp (Q4_1 GGUF)"] = ("worker", args.llama_python, "llama", dict(base, gguf=args.gguf))
    for precision, d in (("int4", args.genai_int4), ("fp32", args.genai_fp32)):
        if d and os.path.isdir(d) and engines.works(args.genai_python, "onnxruntime_genai"):
            runs[f"onnxruntime-genai {precision}"] = ("worker", args.genai_python, "genai", dict(base, genai_dir=d))
    missing = [e for e in ("llama.cpp (Q4_1 GGUF)", "onnxruntime-genai int4", "onnxruntime-genai fp32") if e not in runs]
    if missing:
        print(f"NOT SET UP (left out of this run): {', '.join(missing)}; see scripts/bench_generate_engines.py",
              file=sys.stderr)

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(json.dumps(c) for c in CHATS))
        prompts_path = f.name
    load_before = os.getloadavg()
    rounds = {name: [] for name in runs}
    for r in range(args.repeats):
        for name, how in runs.items():
            lines = run_ours(args, prompts_path, how[1], how[2]) if how[0] == "ours" else engines.run_worker(*how[1:])[0]
            rounds[name].append(lines)
            print(f"round {r + 1} {name}: " + ", ".join(f"{l['decode_tok_s']:.0f}" for l in lines) + " tok/s",
                  file=sys.stderr, flush=True)
    os.unlink(prompts_path)

    def group_mean(lines, group, key):
        return statistics.mean(lines[i][key] for i in GROUPS[group])

    report = {"threads": args.threads, "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
              "load_average_before": load_before, "load_average_after": os.getloadavg(), "engines": {}, "ratios": {}}
    for name, rs in rounds.items():
        entry = {g: {"decode_tok_s": mmm([group_mean(x, g, "decode_tok_s") for x in rs], 1),
                     "ttft_ms": mmm([group_mean(x, g, "ttft_ms") for x in rs], 1)} for g in GROUPS}
        entry["generated_tokens"] = [l["generated_tokens"] for l in rs[0]]
        if "accepted_tokens" in rs[0][0]:
            entry["accepted_of_drafted"] = [f"{l['accepted_tokens']}/{l['drafted_tokens']}" for l in rs[0]]
        report["engines"][name] = entry
    for v in ("q4", "fused"):
        on, off = rounds[f"nodespace {v} lookup on"], rounds[f"nodespace {v} lookup off"]
        same = [a["tokens"] == b["tokens"] for a, b in zip(on[0], off[0])]
        report["engines"][f"nodespace {v} lookup on"]["tokens_same_as_lookup_off"] = f"{sum(same)}/{len(same)}"
    pairs = [("nodespace q4 lookup on", "nodespace q4 lookup off"), ("nodespace fused lookup on", "nodespace fused lookup off"),
             ("nodespace q4 lookup on", "onnxruntime-genai int4"), ("nodespace q4 lookup on", "llama.cpp (Q4_1 GGUF)"),
             ("nodespace fused lookup on", "onnxruntime-genai fp32")]
    for a, b in pairs:
        if a in rounds and b in rounds:
            report["ratios"][f"{a} / {b}"] = {
                g: {"decode": mmm([group_mean(x, g, "decode_tok_s") / group_mean(y, g, "decode_tok_s")
                                   for x, y in zip(rounds[a], rounds[b])], 3),
                    "ttft": mmm([group_mean(x, g, "ttft_ms") / group_mean(y, g, "ttft_ms")
                                 for x, y in zip(rounds[a], rounds[b])], 3)} for g in GROUPS}

    bw = bandwidth_gb_s()
    context = statistics.mean(l["prompt_tokens"] + l["generated_tokens"] / 2 for l in rounds["nodespace q4 lookup off"][0])
    limit = {"memory_bandwidth_gb_s": round(bw, 1), "mean_context": round(context)}
    for v, file in (("q4", "model_q4.onnx"), ("fused", "model_fused.onnx")):
        weights, kv = bytes_per_pass(os.path.join(args.model, "onnx", file), context)
        plain = statistics.median(group_mean(x, g, "decode_tok_s") for x in rounds[f"nodespace {v} lookup off"] for g in GROUPS)
        limit[v] = {"weights_mb": round(weights / 1e6, 1), "kv_mb": round(kv / 1e6, 1),
                    "passes_per_s_at_bandwidth": round(bw * 1e9 / (weights + kv), 1),
                    "plain_decode_tok_s_median": round(plain, 1)}
    report["physical_limit"] = limit
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
