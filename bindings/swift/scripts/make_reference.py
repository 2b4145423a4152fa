#!/usr/bin/env python3
"""Reference outputs of the Rust CLI for the Swift tests, written on the host before
bindings/swift/test.sh enters the chroot (the Swift tests compare against these files).

  make_reference.py --cli target/release/examples/cli --repo . --out target/swift/reference

Writes, for each real model that is installed (models/real/...):
  minilm.json   {"model", "texts", "embeddings"}     cli embed --json
  smollm2.json  {"model", "cases": [{"user", "max_new_tokens", "result"}]}
                                                     cli generate --user U --greedy --json
  qwen2_5.json  the same for Qwen2.5-Coder-0.5B-Instruct's q4 graph (--variant q4)
A model that is not installed gets no file (its Swift test skips loudly); a stale file is
removed so a test never compares against outputs of a model that is gone.
"""
import argparse
import json
import os
import subprocess
import sys

MINILM_TEXTS = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Café naïve Ünïcödé — 東京は日本の首都です 🍕",
    "A somewhat longer sentence about on-device embeddings with ONNX Runtime, "
    "to exercise padding against the shorter texts in the same batch.",
]

SMOLLM2_PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three colors.",
]

QWEN2_5_PROMPTS = [
    "Rewrite politely: send the report",
    "Write a Swift function that reverses an array.",
]


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout


def write(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False)
    os.replace(tmp, path)
    print(f"reference: {path}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    real = os.environ.get("NS_REAL_MODELS") or os.path.join(a.repo, "models", "real")

    minilm = os.path.join(real, "all-MiniLM-L6-v2")
    target = os.path.join(a.out, "minilm.json")
    if os.path.isdir(minilm):
        lines = run([a.cli, "embed", "--model", minilm, "--json", *MINILM_TEXTS]).splitlines()
        vectors = [json.loads(line) for line in lines if line.strip()]
        assert len(vectors) == len(MINILM_TEXTS), f"{len(vectors)} vectors for {len(MINILM_TEXTS)} texts"
        write(target, {"model": "all-MiniLM-L6-v2", "texts": MINILM_TEXTS, "embeddings": vectors})
    elif os.path.exists(target):
        os.remove(target)

    for name, file, variant, prompts in [("SmolLM2-135M-Instruct", "smollm2.json", None, SMOLLM2_PROMPTS),
                                         ("Qwen2.5-Coder-0.5B-Instruct", "qwen2_5.json", "q4", QWEN2_5_PROMPTS)]:
        model = os.path.join(real, name)
        target = os.path.join(a.out, file)
        if os.path.isdir(model):
            cases = []
            for user in prompts:
                cmd = [a.cli, "generate", "--model", model, "--user", user, "--greedy", "--max-new-tokens", "32", "--json"]
                line = run(cmd + (["--variant", variant] if variant else [])).strip().splitlines()[-1]
                cases.append({"user": user, "max_new_tokens": 32, "result": json.loads(line)})
            write(target, {"model": name, "variant": variant, "cases": cases})
        elif os.path.exists(target):
            os.remove(target)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit(f"make_reference.py: {' '.join(e.cmd[:4])} ... failed ({e.returncode}):\n{e.stderr}")
