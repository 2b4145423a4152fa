#!/usr/bin/env python3
"""Retrieval sanity figure: how often the right note ranks first for a query, on the small
labelled note set tests/data/retrieval_notes.json (24 notes, 42 queries in other words than
their note), per embedder, through the library (`cli embed --json`). Models whose folder
defines `query` / `document` prompts are also run without them, and at a Matryoshka size.
BENCHMARKS.md records the figures.

  .venv/bin/python scripts/bench_retrieval.py [--models all-MiniLM-L6-v2 nomic-embed-text-v1.5 embeddinggemma-300m]
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "target/release/examples/cli")


def embed(model, texts, prompt=None, dimension=None):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(texts))
        path = f.name
    cmd = [CLI, "embed", "--model", model, "--json", "--file", path]
    if prompt:
        cmd += ["--prompt-name", prompt]
    if dimension:
        cmd += ["--output-dimension", str(dimension)]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    return np.array([json.loads(line) for line in out.splitlines() if line.strip()])


def score(notes, queries, want):
    """Top-1 accuracy and mean reciprocal rank of the right note (vectors are L2-normalized)."""
    sims = queries @ notes.T
    ranks = [int((sims[i] > sims[i, w]).sum()) + 1 for i, w in enumerate(want)]
    return sum(r == 1 for r in ranks) / len(ranks), float(np.mean([1 / r for r in ranks]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["all-MiniLM-L6-v2", "nomic-embed-text-v1.5", "embeddinggemma-300m"])
    args = ap.parse_args()
    if not os.path.exists(CLI):
        subprocess.run(["cargo", "build", "--release", "--example", "cli"], cwd=ROOT, check=True)
    with open(os.path.join(ROOT, "tests/data/retrieval_notes.json")) as f:
        data = json.load(f)
    notes, queries = data["notes"], [q["text"] for q in data["queries"]]
    want = [q["note"] for q in data["queries"]]
    rows = []
    for name in args.models:
        model = os.path.join(ROOT, "models/real", name)
        with open(os.path.join(model, "config_sentence_transformers.json")) as f:
            config = json.load(f)
        prompts = config.get("prompts", {})
        setups = [("no prompt", None, None, None)]
        if "query" in prompts and "document" in prompts:
            setups.insert(0, ("query/document prompts", "query", "document", None))
            for dim in config.get("matryoshka_dimensions", [])[2:3]:
                setups.insert(1, (f"query/document prompts, {dim} dims", "query", "document", dim))
        for label, query_prompt, note_prompt, dim in setups:
            top1, mrr = score(embed(model, notes, note_prompt, dim), embed(model, queries, query_prompt, dim), want)
            rows.append({"model": name, "setup": label, "top1": round(top1, 3), "mrr": round(mrr, 3)})
            print(f"{name:24} {label:32} top-1 {top1:.3f} ({round(top1 * len(want))}/{len(want)})  MRR {mrr:.3f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
