#!/usr/bin/env python3
"""Generation engines side by side, in one run, on the work the app does (issue #36):
nodespace's 4-bit graph with and without prompt lookup (and the fused fp32 graph with
--fused), llama.cpp on the same GGUF, onnxruntime-genai's int4 and fp32 graphs from its own
model builder, for SmolLM2-135M-Instruct, Qwen2.5-Coder-0.5B-Instruct and gemma-3-270m.

Prompts: copying work (the README's meeting note: summary, action items, two rewrites) and
nothing to copy (a poem, an explanation); chats where the model has a chat template, the
last message as raw text otherwise (gemma-3-270m); every engine gets the same token ids
(nodespace's). 2 threads, greedy, up to 128 new tokens, each engine in its own process
(peak RSS = its VmHWM), warm pass discarded; --repeats rounds with the engines alternating
in a round; decode tokens/s and time to first token per prompt group, min/median/max over
rounds, ratios per round; the machine's load average before and after.

The peers are installed by this script (scripts/setup_peers.sh: llama-cpp-python built from
source, CPU only; onnxruntime-genai from PyPI with torch for its builder) and their graphs
made by scripts/peer_models.py, all cached under ~/.cache/nodespace-peers; the first time
takes ~15 min (start it in the background: `scripts/setup_peers.sh > peers.log 2>&1 &`).
--no-peers runs nodespace only.

Also the physical limit per model: the bytes a 4-bit decode pass reads (every weight the
pass touches, the embedding table's one row excepted, plus the KV cache at the mean
context), the machine's memory bandwidth (a numpy copy over 1 GiB, best of 5), and so the
tokens/s one pass per token can reach.

  .venv/bin/python scripts/bench_lookup.py --repeats 3 --json-out target/bench_lookup.json
"""
import argparse
import glob
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
from bench_generate import NOTE  # noqa: E402

COPYING = [
    "Summarize this meeting in two sentences. " + NOTE,
    "List the action items with their owners. " + NOTE,
    "Rewrite this note as a short email to the team. " + NOTE,
    "Rewrite these notes as a bulleted list. " + NOTE,
]
NOTHING_TO_COPY = ["Write a short poem about autumn leaves.", "Explain how a rainbow forms."]
CHATS = [[{"role": "user", "content": p}] for p in COPYING + NOTHING_TO_COPY]
MODELS = ["SmolLM2-135M-Instruct", "Qwen2.5-Coder-0.5B-Instruct", "gemma-3-270m"]
PEERS = os.environ.get("NS_PEERS_DIR") or os.path.expanduser("~/.cache/nodespace-peers")
GROUPS = {"copying": range(len(COPYING)), "nothing to copy": range(len(COPYING), len(CHATS))}


