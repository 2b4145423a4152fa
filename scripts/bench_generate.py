#!/usr/bin/env python3
"""Side-by-side generation benchmark: nodespace vs a plain Python onnxruntime greedy loop
(KV cache, same ONNX file, same threads, same chat prompts: the README's meeting notes),
in one run. Prints decode tokens/s, time to first token, peak RSS and the ratios, with
min/median/max over --repeats alternating runs.

  .venv/bin/python scripts/bench_generate.py [--model models/real/SmolLM2-135M-Instruct] [--threads 2]
  .venv/bin/python scripts/bench_generate.py --follow-up   # second chat turns: KV-cache reuse vs recompute
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTE = ("Meeting notes, Tuesday: Ana presented the Q3 budget, which is 5% over plan. Ben will ask vendors for "
        "new quotes by Friday. The launch moves from May 2 to May 16 because QA found two blocking bugs. Chen "
        "owns the bug fixes. Next sync is Monday 10am.")
PROMPTS = [
    [{"role": "user", "content": "Summarize this meeting in two sentences. " + NOTE}],
    [{"role": "user", "content": "List the action items with their owners. " + NOTE}],
    [{"role": "user", "content": "Rewrite this politely: send me the report now."}],
]


def render(messages, template_prompt):
    """SmolLM2's chat template (with its default system prompt), as transformers renders it."""
    out = ""
    if messages[0]["role"] != "system":
        out += "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    for m in messages:
        out += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
    return out + "<|im_start|>assistant\n"


