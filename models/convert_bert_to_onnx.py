#!/usr/bin/env python3
"""Convert a BERT encoder (``model.safetensors`` + ``config.json``) to ONNX.

Only numpy, onnx and safetensors are needed: no PyTorch, no transformers.
The graph is written by hand with standard opset-17 operators so that it
matches Hugging Face ``BertModel`` (absolute position embeddings, erf GELU,
post-LayerNorm) and runs on any ONNX Runtime >= 1.14.

Graph interface (the same as Optimum / the Hugging Face ``onnx/`` exports):

  inputs   input_ids       int64 [batch_size, sequence_length]
           attention_mask  int64 [batch_size, sequence_length]
           token_type_ids  int64 [batch_size, sequence_length]
  output   last_hidden_state float32 [batch_size, sequence_length, hidden]

Pooling and normalisation are *not* in the graph: they belong to the runtime
(sentence-transformers ``1_Pooling`` / ``Normalize`` modules).

``--fused`` writes the same encoder in ONNX Runtime's contrib ops instead (per layer
``Attention``, ``SkipLayerNormalization`` x2, ``BiasGelu``: 51 nodes for MiniLM instead of
~200 after ONNX Runtime's own optimizer, which does not find these fusions in the plain
graph); it runs only on ONNX Runtime. ``fetch_embedding_models.py`` writes it as
``onnx/model_fused.onnx`` (``--variant fused``).

Usage:

  python3 models/convert_bert_to_onnx.py MODEL_DIR OUT.onnx [--fused] [--check]

``--check`` compares the ONNX output with ``transformers.BertModel`` (only if
torch + transformers are installed) on a few padded sentences and fails if
the largest absolute difference on real tokens is above 1e-4.

The graph-building helpers (``GraphBuilder``, ``bert_encoder``) are also
used by ``make_tiny_embedders.py`` to write the tiny committed test models,
so the tiny BERT and the real MiniLM go through the same code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# IR 8 is the lowest IR that carries opset 17: keeps the files loadable by
# older ONNX Runtime builds that applications may ship.
IR_VERSION = 8
FLOAT_MIN = float(np.finfo(np.float32).min)


class GraphBuilder:
    """Tiny helper around onnx.helper that names tensors deterministically."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()
        self._counter = 0
        self._consts: dict = {}

    def _fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def init(self, name: str, array: np.ndarray) -> str:
        """Add a constant initializer; returns its name."""
        if name in self._names:
            raise ValueError(f"duplicate tensor name {name}")
        self._names.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(self, hint: str, array) -> str:
        """A small constant, shared between all users of the same value."""
        a = np.asarray(array)
        key = (hint, a.dtype.str, a.shape, a.tobytes())
        if key not in self._consts:
            self._consts[key] = self.init(self._fresh(hint), a)
        return self._consts[key]

    def node(self, op: str, inputs: list[str], n_out: int = 1, hint: str | None = None, **attrs):
        outs = [self._fresh(hint or op.lower()) for _ in range(n_out)]
        self._names.update(outs)
        self.nodes.append(helper.make_node(op, inputs, outs, name=self._fresh("n_" + op), **attrs))
        return outs[0] if n_out == 1 else outs

    def rename_output(self, tensor: str, name: str) -> str:
        """Expose ``tensor`` under the graph output name ``name`` (Identity)."""
        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=self._fresh("n_out")))
        self._names.add(name)
        return name

    def add_input(self, name: str, elem_type: int, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        self._names.add(name)
        return name

    def add_output(self, name: str, elem_type: int, shape: list) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def model(self, graph_name: str, doc: str = "", contrib: bool = False) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.initializers)
        opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid("com.microsoft", 1)] if contrib else [])
        model = helper.make_model(
            graph,
            opset_imports=opsets,
            producer_name="nodespace-models",
            producer_version="1",
            doc_string=doc,
        )
        model.ir_version = IR_VERSION
        return model

    # --- small composite ops -------------------------------------------------

    def linear(self, x: str, weight_out_in: np.ndarray, bias: np.ndarray | None, name: str) -> str:
        """y = x @ W^T + b with a PyTorch-layout weight [out, in]."""
        w = self.init(f"{name}.weight_t", weight_out_in.astype(np.float32).T.copy())
        y = self.node("MatMul", [x, w], hint=f"{name}_mm")
        if bias is not None:
            b = self.init(f"{name}.bias", bias.astype(np.float32))
            y = self.node("Add", [y, b], hint=f"{name}_out")
        return y

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float, name: str) -> str:
        g = self.init(f"{name}.weight", weight.astype(np.float32))
        b = self.init(f"{name}.bias", bias.astype(np.float32))
        return self.node("LayerNormalization", [x, g, b], hint=name, axis=-1, epsilon=float(eps))

    def gelu_erf(self, x: str) -> str:
        """0.5 * x * (1 + erf(x / sqrt(2))): HF ``gelu`` (exact, not tanh)."""
        inv_sqrt2 = self.const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
        one = self.const("one", np.array(1.0, dtype=np.float32))
        half = self.const("half", np.array(0.5, dtype=np.float32))
        e = self.node("Erf", [self.node("Mul", [x, inv_sqrt2])])
        return self.node("Mul", [self.node("Mul", [x, self.node("Add", [e, one])]), half], hint="gelu")

    def split_heads(self, x: str, heads: int, head_dim: int) -> str:
        """[B, S, H*D] -> [B, H, S, D]."""
        shape = self.const("shape_bshd", np.array([0, 0, heads, head_dim], dtype=np.int64))
        return self.node("Transpose", [self.node("Reshape", [x, shape])], perm=[0, 2, 1, 3])

    def merge_heads(self, x: str, hidden: int) -> str:
        """[B, H, S, D] -> [B, S, H*D]."""
        shape = self.const("shape_bsh", np.array([0, 0, hidden], dtype=np.int64))
        return self.node("Reshape", [self.node("Transpose", [x], perm=[0, 2, 1, 3]), shape])