def run_ours(args, model_dir, prompts_path, variant, lookup):
    exe = os.path.join(ROOT, "target/release/examples/bench_generate")
    out = subprocess.run([exe, "--model", model_dir, "--variant", variant, "--threads", str(args.threads),
                          "--prompts", prompts_path, "--max-new-tokens", str(args.max_new_tokens),
                          "--lookup", lookup], check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    return lines[:-1], lines[-1]["peak_rss_mb"]


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
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
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


def eos_ids(model_dir):
    for name in ("generation_config.json", "config.json"):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            eos = json.load(open(path)).get("eos_token_id")
            if eos is not None:
                return eos if isinstance(eos, list) else [eos]
    return []


def gguf_of(name):
    sys.path[:0] = [os.path.join(ROOT, "models"), os.path.join(ROOT, "models", "convert")]
    from convert.sources import SOURCES

    found = [os.path.join(d, SOURCES[name].gguf_name) for d in
             sorted(glob.glob(os.path.join(ROOT, "models", "real", ".wheels", "*")))]
    return next((f for f in found if os.path.exists(f)), None)


def setup_peers(models):
    """Install the peers and build genai's graphs (both cached); genai folders per model."""
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup_peers.sh")], check=True)
    python = os.path.join(PEERS, "genai-venv", "bin", "python")
    out = subprocess.run([python, os.path.join(ROOT, "scripts", "peer_models.py"), *models],
                         check=True, capture_output=True, text=True).stdout
    return {r["model"]: r for r in (json.loads(l) for l in out.splitlines() if l.startswith("{"))}


def engines_for(args, name, genai):
    """name -> how to run it, and the engines left out with why."""
    runs, missing = {}, []
    variants = ("q4", "fused") if args.fused else ("q4",)
    for v in variants:
        for lookup in ("on", "off"):
            runs[f"nodespace {v} lookup {lookup}"] = ("ours", v, lookup)
    if args.no_peers:
        return runs, ["llama.cpp and onnxruntime-genai (--no-peers)"]
    llama_python = os.path.join(PEERS, "llama-venv", "bin", "python")
    gguf = gguf_of(name)
    if gguf and engines.works(llama_python, "llama_cpp"):
        runs["llama.cpp"] = ("worker", llama_python, "llama", {"gguf": gguf})
    else:
        missing.append(f"llama.cpp (GGUF {gguf}, venv {llama_python})")
    genai_python = os.path.join(PEERS, "genai-venv", "bin", "python")
    for precision in ("int4", "fp32"):
        d = genai.get(precision)
        if d and os.path.isdir(d):
            runs[f"onnxruntime-genai {precision}"] = ("worker", genai_python, "genai", {"genai_dir": d})
        else:
            why = genai.get(f"{precision}_error") or genai.get("error") or "not built"
            missing.append(f"onnxruntime-genai {precision}: {why}")
    return runs, missing


def group_mean(lines, group, key):
    return statistics.mean(lines[i][key] for i in GROUPS[group])


def report_model(args, name, runs, rounds, rss, missing):
    entry = {"engines": {}, "ratios": {}, "left_out": missing}
    for engine, rs in rounds.items():
        e = {g: {"decode_tok_s": mmm([group_mean(x, g, "decode_tok_s") for x in rs], 1),
                 "ttft_ms": mmm([group_mean(x, g, "ttft_ms") for x in rs], 1)} for g in GROUPS}
        e["peak_rss_mb"] = mmm(rss[engine], 0)
        e["generated_tokens"] = [l["generated_tokens"] for l in rs[0]]
        if "accepted_tokens" in rs[0][0]:
            e["accepted_of_drafted"] = [f"{l['accepted_tokens']}/{l['drafted_tokens']}" for l in rs[0]]
        entry["engines"][engine] = e
    for v in ("q4", "fused"):
        on, off = rounds.get(f"nodespace {v} lookup on"), rounds.get(f"nodespace {v} lookup off")
        if on and off:
            same = [a["tokens"] == b["tokens"] for r_on, r_off in zip(on, off) for a, b in zip(r_on, r_off)]
            entry["engines"][f"nodespace {v} lookup on"]["tokens_same_as_lookup_off"] = f"{sum(same)}/{len(same)}"
    pairs = [("nodespace q4 lookup on", "nodespace q4 lookup off"), ("nodespace q4 lookup on", "onnxruntime-genai int4"),
             ("nodespace q4 lookup on", "llama.cpp"), ("nodespace q4 lookup off", "llama.cpp"),
             ("nodespace q4 lookup off", "onnxruntime-genai int4"),
             ("nodespace fused lookup on", "nodespace fused lookup off"),
             ("nodespace fused lookup on", "onnxruntime-genai fp32")]
    for a, b in pairs:
        if a in rounds and b in rounds:
            entry["ratios"][f"{a} / {b}"] = {
                g: {"decode": mmm([group_mean(x, g, "decode_tok_s") / group_mean(y, g, "decode_tok_s")
                                   for x, y in zip(rounds[a], rounds[b])], 3),
                    "ttft": mmm([group_mean(x, g, "ttft_ms") / group_mean(y, g, "ttft_ms")
                                 for x, y in zip(rounds[a], rounds[b])], 3)} for g in GROUPS}
    model_dir = os.path.join(ROOT, "models", "real", name)
    off = rounds["nodespace q4 lookup off"]
    context = statistics.mean(l["prompt_tokens"] + l["generated_tokens"] / 2 for l in off[0])
    weights, kv = bytes_per_pass(os.path.join(model_dir, "onnx", "model_q4.onnx"), context)
    entry["q4_bytes_per_pass"] = {"weights_mb": round(weights / 1e6, 1), "kv_mb": round(kv / 1e6, 1),
                                  "mean_context": round(context)}
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fused", action="store_true", help="also the fused fp32 graph, lookup on and off")
    ap.add_argument("--no-peers", action="store_true", help="nodespace only")
    ap.add_argument("--json-out", help="also write the report here")
    args = ap.parse_args()
    engines.setup_env()
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if not os.path.isdir(os.path.join(ROOT, "models", "real", m)):
            raise SystemExit(f"models/real/{m} is missing: run scripts/setup.sh")
    genai = {} if args.no_peers else setup_peers(models)

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(json.dumps(c) for c in CHATS))
        prompts_path = f.name
    plan = {}
    for m in models:
        runs, missing = engines_for(args, m, genai.get(m, {}))
        if missing:
            print(f"{m}: NOT IN THIS RUN: {'; '.join(missing)}", file=sys.stderr)
        plan[m] = (runs, missing)
    load_before = os.getloadavg()
    rounds = {m: {e: [] for e in plan[m][0]} for m in models}
    rss = {m: {e: [] for e in plan[m][0]} for m in models}
    prompt_ids = {}
    for r in range(args.repeats):
        for m in models:
            model_dir = os.path.join(ROOT, "models", "real", m)
            for engine, how in plan[m][0].items():
                if how[0] == "ours":
                    lines, peak = run_ours(args, model_dir, prompts_path, how[1], how[2])
                    prompt_ids.setdefault(m, [l["prompt_ids"] for l in lines])
                else:
                    job = dict(how[3], threads=args.threads, max_new_tokens=args.max_new_tokens,
                               items=prompt_ids[m], eos=eos_ids(model_dir))
                    lines, peak = engines.run_worker(how[1], how[2], job)
                rounds[m][engine].append(lines)
                rss[m][engine].append(peak)
                print(f"round {r + 1} {m} {engine}: " + ", ".join(f"{l['decode_tok_s']:.0f}" for l in lines)
                      + " tok/s", file=sys.stderr, flush=True)
    os.unlink(prompts_path)

    report = {"threads": args.threads, "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "memory_bandwidth_gb_s": round(bandwidth_gb_s(), 1), "models": {}}
    for m in models:
        report["models"][m] = report_model(args, m, plan[m][0], rounds[m], rss[m], plan[m][1])
        limit = report["models"][m]["q4_bytes_per_pass"]
        limit["passes_per_s_at_bandwidth"] = round(
            report["memory_bandwidth_gb_s"] * 1e3 / (limit["weights_mb"] + limit["kv_mb"]), 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json_out:
        open(args.json_out, "w").write(text + "\n")


if __name__ == "__main__":
    main()