class PythonLoop:
    """What a user would write: onnxruntime session + tokenizers + numpy greedy loop."""

    def __init__(self, model_dir, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.s = ort.InferenceSession(os.path.join(model_dir, "onnx", "model.onnx"), so, providers=["CPUExecutionProvider"])
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.inputs = {i.name: i for i in self.s.get_inputs()}
        past = self.inputs["past_key_values.0.key"]
        self.layers = sum(1 for n in self.inputs if n.endswith(".key"))
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.kv_heads = cfg["num_key_value_heads"]
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        self.dtype = np.float16 if "float16" in past.type else np.float32
        gen = json.load(open(os.path.join(model_dir, "generation_config.json")))
        eos = gen.get("eos_token_id", 2)
        self.eos = set(eos if isinstance(eos, list) else [eos])

    def generate(self, messages, max_new_tokens):
        t0 = time.perf_counter()
        ids = self.tok.encode(render(messages, None), add_special_tokens=False).ids
        past = {f"past_key_values.{i}.{kv}": np.zeros((1, self.kv_heads, 0, self.head_dim), self.dtype)
                for i in range(self.layers) for kv in ("key", "value")}
        cur, n_past, out, first = ids, 0, [], None
        while len(out) < max_new_tokens:
            feed = {"input_ids": np.array([cur], np.int64), "attention_mask": np.ones((1, n_past + len(cur)), np.int64)}
            if "position_ids" in self.inputs:
                feed["position_ids"] = np.arange(n_past, n_past + len(cur), dtype=np.int64)[None]
            feed.update(past)
            res = self.s.run(None, feed)
            logits = res[0][0, -1]
            for i, o in enumerate(self.s.get_outputs()[1:], start=1):
                past[o.name.replace("present", "past_key_values")] = res[i]
            n_past += len(cur)
            t = int(np.argmax(logits))
            if first is None:
                first = time.perf_counter()
            if t in self.eos:
                break
            out.append(t)
            cur = [t]
        end = time.perf_counter()
        decode = (len(out) - 1) / (end - first) if len(out) > 1 else 0.0
        return {"prompt_tokens": len(ids), "generated_tokens": len(out), "ttft_ms": (first - t0) * 1000,
                "decode_tok_s": decode, "tokens": out}


def onnxruntime_library():
    capi = os.path.join(os.path.dirname(ort.__file__), "capi")
    libs = sorted(f for f in os.listdir(capi) if f.startswith("libonnxruntime.so") or f.endswith(".dylib"))
    return os.path.join(capi, libs[0])


def follow_up(exe, args, prompts_path):
    """Time to first token of a second chat turn, reusing the first turn's KV cache vs
    recomputing it, per graph variant (same generator settings otherwise)."""
    report = {"model": os.path.relpath(args.model, ROOT), "threads": args.threads, "variants": {}}
    for variant in (None, "fused", "q4"):
        cmd = [exe, "--model", args.model, "--threads", str(args.threads), "--prompts", prompts_path,
               "--max-new-tokens", str(args.max_new_tokens), "--follow-up"] + (["--variant", variant] if variant else [])
        rows = []
        for _ in range(args.repeats):
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows += [json.loads(line) for line in out.stdout.splitlines()]
        report["variants"][variant or "model.onnx"] = {
            "second_turn_prompt_tokens": [r["prompt_tokens"] for r in rows[:len(PROMPTS)]],
            "reused_prompt_tokens": [r["reused_prompt_tokens"] for r in rows[:len(PROMPTS)]],
            "ttft_reuse_ms_median": round(statistics.median(r["ttft_reuse_ms"] for r in rows), 1),
            "ttft_recompute_ms_median": round(statistics.median(r["ttft_recompute_ms"] for r in rows), 1),
            "same_tokens": all(r["same_tokens"] for r in rows),
        }
    os.unlink(prompts_path)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/real/SmolLM2-135M-Instruct"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--follow-up", action="store_true",
                    help="instead: second chat turns with and without KV-cache reuse (nodespace only)")
    args = ap.parse_args()
    os.environ.setdefault("NS_ONNXRUNTIME_PATH", onnxruntime_library())
    exe = os.path.join(ROOT, "target/release/examples/bench_generate")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "--example", "bench_generate"], cwd=ROOT, check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(json.dumps(p) for p in PROMPTS))
        prompts_path = f.name
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    if args.follow_up:
        return follow_up(exe, args, prompts_path)
    py = PythonLoop(args.model, args.threads)
    for p in PROMPTS:  # both sides are measured warm (an app is long-lived)
        py.generate(p, args.max_new_tokens)
    ours_runs, py_runs, ours_rss = [], [], []
    for _ in range(args.repeats):
        out = subprocess.run([exe, "--model", args.model, "--threads", str(args.threads), "--prompts", prompts_path,
                              "--max-new-tokens", str(args.max_new_tokens)], check=True, capture_output=True, text=True)
        lines = [json.loads(l) for l in out.stdout.splitlines()]
        ours_runs.append(lines[:-1])
        ours_rss.append(lines[-1]["peak_rss_mb"])
        py_runs.append([py.generate(p, args.max_new_tokens) for p in PROMPTS])
    os.unlink(prompts_path)
    same = all(o["tokens"] == p["tokens"] for o, p in zip(ours_runs[0], py_runs[0]))

    def agg(runs, key):
        return [statistics.mean(r[key] for r in run) for run in runs]

    report = {"model": os.path.relpath(args.model, ROOT), "threads": args.threads, "max_new_tokens": args.max_new_tokens,
              "prompts": len(PROMPTS), "same_greedy_tokens": same, "load_average_after": os.getloadavg(),
              "nodespace": {"decode_tok_s": agg(ours_runs, "decode_tok_s"), "ttft_ms": agg(ours_runs, "ttft_ms"),
                            "peak_rss_mb": ours_rss},
              "python_onnxruntime": {"decode_tok_s": agg(py_runs, "decode_tok_s"), "ttft_ms": agg(py_runs, "ttft_ms"),
                                     "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}
    ratio = sorted(o / p for o, p in zip(report["nodespace"]["decode_tok_s"], report["python_onnxruntime"]["decode_tok_s"]))
    ttft = sorted(o / p for o, p in zip(report["nodespace"]["ttft_ms"], report["python_onnxruntime"]["ttft_ms"]))
    report["decode_ratio_min_median_max"] = [round(ratio[0], 3), round(statistics.median(ratio), 3), round(ratio[-1], 3)]
    report["ttft_ratio_min_median_max"] = [round(ttft[0], 3), round(statistics.median(ttft), 3), round(ttft[-1], 3)]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