def _strip_prefix(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Accept ``bert.``-prefixed checkpoints (BertForX) as well as BertModel."""
    for prefix in ("bert.", "model."):
        if any(k.startswith(prefix + "embeddings.") for k in weights):
            return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    return weights


def bert_encoder(gb: GraphBuilder, weights: dict[str, np.ndarray], cfg: dict,
                 input_ids: str, attention_mask: str, token_type_ids: str | None) -> str:
    """Append a BertModel encoder to ``gb``; returns the last_hidden_state tensor.

    ``token_type_ids=None`` builds a graph without that input (segment 0 is
    added as a constant), like exports of models whose tokenizer gives none.
    """
    w = _strip_prefix(weights)
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    act = cfg.get("hidden_act", "gelu")
    if act != "gelu":
        raise ValueError(f"hidden_act {act!r} not supported (only erf 'gelu')")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    head_dim = hidden // heads

    # --- embeddings ---------------------------------------------------------
    word = gb.init("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"].astype(np.float32))
    x = gb.node("Gather", [word, input_ids], hint="word_emb")

    # position_ids = arange(seq_len): slice the table to the sequence length.
    pos_table = gb.init("embeddings.position_embeddings.weight",
                        w["embeddings.position_embeddings.weight"].astype(np.float32))
    ids_shape = gb.node("Shape", [input_ids])
    seq_len = gb.node("Slice", [ids_shape, gb.const("i1", np.array([1], np.int64)),
                                gb.const("i2", np.array([2], np.int64))], hint="seq_len")
    pos = gb.node("Slice", [pos_table, gb.const("i0", np.array([0], np.int64)), seq_len,
                            gb.const("ax0", np.array([0], np.int64))], hint="pos_emb")
    x = gb.node("Add", [x, pos])

    tt_table = w["embeddings.token_type_embeddings.weight"].astype(np.float32)
    if token_type_ids is not None:
        tt = gb.init("embeddings.token_type_embeddings.weight", tt_table)
        x = gb.node("Add", [x, gb.node("Gather", [tt, token_type_ids], hint="tt_emb")])
    else:
        x = gb.node("Add", [x, gb.init("embeddings.token_type_embeddings.row0", tt_table[0])])
    x = gb.layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps,
                      "embeddings.LayerNorm")

    # --- additive attention mask [B, 1, 1, S]: 0 keep, float32.min drop -------
    maskf = gb.node("Cast", [attention_mask], to=TensorProto.FLOAT)
    inv = gb.node("Sub", [gb.const("one", np.array(1.0, np.float32)), maskf])
    add_mask = gb.node("Mul", [inv, gb.const("fmin", np.array(FLOAT_MIN, np.float32))])
    add_mask = gb.node("Unsqueeze", [add_mask, gb.const("ax12", np.array([1, 2], np.int64))],
                       hint="attn_bias")
    scale = gb.const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))

    # --- layers ---------------------------------------------------------------
    for i in range(layers):
        p = f"encoder.layer.{i}."
        q = gb.linear(x, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"], p + "q")
        k = gb.linear(x, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"], p + "k")
        v = gb.linear(x, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"], p + "v")
        q, k, v = (gb.split_heads(t, heads, head_dim) for t in (q, k, v))
        kt = gb.node("Transpose", [k], perm=[0, 1, 3, 2])
        scores = gb.node("Mul", [gb.node("MatMul", [q, kt]), scale])
        probs = gb.node("Softmax", [gb.node("Add", [scores, add_mask])], axis=-1)
        ctx = gb.merge_heads(gb.node("MatMul", [probs, v]), hidden)
        attn = gb.linear(ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"],
                         p + "attention.output.dense")
        x = gb.layer_norm(gb.node("Add", [attn, x]), w[p + "attention.output.LayerNorm.weight"],
                          w[p + "attention.output.LayerNorm.bias"], eps, p + "attention.output.LayerNorm")
        h = gb.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"],
                      p + "intermediate.dense")
        h = gb.gelu_erf(h)
        h = gb.linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"], p + "output.dense")
        x = gb.layer_norm(gb.node("Add", [h, x]), w[p + "output.LayerNorm.weight"],
                          w[p + "output.LayerNorm.bias"], eps, p + "output.LayerNorm")
    return x


MS = "com.microsoft"


def bert_encoder_fused(gb: GraphBuilder, weights: dict[str, np.ndarray], cfg: dict,
                       input_ids: str, attention_mask: str, token_type_ids: str | None) -> str:
    """The same encoder in ONNX Runtime's fused contrib ops (domain com.microsoft): per layer
    ``Attention`` (packed QKV projection + masked softmax attention), ``SkipLayerNormalization``
    (bias + residual + LayerNorm) twice and ``BiasGelu`` (exact erf GELU): 7 nodes instead of
    ~30. ONNX Runtime's own optimizer does not find these fusions in the plain graph."""
    w = _strip_prefix(weights)
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act {cfg.get('hidden_act')!r} not supported (only erf 'gelu')")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731

    # --- embeddings (as in bert_encoder) -------------------------------------------------
    word = gb.init("embeddings.word_embeddings.weight", f32(w["embeddings.word_embeddings.weight"]))
    x = gb.node("Gather", [word, input_ids], hint="word_emb")
    pos_table = gb.init("embeddings.position_embeddings.weight", f32(w["embeddings.position_embeddings.weight"]))
    ids_shape = gb.node("Shape", [input_ids])
    seq_len = gb.node("Slice", [ids_shape, gb.const("i1", np.array([1], np.int64)),
                                gb.const("i2", np.array([2], np.int64))], hint="seq_len")
    pos = gb.node("Slice", [pos_table, gb.const("i0", np.array([0], np.int64)), seq_len,
                            gb.const("ax0", np.array([0], np.int64))], hint="pos_emb")
    tt_table = f32(w["embeddings.token_type_embeddings.weight"])
    if token_type_ids is not None:
        tt = gb.node("Gather", [gb.init("embeddings.token_type_embeddings.weight", tt_table), token_type_ids],
                     hint="tt_emb")
    else:
        tt = gb.init("embeddings.token_type_embeddings.row0", tt_table[0])
    x = gb.node("Add", [x, pos])
    x = gb.node("SkipLayerNormalization", [x, tt, gb.init("embeddings.LayerNorm.weight", f32(w["embeddings.LayerNorm.weight"])),
                                           gb.init("embeddings.LayerNorm.bias", f32(w["embeddings.LayerNorm.bias"]))],
                hint="emb_ln", domain=MS, epsilon=eps)
    # Attention takes the raw 0/1 mask (int32, [batch, seq]).
    mask32 = gb.node("Cast", [attention_mask], to=TensorProto.INT32, hint="mask_i32")

    for i in range(layers):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate([f32(w[p + f"attention.self.{n}.weight"]) for n in ("query", "key", "value")]).T
        qkv_b = np.concatenate([f32(w[p + f"attention.self.{n}.bias"]) for n in ("query", "key", "value")])
        ctx = gb.node("Attention", [x, gb.init(p + "attention.qkv.weight", qkv_w.copy()),
                                    gb.init(p + "attention.qkv.bias", qkv_b), mask32],
                      hint=p + "attention", domain=MS, num_heads=heads, mask_filter_value=FLOAT_MIN)
        o = gb.node("MatMul", [ctx, gb.init(p + "attention.output.dense.weight_t",
                                            f32(w[p + "attention.output.dense.weight"]).T.copy())])
        x = gb.node("SkipLayerNormalization",
                    [o, x, gb.init(p + "attention.output.LayerNorm.weight", f32(w[p + "attention.output.LayerNorm.weight"])),
                     gb.init(p + "attention.output.LayerNorm.bias", f32(w[p + "attention.output.LayerNorm.bias"])),
                     gb.init(p + "attention.output.dense.bias", f32(w[p + "attention.output.dense.bias"]))],
                    hint=p + "attention.output.LayerNorm", domain=MS, epsilon=eps)
        h = gb.node("MatMul", [x, gb.init(p + "intermediate.dense.weight_t", f32(w[p + "intermediate.dense.weight"]).T.copy())])
        h = gb.node("BiasGelu", [h, gb.init(p + "intermediate.dense.bias", f32(w[p + "intermediate.dense.bias"]))],
                    hint="gelu", domain=MS)
        h = gb.node("MatMul", [h, gb.init(p + "output.dense.weight_t", f32(w[p + "output.dense.weight"]).T.copy())])
        x = gb.node("SkipLayerNormalization",
                    [h, x, gb.init(p + "output.LayerNorm.weight", f32(w[p + "output.LayerNorm.weight"])),
                     gb.init(p + "output.LayerNorm.bias", f32(w[p + "output.LayerNorm.bias"])),
                     gb.init(p + "output.dense.bias", f32(w[p + "output.dense.bias"]))],
                    hint=p + "output.LayerNorm", domain=MS, epsilon=eps)
    return x


def bert_inputs(gb: GraphBuilder, with_token_type_ids: bool = True):
    dims = ["batch_size", "sequence_length"]
    ids = gb.add_input("input_ids", TensorProto.INT64, dims)
    mask = gb.add_input("attention_mask", TensorProto.INT64, dims)
    tt = gb.add_input("token_type_ids", TensorProto.INT64, dims) if with_token_type_ids else None
    return ids, mask, tt


def build_bert_model(weights: dict[str, np.ndarray], cfg: dict, with_token_type_ids: bool = True,
                     graph_name: str = "bert", fused: bool = False) -> onnx.ModelProto:
    gb = GraphBuilder()
    ids, mask, tt = bert_inputs(gb, with_token_type_ids)
    x = (bert_encoder_fused if fused else bert_encoder)(gb, weights, cfg, ids, mask, tt)
    gb.rename_output(x, "last_hidden_state")
    gb.add_output("last_hidden_state", TensorProto.FLOAT,
                  ["batch_size", "sequence_length", int(cfg["hidden_size"])])
    return gb.model(graph_name, doc="BERT encoder written by models/convert_bert_to_onnx.py"
                    + (" (ONNX Runtime contrib ops)" if fused else ""), contrib=fused)


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    return load_file(str(path))


def convert(model_dir: Path, out: Path, fused: bool = False) -> Path:
    cfg = json.loads((model_dir / "config.json").read_text())
    if cfg.get("model_type") not in ("bert", None):
        print(f"warning: model_type {cfg.get('model_type')!r}, converting as BERT", file=sys.stderr)
    weights = load_safetensors(model_dir / "model.safetensors")
    model = build_bert_model(weights, cfg, fused=fused)
    if not fused:  # the checker does not know ONNX Runtime's contrib ops
        onnx.checker.check_model(model, full_check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)
    return out


def check_against_transformers(model_dir: Path, onnx_path: Path) -> float:
    """Max |ONNX - transformers.BertModel| over real tokens of a padded batch."""
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    texts = ["Hello world!", "A somewhat longer sentence, to force some padding in the batch.",
             "Ünïcödé – 東京 🙂", ""]
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(texts)
    feeds = {
        "input_ids": np.array([e.ids for e in enc], np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
        "token_type_ids": np.array([e.type_ids for e in enc], np.int64),
    }
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["last_hidden_state"], feeds)[0]
    ref_model = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False).eval()
    with torch.no_grad():
        ref = ref_model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    m = feeds["attention_mask"].astype(bool)
    return float(np.abs(got - ref)[m].max())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path, help="folder with model.safetensors + config.json")
    ap.add_argument("output", type=Path, help="output .onnx path")
    ap.add_argument("--fused", action="store_true",
                    help="write the fused graph (ONNX Runtime contrib ops: Attention, SkipLayerNormalization, BiasGelu)")
    ap.add_argument("--check", action="store_true",
                    help="compare with transformers.BertModel (needs torch + transformers)")
    args = ap.parse_args()
    out = convert(args.model_dir, args.output, fused=args.fused)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if args.check:
        diff = check_against_transformers(args.model_dir, out)
        print(f"check: max |onnx - transformers| on real tokens = {diff:.3g}")
        if diff > 1e-4:
            print("check FAILED", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
