#!/usr/bin/env python3
"""Write the tiny, deterministic embedding models committed under models/tiny/.

Random weights (fixed seeds), hidden size 32, 2 layers, vocabularies of a
few hundred tokens: the numbers mean nothing, but every file has the layout
and the quirks of a real model folder, so the runtime's discovery,
tokenization, batching, pooling and normalisation are exercised end to end.

  embed-bert/       BERT encoder, onnx/model.onnx + onnx/model_quantized.onnx
                    (dynamic int8 of the same graph), WordPiece tokenizer,
                    mean pooling, Normalize module, max_seq_length 16.
  embed-bert-nott/  model.onnx at the folder root, no token_type_ids input,
                    CLS pooling, no Normalize module, query/passage prompts.
  embed-pooled/     graph with last_hidden_state *and* sentence_embedding
                    (masked mean + Dense + Tanh inside the graph); its
                    tokenizer.json carries a stale truncation/padding (8,
                    Fixed) like all-MiniLM-L6-v2's, which must lose against
                    sentence_bert_config.json (32).
  embed-decoder/    decoder-style causal embedder (position ids from the
                    attention mask inside the graph, so left padding is
                    exact), byte-level BPE, EOS appended by the post-processor,
                    left padding, last-token pooling.

Each folder has an ``expected.json`` computed by an independent reference:
Python ``tokenizers`` (one text at a time, stripped of leading and trailing
whitespace as sentence-transformers does, truncation, no padding) + Python
onnxruntime + numpy pooling + L2 normalisation. The script also asserts
that padded batches (right, and left for the decoder) give the same vectors.

Run: python3 models/make_tiny_embedders.py [--out models/tiny]
Re-running gives byte-identical files on the same machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from script_helpers import bytes_to_unicode  # noqa: E402
from convert_bert_to_onnx import FLOAT_MIN, GraphBuilder, bert_encoder, bert_inputs  # noqa: E402

HIDDEN = 32
HEADS = 4
LAYERS = 2
INTERMEDIATE = 64
MAX_POS = 64

TEXTS = [
    "Hello world!",
    "",
    "   ",
    "Café naïve Ünïcödé",
    "Cafe\u0301 decomposed",
    "I like 🍕 and 🙂!",
    "東京は日本の首都です",
    "the cat sat on the mat, the cat sat on the mat",
    "This is a much longer sentence that will certainly be cut off by the tiny max length "
    "of the model, because it keeps going and going.",
    "MiXeD CaSe 123 numbers",
]

# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------


def f32_list(v) -> list[float]:
    """Floats whose JSON repr is the shortest one that round-trips float32."""
    return [float(str(x)) for x in np.asarray(v, dtype=np.float32).ravel()]


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_expected(path: Path, obj: dict) -> None:
    """Like write_json, but one vector / id list per line."""
    def dump(v, indent):
        pad = " " * indent
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f'{pad}  {json.dumps(k)}: {dump(x, indent + 2)}' for k, x in v.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(v, list) and v and isinstance(v[0], (list, str)):
            rows = [f"{pad}  {json.dumps(x, ensure_ascii=False)}" for x in v]
            return "[\n" + ",\n".join(rows) + f"\n{pad}]"
        return json.dumps(v, ensure_ascii=False)
    path.write_text(dump(obj, 0) + "\n", encoding="utf-8")


def save_model(model: onnx.ModelProto, path: Path) -> None:
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """hidden [B,S,H], mask [B,S] -> [B,H]. Works for left or right padding."""
    m = mask.astype(np.float32)
    if mode == "mean":
        return (hidden * m[..., None]).sum(1) / np.maximum(m.sum(1, keepdims=True), 1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "lasttoken":
        # index of the last position whose mask is 1 (right or left padding)
        last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
        return hidden[np.arange(hidden.shape[0]), last]
    raise ValueError(mode)


def feeds_for(sess: ort.InferenceSession, encs) -> dict[str, np.ndarray]:
    """Stack encodings (already the same length) into the inputs the graph declares."""
    wanted = [i.name for i in sess.get_inputs()]
    all_feeds = {
        "input_ids": np.array([e.ids for e in encs], np.int64),
        "attention_mask": np.array([e.attention_mask for e in encs], np.int64),
        "token_type_ids": np.array([e.type_ids for e in encs], np.int64),
    }
    return {k: all_feeds[k] for k in wanted}


def embed(sess, encs, pooling: str, output: str = "last_hidden_state") -> np.ndarray:
    feeds = feeds_for(sess, encs)
    out = sess.run([output], feeds)[0]
    if output != "last_hidden_state":
        return l2_normalize(out)
    return l2_normalize(pool(out, feeds["attention_mask"], pooling))


def one_by_one(sess, tok: Tokenizer, texts, pooling, output="last_hidden_state"):
    # sentence-transformers strips each text before tokenizing (whitespace is a token of
    # its own for byte-level BPE).
    encs = [tok.encode(t.strip()) for t in texts]
    vecs = np.concatenate([embed(sess, [e], pooling, output) for e in encs])
    return encs, vecs


def batched(sess, tok: Tokenizer, texts, pooling, direction: str, pad_id: int, pad_token: str,
            output="last_hidden_state"):
    tok.enable_padding(direction=direction, pad_id=pad_id, pad_token=pad_token)
    try:
        encs = tok.encode_batch([t.strip() for t in texts])
    finally:
        tok.no_padding()
    return encs, embed(sess, encs, pooling, output)


def reference_tokenizer(path: Path, max_length: int) -> Tokenizer:
    """The file as written, with the sentence-transformers rule applied:
    truncation to max_seq_length, no padding (one text at a time)."""
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    return tok


def assert_same(a: np.ndarray, b: np.ndarray, what: str, tol: float = 2e-6) -> float:
    diff = float(np.abs(a - b).max())
    if diff > tol:
        raise AssertionError(f"{what}: max abs diff {diff:.3g} > {tol}")
    return diff


# --------------------------------------------------------------------------
# tokenizers
# --------------------------------------------------------------------------

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_CHARS = (
    list("abcdefghijklmnopqrstuvwxyz0123456789")
    + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    + list("東京日本首都我你好中文学人大はのです")
)
BERT_WORDS = [
    "the", "a", "an", "and", "is", "of", "to", "in", "it", "on", "this", "that", "hello", "world",
    "cat", "sat", "mat", "like", "i", "you", "model", "text", "query", "passage", "long", "longer",
    "sentence", "will", "be", "cut", "off", "by", "tiny", "max", "length", "because", "keeps",
    "going", "much", "numbers", "mixed", "case", "cafe", "naive", "unicode", "certainly", "123",
    "##ing", "##ed", "##s", "##er", "##ly", "##ode",
]


def bert_vocab() -> dict[str, int]:
    vocab: dict[str, int] = {}
    for t in BERT_SPECIALS + BERT_CHARS + ["##" + c for c in BERT_CHARS] + BERT_WORDS:
        vocab.setdefault(t, len(vocab))
    return vocab


def bert_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(BERT_SPECIALS)
    return tok


EOS = "<|endoftext|>"
BPE_MERGES = [
    ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"),
    ("Ġ", "w"), ("o", "r"), ("l", "d"), ("Ġw", "or"), ("Ġwor", "ld"), ("e", "l"), ("l", "o"),
    ("H", "el"), ("Hel", "lo"), ("Ġ", "c"), ("a", "t"), ("Ġc", "at"), ("Ġ", "s"), ("Ġs", "at"),
]


def bpe_tokenizer() -> tuple[Tokenizer, int]:
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    for a, b in BPE_MERGES:
        vocab.setdefault(a + b, len(vocab))
    eos_id = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=BPE_MERGES, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOS])
    assert tok.token_to_id(EOS) == eos_id
    # Like Qwen3-Embedding: the post-processor appends EOS, whose hidden state
    # is the embedding (last-token pooling).
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A:0 {EOS}:0", pair=f"$A:0 {EOS}:0 $B:1 {EOS}:1", special_tokens=[(EOS, eos_id)])
    tok.enable_padding(direction="left", pad_id=eos_id, pad_token=EOS)
    return tok, eos_id


# --------------------------------------------------------------------------
# weights and graphs
# --------------------------------------------------------------------------


def bert_weights(rng: np.random.Generator, vocab_size: int) -> dict[str, np.ndarray]:
    def lin(out_dim, in_dim):
        return (rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)).astype(np.float32)

    def vec(n, scale=0.1, base=0.0):
        return (base + scale * rng.standard_normal(n)).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": rng.standard_normal((vocab_size, HIDDEN)).astype(np.float32),
        "embeddings.position_embeddings.weight": (0.5 * rng.standard_normal((MAX_POS, HIDDEN))).astype(np.float32),
        "embeddings.token_type_embeddings.weight": (0.5 * rng.standard_normal((2, HIDDEN))).astype(np.float32),
        "embeddings.LayerNorm.weight": vec(HIDDEN, base=1.0),
        "embeddings.LayerNorm.bias": vec(HIDDEN),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            w[p + f"attention.self.{name}.weight"] = lin(HIDDEN, HIDDEN)
            w[p + f"attention.self.{name}.bias"] = vec(HIDDEN)
        w[p + "attention.output.dense.weight"] = lin(HIDDEN, HIDDEN)
        w[p + "attention.output.dense.bias"] = vec(HIDDEN)
        w[p + "attention.output.LayerNorm.weight"] = vec(HIDDEN, base=1.0)
        w[p + "attention.output.LayerNorm.bias"] = vec(HIDDEN)
        w[p + "intermediate.dense.weight"] = lin(INTERMEDIATE, HIDDEN)
        w[p + "intermediate.dense.bias"] = vec(INTERMEDIATE)
        w[p + "output.dense.weight"] = lin(HIDDEN, INTERMEDIATE)
        w[p + "output.dense.bias"] = vec(HIDDEN)
        w[p + "output.LayerNorm.weight"] = vec(HIDDEN, base=1.0)
        w[p + "output.LayerNorm.bias"] = vec(HIDDEN)
    return w


def bert_config(vocab_size: int, pad_id: int) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "gelu",
        "max_position_embeddings": MAX_POS,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
        "pad_token_id": pad_id,
        "_comment": "tiny random test model written by models/make_tiny_embedders.py",
    }


def bert_graph(weights, cfg, with_token_type_ids=True, pooled_output=False, rng=None) -> onnx.ModelProto:
    gb = GraphBuilder()
    ids, mask, tt = bert_inputs(gb, with_token_type_ids)
    x = bert_encoder(gb, weights, cfg, ids, mask, tt)
    gb.rename_output(x, "last_hidden_state")
    gb.add_output("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", HIDDEN])
    if pooled_output:
        # sentence_embedding = tanh(Dense(masked mean of last_hidden_state)),
        # the way full sentence-transformers pipelines get exported.
        m = gb.node("Unsqueeze", [gb.node("Cast", [mask], to=TensorProto.FLOAT),
                                  gb.const("ax2", np.array([2], np.int64))])
        ax1 = gb.const("ax1", np.array([1], np.int64))
        summed = gb.node("ReduceSum", [gb.node("Mul", [x, m]), ax1], keepdims=0)
        count = gb.node("Max", [gb.node("ReduceSum", [m, ax1], keepdims=0),
                                gb.const("eps", np.array(1e-9, np.float32))])
        mean = gb.node("Div", [summed, count], hint="mean_pooled")
        dense_w = (rng.standard_normal((HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
        dense_b = (0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
        y = gb.node("Tanh", [gb.linear(mean, dense_w, dense_b, "dense")])
        gb.rename_output(y, "sentence_embedding")
        gb.add_output("sentence_embedding", TensorProto.FLOAT, ["batch_size", HIDDEN])
    return gb.model("tiny_bert", doc="tiny random BERT encoder (models/make_tiny_embedders.py)")


def rms_norm(gb: GraphBuilder, x: str, weight: np.ndarray, eps: float, name: str) -> str:
    """x / sqrt(mean(x^2) + eps) * weight (opset 17 has no RMSNormalization)."""
    ms = gb.node("ReduceMean", [gb.node("Mul", [x, x])], axes=[-1], keepdims=1)
    rms = gb.node("Sqrt", [gb.node("Add", [ms, gb.const("rms_eps", np.array(eps, np.float32))])])
    return gb.node("Mul", [gb.node("Div", [x, rms]), gb.init(f"{name}.weight", weight)], hint=name)


def decoder_graph(rng: np.random.Generator, vocab_size: int, eps: float) -> onnx.ModelProto:
    """Pre-norm causal transformer (RMSNorm, SiLU-gated MLP) -> last_hidden_state.

    position_ids = cumsum(attention_mask) - 1 (0 on padding), so a left-padded
    row gives its real tokens the same positions as the unpadded text.
    Attention allows key j for query i iff j <= i and mask[j] == 1.
    """
    def lin(out_dim, in_dim):
        return (rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)).astype(np.float32)

    def norm_w():
        return (1.0 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)

    head_dim = HIDDEN // HEADS
    gb = GraphBuilder()
    dims = ["batch_size", "sequence_length"]
    ids = gb.add_input("input_ids", TensorProto.INT64, dims)
    mask = gb.add_input("attention_mask", TensorProto.INT64, dims)

    # positions from the mask
    csum = gb.node("CumSum", [mask, gb.const("axis1", np.array(1, np.int64))])
    pos = gb.node("Sub", [csum, gb.const("one_i", np.array(1, np.int64))])
    mask_b = gb.node("Cast", [mask], to=TensorProto.BOOL)
    pos = gb.node("Where", [mask_b, pos, gb.const("zero_i", np.array(0, np.int64))], hint="position_ids")

    wte = gb.init("embed_tokens.weight", rng.standard_normal((vocab_size, HIDDEN)).astype(np.float32))
    wpe = gb.init("embed_positions.weight", (0.5 * rng.standard_normal((MAX_POS, HIDDEN))).astype(np.float32))
    x = gb.node("Add", [gb.node("Gather", [wte, ids]), gb.node("Gather", [wpe, pos])], hint="embeds")

    # allowed[b, 1, i, j] = (j <= i) and mask[b, j]
    seq = gb.node("Gather", [gb.node("Shape", [ids]), gb.const("idx1", np.array(1, np.int64))])
    ar = gb.node("Range", [gb.const("zero_i", np.array(0, np.int64)), seq,
                           gb.const("one_i", np.array(1, np.int64))])
    rows = gb.node("Unsqueeze", [ar, gb.const("ax_1", np.array([1], np.int64))])
    cols = gb.node("Unsqueeze", [ar, gb.const("ax_0", np.array([0], np.int64))])
    causal = gb.node("GreaterOrEqual", [rows, cols], hint="causal")
    keys = gb.node("Unsqueeze", [mask_b, gb.const("ax12", np.array([1, 2], np.int64))])
    allowed = gb.node("And", [causal, keys], hint="allowed")
    fmin = gb.const("fmin", np.array(FLOAT_MIN, np.float32))
    scale = gb.const("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))

    for i in range(LAYERS):
        p = f"layers.{i}."
        h = rms_norm(gb, x, norm_w(), eps, p + "input_layernorm")
        q = gb.split_heads(gb.linear(h, lin(HIDDEN, HIDDEN), None, p + "self_attn.q_proj"), HEADS, head_dim)
        k = gb.split_heads(gb.linear(h, lin(HIDDEN, HIDDEN), None, p + "self_attn.k_proj"), HEADS, head_dim)
        v = gb.split_heads(gb.linear(h, lin(HIDDEN, HIDDEN), None, p + "self_attn.v_proj"), HEADS, head_dim)
        scores = gb.node("Mul", [gb.node("MatMul", [q, gb.node("Transpose", [k], perm=[0, 1, 3, 2])]), scale])
        probs = gb.node("Softmax", [gb.node("Where", [allowed, scores, fmin])], axis=-1)
        ctx = gb.merge_heads(gb.node("MatMul", [probs, v]), HIDDEN)
        x = gb.node("Add", [x, gb.linear(ctx, lin(HIDDEN, HIDDEN), None, p + "self_attn.o_proj")])
        h = rms_norm(gb, x, norm_w(), eps, p + "post_attention_layernorm")
        gate = gb.linear(h, lin(INTERMEDIATE, HIDDEN), None, p + "mlp.gate_proj")
        up = gb.linear(h, lin(INTERMEDIATE, HIDDEN), None, p + "mlp.up_proj")
        act = gb.node("Mul", [gb.node("Mul", [gate, gb.node("Sigmoid", [gate])]), up], hint="swiglu")
        x = gb.node("Add", [x, gb.linear(act, lin(HIDDEN, INTERMEDIATE), None, p + "mlp.down_proj")])
    x = rms_norm(gb, x, norm_w(), eps, "norm")
    gb.rename_output(x, "last_hidden_state")
    gb.add_output("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", HIDDEN])
    return gb.model("tiny_decoder", doc="tiny random causal embedder (models/make_tiny_embedders.py)")


# --------------------------------------------------------------------------
# sentence-transformers config files
# --------------------------------------------------------------------------


def modules_json(normalize: bool) -> list[dict]:
    mods = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    return mods


def pooling_json(mode: str) -> dict:
    return {
        "word_embedding_dimension": HIDDEN,
        "pooling_mode_cls_token": mode == "cls",
        "pooling_mode_mean_tokens": mode == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": mode == "lasttoken",
        "include_prompt": True,
    }


def write_st_files(folder: Path, pooling: str, normalize: bool, max_len: int, prompts=None,
                   default_prompt=None) -> None:
    write_json(folder / "modules.json", modules_json(normalize))
    write_json(folder / "1_Pooling/config.json", pooling_json(pooling))
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
    write_json(folder / "config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": "3.0.0"},
        "prompts": prompts or {},
        "default_prompt_name": default_prompt,
        "similarity_fn_name": "cosine",
    })


def bert_tokenizer_config(max_len: int) -> dict:
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": max_len,
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "unk_token": "[UNK]", "mask_token": "[MASK]",
    }


# --------------------------------------------------------------------------
# the four folders
# --------------------------------------------------------------------------


def check_right_padded(sess, tok, texts, pooling, single, pad_id, pad_token, output="last_hidden_state"):
    _, vecs = batched(sess, tok, texts, pooling, "right", pad_id, pad_token, output)
    return assert_same(vecs, single, "right-padded batch vs one by one")


def make_embed_bert(out: Path) -> None:
    folder = out / "embed-bert"
    rng = np.random.default_rng(1001)
    vocab = bert_vocab()
    max_len = 16
    tok = bert_tokenizer(vocab)
    tok.save(str(folder / "tokenizer.json"), pretty=True)
    cfg = bert_config(len(vocab), vocab["[PAD]"])
    write_json(folder / "config.json", cfg)
    write_json(folder / "tokenizer_config.json", bert_tokenizer_config(MAX_POS))
    write_st_files(folder, "mean", True, max_len)
    weights = bert_weights(rng, len(vocab))
    fp32 = folder / "onnx/model.onnx"
    save_model(bert_graph(weights, cfg), fp32)

    # Variant: ONNX Runtime dynamic int8 quantization of the same graph, with 7-bit weights
    # (reduce_range): x86 AVX2 without VNNI multiplies u8 activations by s8 weights with
    # vpmaddubsw, whose int16 pair sums saturate for 8-bit weights (2*255*127 > 32767) but
    # not for 7-bit ones (2*255*64 = 32640). So the integer products are exact on every
    # CPU (AVX2, AVX-512 VNNI, NEON) and the vectors differ across CPUs only by fp32
    # rounding (measured under qemu -cpu Haswell/SandyBridge: <= 1e-7; with 8-bit
    # weights Haswell was off by 0.0147), which lets the tests hold them to 2e-5.
    from onnxruntime.quantization import QuantType, quantize_dynamic
    q = folder / "onnx/model_quantized.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_q = Path(tmp) / "q.onnx"
        quantize_dynamic(str(fp32), str(tmp_q), weight_type=QuantType.QInt8, reduce_range=True)
        qm = onnx.load(str(tmp_q))
        qm.producer_name, qm.producer_version = "nodespace-models", "1"  # stable bytes
        onnx.save(qm, str(q))

    tok = reference_tokenizer(folder / "tokenizer.json", max_len)
    sess = session(fp32)
    encs, vecs = one_by_one(sess, tok, TEXTS, "mean")
    check_right_padded(sess, tok, TEXTS, "mean", vecs, vocab["[PAD]"], "[PAD]")
    _, qvecs = one_by_one(session(q), tok, TEXTS, "mean")
    qcos = (vecs * qvecs).sum(1)
    assert 0.9 < qcos.min() and qcos.max() < 1.0 - 1e-7, f"quantized variant cosines {qcos}"
    write_expected(folder / "expected.json", {
        "model_file": "onnx/model.onnx",
        "texts": TEXTS,
        "input_ids": [e.ids for e in encs],
        "embeddings": [f32_list(v) for v in vecs],
        "pooling": "mean",
        "normalize": True,
        "max_length": max_len,
        "dimension": HIDDEN,
        "variants": {"onnx/model_quantized.onnx": {
            "embeddings": [f32_list(v) for v in qvecs],
            "min_cosine_vs_model_onnx": float(str(np.float32(qcos.min()))),
        }},
    })
    print(f"embed-bert: quantized variant min cosine vs fp32 {qcos.min():.5f}")


def make_embed_bert_nott(out: Path) -> None:
    folder = out / "embed-bert-nott"
    rng = np.random.default_rng(1002)
    vocab = bert_vocab()
    max_len = 24
    tok = bert_tokenizer(vocab)
    tok.save(str(folder / "tokenizer.json"), pretty=True)
    cfg = bert_config(len(vocab), vocab["[PAD]"])
    cfg["type_vocab_size"] = 1
    write_json(folder / "config.json", cfg)
    write_json(folder / "tokenizer_config.json", bert_tokenizer_config(MAX_POS))
    prompts = {"query": "query: ", "passage": "passage: "}
    write_st_files(folder, "cls", False, max_len, prompts=prompts, default_prompt=None)
    weights = bert_weights(rng, len(vocab))
    weights["embeddings.token_type_embeddings.weight"] = weights["embeddings.token_type_embeddings.weight"][:1]
    path = folder / "model.onnx"
    save_model(bert_graph(weights, cfg, with_token_type_ids=False), path)

    tok = reference_tokenizer(folder / "tokenizer.json", max_len)
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
    encs, vecs = one_by_one(sess, tok, TEXTS, "cls")
    check_right_padded(sess, tok, TEXTS, "cls", vecs, vocab["[PAD]"], "[PAD]")
    prompted = {}
    for name, prefix in prompts.items():
        p_encs, p_vecs = one_by_one(sess, tok, [prefix + t for t in TEXTS], "cls")
        prompted[name] = {"prefix": prefix, "input_ids": [e.ids for e in p_encs],
                          "embeddings": [f32_list(v) for v in p_vecs]}
    write_expected(folder / "expected.json", {
        "model_file": "model.onnx",
        "texts": TEXTS,
        "input_ids": [e.ids for e in encs],
        "embeddings": [f32_list(v) for v in vecs],
        "pooling": "cls",
        "normalize": True,
        "normalize_note": "modules.json has no Normalize module; these vectors are L2-normalised "
                          "because the library normalises by default",
        "max_length": max_len,
        "dimension": HIDDEN,
        "prompted": prompted,
    })
    print("embed-bert-nott: ok")


def make_embed_pooled(out: Path) -> None:
    folder = out / "embed-pooled"
    rng = np.random.default_rng(1003)
    vocab = bert_vocab()
    max_len = 32
    stale = 8
    tok = bert_tokenizer(vocab)
    # A stale tokenizer.json truncation/padding, as in all-MiniLM-L6-v2's
    # (128/Fixed(128) there, max_seq_length 256): sentence-transformers
    # ignores it and uses max_seq_length with dynamic padding.
    tok.enable_truncation(max_length=stale)
    tok.enable_padding(direction="right", pad_id=vocab["[PAD]"], pad_token="[PAD]", length=stale)
    tok.save(str(folder / "tokenizer.json"), pretty=True)
    cfg = bert_config(len(vocab), vocab["[PAD]"])
    write_json(folder / "config.json", cfg)
    write_json(folder / "tokenizer_config.json", bert_tokenizer_config(MAX_POS))
    write_st_files(folder, "mean", True, max_len)
    weights = bert_weights(rng, len(vocab))
    path = folder / "onnx/model.onnx"
    save_model(bert_graph(weights, cfg, pooled_output=True, rng=rng), path)

    tok = reference_tokenizer(folder / "tokenizer.json", max_len)
    sess = session(path)
    assert [o.name for o in sess.get_outputs()] == ["last_hidden_state", "sentence_embedding"]
    encs, vecs = one_by_one(sess, tok, TEXTS, "mean", output="sentence_embedding")
    check_right_padded(sess, tok, TEXTS, "mean", vecs, vocab["[PAD]"], "[PAD]", output="sentence_embedding")
    _, mean_vecs = one_by_one(sess, tok, TEXTS, "mean")
    assert max(len(e.ids) for e in encs) > stale, "no text is longer than the stale tokenizer.json limit"
    write_expected(folder / "expected.json", {
        "model_file": "onnx/model.onnx",
        "texts": TEXTS,
        "input_ids": [e.ids for e in encs],
        "embeddings": [f32_list(v) for v in vecs],
        "embedding_source": "sentence_embedding",
        "pooling": "mean",
        "normalize": True,
        "max_length": max_len,
        "dimension": HIDDEN,
        "tokenizer_json_stale_truncation": stale,
        "alternatives": {"mean_pooled_last_hidden_state": [f32_list(v) for v in mean_vecs]},
    })
    print("embed-pooled: ok")


def make_embed_decoder(out: Path) -> None:
    folder = out / "embed-decoder"
    rng = np.random.default_rng(1004)
    max_len = 24
    eps = 1e-6
    tok, eos_id = bpe_tokenizer()
    tok.save(str(folder / "tokenizer.json"), pretty=True)
    vocab_size = tok.get_vocab_size()
    write_json(folder / "config.json", {
        "architectures": ["Qwen3Model"],
        "model_type": "qwen3",
        "vocab_size": vocab_size,
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "head_dim": HIDDEN // HEADS,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "silu",
        "max_position_embeddings": MAX_POS,
        "rms_norm_eps": eps,
        "bos_token_id": None,
        "eos_token_id": eos_id,
        "pad_token_id": eos_id,
        "tie_word_embeddings": False,
        "_comment": "tiny random causal embedder written by models/make_tiny_embedders.py "
                    "(learned absolute positions from the attention mask instead of RoPE)",
    })
    write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "Qwen2Tokenizer",
        "model_max_length": MAX_POS,
        "padding_side": "left",
        "eos_token": EOS,
        "pad_token": EOS,
        "bos_token": None,
        "add_prefix_space": False,
    })
    write_st_files(folder, "lasttoken", True, max_len,
                   prompts={"query": "Instruct: Find the text\nQuery:", "document": ""},
                   default_prompt=None)
    path = folder / "onnx/model.onnx"
    save_model(decoder_graph(rng, vocab_size, eps), path)

    tok = reference_tokenizer(folder / "tokenizer.json", max_len)
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
    encs, vecs = one_by_one(sess, tok, TEXTS, "lasttoken")
    assert all(e.ids[-1] == eos_id for e in encs), "EOS must end every (truncated) text"
    # Left padding, as tokenizer.json asks: one ORT call == one by one.
    l_encs, l_vecs = batched(sess, tok, TEXTS, "lasttoken", "left", eos_id, EOS)
    left_diff = assert_same(l_vecs, vecs, "left-padded batch vs one by one")
    right_diff = check_right_padded(sess, tok, TEXTS, "lasttoken", vecs, eos_id, EOS)
    # The batch padding must not be a no-op, or the check above proves nothing.
    assert len({len(e.ids) for e in encs}) > 1 and l_encs[0].attention_mask[0] == 0
    write_expected(folder / "expected.json", {
        "model_file": "onnx/model.onnx",
        "texts": TEXTS,
        "input_ids": [e.ids for e in encs],
        "embeddings": [f32_list(v) for v in vecs],
        "pooling": "lasttoken",
        "normalize": True,
        "max_length": max_len,
        "dimension": HIDDEN,
        "expected_batched_left_padded": {
            "input_ids": [e.ids for e in l_encs],
            "attention_mask": [e.attention_mask for e in l_encs],
            "max_abs_diff_vs_one_by_one": float(str(np.float32(left_diff))),
        },
        "right_padded_max_abs_diff_vs_one_by_one": float(str(np.float32(right_diff))),
    })
    print(f"embed-decoder: left-padded batch max abs diff {left_diff:.2g}, right {right_diff:.2g}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "tiny")
    args = ap.parse_args()
    for name in ("embed-bert", "embed-bert-nott", "embed-pooled", "embed-decoder"):
        d = args.out / name
        if d.exists():
            shutil.rmtree(d)  # nothing stale survives a re-run
        d.mkdir(parents=True)
    make_embed_bert(args.out)
    make_embed_bert_nott(args.out)
    make_embed_pooled(args.out)
    make_embed_decoder(args.out)
    total = 0
    for name in ("embed-bert", "embed-bert-nott", "embed-pooled", "embed-decoder"):
        size = sum(p.stat().st_size for p in (args.out / name).rglob("*") if p.is_file())
        total += size
        print(f"  {name:16s} {size / 1024:7.1f} KiB")
    print(f"  total            {total / 1024:7.1f} KiB")
    assert total < 1_000_000, "tiny embedders must stay under 1 MB together"
    return 0


if __name__ == "__main__":
    sys.exit(main())
