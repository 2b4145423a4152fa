#!/usr/bin/env python3
"""Side-by-side embedding benchmark: nodespace vs the Python pipeline a user would write
(onnxruntime + tokenizers + numpy mean pooling, fixed batch 32, on the folder's
onnx/model.onnx), same model, same threads, same texts, in one run. nodespace runs twice per
repeat: on its fused graph of the same weights (onnx/model_fused.onnx, --variant) and on the
very same onnx/model.onnx file, so both ratios are printed. BENCHMARKS.md records them.

  .venv/bin/python scripts/bench_embed.py [--model models/real/all-MiniLM-L6-v2] [--threads 2]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORT = "The quarterly budget review moved to Friday."
WORDS = ("meeting budget launch notes the team agreed to review quarterly plan with vendors before "
         "Friday and ship fixes customers asked for a faster search in the app").split()


def sentences(n=1000, seed=7):
    """Mixed lengths: mostly 5-40 words, every 50th about 300 words (truncated at 256 tokens)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = 300 if i % 50 == 0 else rng.randint(5, 40)
        out.append(" ".join(rng.choice(WORDS) for _ in range(length)))
    return out


class PythonPipeline:
    def __init__(self, model_dir, threads, batch=32):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(os.path.join(model_dir, "onnx", "model.onnx"), so,
                                            providers=["CPUExecutionProvider"])
        self.names = {i.name for i in self.session.get_inputs()}
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.enable_truncation(256)
        self.tok.enable_padding()
        self.batch = batch

    def embed(self, texts):
        out = []
        for start in range(0, len(texts), self.batch):
            enc = self.tok.encode_batch(texts[start:start + self.batch])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.names:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out)


def measure_python(pipe, texts, single_runs, rounds):
    for _ in range(10):
        pipe.embed([SHORT])
    lat = []
    for _ in range(single_runs):
        t = time.perf_counter()
        pipe.embed([SHORT])
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    pct = lambda p: lat[round((len(lat) - 1) * p)]
    pipe.embed(texts[:64])
    rates = []
    for _ in range(rounds):
        t = time.perf_counter()
        pipe.embed(texts)
        rates.append(len(texts) / (time.perf_counter() - t))
    rates.sort()
    return {"single_p50_ms": pct(0.5), "single_p95_ms": pct(0.95),
            "throughput_texts_per_s": rates[len(rates) // 2], "throughput_runs": [round(r, 1) for r in rates]}


def onnxruntime_library():
    """The shared library of the onnxruntime package this script uses: both sides run it."""
    capi = os.path.join(os.path.dirname(ort.__file__), "capi")
    libs = sorted(f for f in os.listdir(capi) if f.startswith("libonnxruntime.so") or f.endswith(".dylib"))
    return os.path.join(capi, libs[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/real/all-MiniLM-L6-v2"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--single-runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="alternate the pipelines this many times")
    ap.add_argument("--variant", default="fused", help="nodespace's graph (onnx/model_<variant>.onnx)")
    args = ap.parse_args()

    os.environ.setdefault("NS_ONNXRUNTIME_PATH", onnxruntime_library())
    texts = sentences()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(texts))
        path = f.name
    exe = os.path.join(ROOT, "target/release/examples/bench_embed")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "--example", "bench_embed"], cwd=ROOT, check=True)
    pipe = PythonPipeline(args.model, args.threads)
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    ours_label = f"nodespace (model_{args.variant}.onnx)"
    results = {ours_label: [], "nodespace (model.onnx)": [], "python (model.onnx)": []}

    def run_ours(variant):
        cmd = [exe, "--model", args.model, "--threads", str(args.threads), "--file", path,
               "--single-runs", str(args.single_runs), "--rounds", str(args.rounds)]
        if variant:
            cmd += ["--variant", variant]
        return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    for r in range(args.repeats):
        results[ours_label].append(run_ours(args.variant))
        results["python (model.onnx)"].append(measure_python(pipe, texts, args.single_runs, args.rounds))
        results["nodespace (model.onnx)"].append(run_ours(None))
    os.unlink(path)

    def ratios(ours, key):
        vals = sorted(o[key] / p[key] for o, p in zip(results[ours], results["python (model.onnx)"]))
        return [round(vals[0], 3), round(vals[len(vals) // 2], 3), round(vals[-1], 3)]

    summary = {
        "model": os.path.relpath(args.model, ROOT), "threads": args.threads, "texts": len(texts),
        "load_average": os.getloadavg(), "runs": results,
        "ratios_min_median_max": {f"{ours} / python (model.onnx)": {
            "single_p95": ratios(ours, "single_p95_ms"), "throughput": ratios(ours, "throughput_texts_per_s")}
            for ours in (ours_label, "nodespace (model.onnx)")},
    }
    print(json.dumps(summary, indent=1))
    for name, r in summary["ratios_min_median_max"].items():
        print(f"{name}: single short sentence P95 {r['single_p95'][1]:.2f}x (target <= 0.9), "
              f"throughput 1000 mixed sentences {r['throughput'][1]:.2f}x (target >= 1.3)")


if __name__ == "__main__":
    main()
