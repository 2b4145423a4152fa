#!/usr/bin/env python3
"""Build a llama-family decoder ONNX graph (with KV cache) from numpy weights.

The graph has the Optimum / transformers.js interface that the runtime reads:

  inputs   input_ids                    int64 [batch_size, sequence_length]
           attention_mask               int64 [batch_size, total_sequence_length]
           position_ids (optional)      int64 [batch_size, sequence_length]
           past_key_values.{i}.key      f32|f16 [batch_size, num_kv_heads, past_sequence_length, head_dim]
           past_key_values.{i}.value    (same)
  outputs  logits                       f32 [batch_size, sequence_length, vocab_size]
           present.{i}.key / .value     f32|f16 [batch_size, num_kv_heads, total_sequence_length, head_dim]

total_sequence_length = past_sequence_length + sequence_length. The first step
passes empty past tensors (past_sequence_length 0).

The math is transformers' ``LlamaForCausalLM`` (eager attention), in fp32:

  h = embed[input_ids]
  per layer:  h += o_proj(attn(rope(q_proj(rms(h))), rope(k_proj(rms(h))), v_proj(rms(h))))
              h += down_proj(silu(gate_proj(rms(h))) * up_proj(rms(h)))
  logits = lm_head(rms(h))            (lm_head = embed when the embeddings are tied)

* RMSNorm: ``x / sqrt(mean(x^2) + eps) * w``.
* Gemma 3 (``LlamaConfig.gemma3``, transformers' ``Gemma3ForCausalLM``): embeddings
  times sqrt(hidden) in fp32; every norm scales by ``(1 + w)``; q and k are
  RMS-normed per head before the rotation; the attention and MLP outputs are
  normed again before their residual adds (``post_attention_layernorm``,
  ``post_feedforward_layernorm``), the MLP input by ``pre_feedforward_layernorm``;
  GELU (tanh approximation) instead of SiLU; scores scaled by
  ``query_pre_attn_scalar ** -0.5``; the layers ``layer_types`` marks
  ``sliding_attention`` see only keys with ``query - key < sliding_window`` and
  rotate with ``rope_local_base_freq``.
* RoPE, HF "rotate_half" convention: ``x*cos + concat(-x2, x1)*sin`` with
  ``inv_freq = theta ** -(arange(0, d, 2) / d)`` and angle ``position * inv_freq``.
* Grouped-query attention: query head ``h`` reads KV head ``h // (heads / kv_heads)``
  (transformers' ``repeat_kv``), done with broadcasting MatMuls over
  ``[batch, kv_heads, group, seq, ...]`` instead of copying K/V.
* Mask: key ``j`` is visible to query ``i`` when ``j <= past + i`` and
  ``attention_mask[b, j] == 1``. Hidden scores become float32 min (a select,
  not an addition, so nothing overflows and a fully padded row gives a uniform
  softmax instead of NaN). Left padding is exact.

Options (``GraphOptions``):

* ``position_ids_input``: take ``position_ids`` as an input, or compute them in
  the graph as ``cumsum(attention_mask) - 1`` (padding positions get 1, as
  transformers' ``masked_fill``), keeping the last ``sequence_length``.
* ``attention_mask_input``: take ``attention_mask``, or not (transformers.js'
  Gemma 3 exports): then there is no padding, the past length comes from the
  cache's shape and ``position_ids`` must be an input.
* ``kv_dtype``: "float32" or "float16". For float16 the present K/V are cast
  to fp16 and attention reads the fp16-rounded values back (for the new tokens
  too), so a KV-cache loop and a full recompute see exactly the same K/V.
* ``position_offset``: the first position id. 1 for the transformers.js Gemma 3
  layout, whose ``position_ids`` count from 1; the graph subtracts it before
  rotating (inside, positions count from 0, as the model was trained), so only
  ``absolute_positions`` makes the first id observable. Without the
  ``position_ids`` input the graph adds the offset itself.
* ``logits_to_keep``: a ``num_logits_to_keep`` input (int64 scalar) and logits of
  that many last positions only (``[batch_size, num_logits_to_keep, vocab_size]``),
  as the fused graphs have: with Gemma's 262,144-token vocabulary, logits of every
  position of a 512-token prefill chunk are 0.5 GB.
* ``absolute_positions`` (test models only): also add a learned absolute position
  embedding (``model.embed_positions.weight`` ``[max_positions, hidden]``, GPT-2
  style) at row ``position_id - position_offset`` to the token embeddings. RoPE
  alone only sees *relative* positions, so a graph without this cannot tell
  0-based from 1-based position ids (a uniform shift rotates q and k alike);
  with it, a runtime that feeds the wrong first position gets different logits.

Weights use transformers' names and layouts (``[out_features, in_features]``):
``model.embed_tokens.weight``, ``model.layers.{i}.input_layernorm.weight``,
``model.layers.{i}.self_attn.{q,k,v,o}_proj.weight`` (and optional
``model.layers.{i}.self_attn.{q,k,v}_proj.bias``, Qwen2),
``model.layers.{i}.post_attention_layernorm.weight``,
``model.layers.{i}.mlp.{gate,up,down}_proj.weight``, ``model.norm.weight``,
``lm_head.weight`` (absent or ignored when ``tie_word_embeddings``).

Bidirectional models (``use_bidirectional_attention``, EmbeddingGemma) become an encoder
graph instead: inputs ``input_ids`` and ``attention_mask`` only (positions from the mask),
every non-padding key visible to every query (sliding-window layers: ``|query - key| <
window``, the window halved plus one as transformers' ``Gemma3TextConfig`` does for
bidirectional attention), no KV cache, and one output, ``last_hidden_state`` f32
``[batch_size, sequence_length, hidden]`` after the final norm.

Opset 17, standard ONNX ops only, weights as fp32 initializers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .graph import GraphBuilder

OPSET = 17
FLOAT32_MIN = float(np.finfo(np.float32).min)


@dataclass(frozen=True)
class LlamaConfig:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    # Gemma 3 (``gemma3``): see the module doc. The sliding-window layers use
    # ``rope_local_theta``; the others ``rope_theta``.
    gemma3: bool = False
    query_pre_attn_scalar: int = 0
    sliding_window: int = 0
    sliding_layers: tuple[bool, ...] = ()
    rope_local_theta: float = 10000.0
    # An encoder: every query sees every key (see the module doc).
    bidirectional: bool = False

    @classmethod
    def from_hf(cls, config: Mapping) -> "LlamaConfig":
        heads = int(config["num_attention_heads"])
        gemma3 = str(config.get("model_type", "")).startswith("gemma3")
        extra = {}
        bidirectional = bool(config.get("use_bidirectional_attention", False))
        if gemma3:
            window = int(config["sliding_window"])
            extra = dict(
                gemma3=True,
                bidirectional=bidirectional,
                query_pre_attn_scalar=int(config["query_pre_attn_scalar"]),
                # transformers' Gemma3TextConfig: a bidirectional window of w // 2 + 1 (exclusive).
                sliding_window=window // 2 + 1 if bidirectional else window,
                sliding_layers=tuple(t == "sliding_attention" for t in config["layer_types"]),
                rope_local_theta=float(config.get("rope_local_base_freq", 10000.0)),
            )
        return cls(
            **extra,
            hidden_size=int(config["hidden_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or config["hidden_size"] // heads),
            intermediate_size=int(config["intermediate_size"]),
            vocab_size=int(config["vocab_size"]),
            rms_norm_eps=float(config.get("rms_norm_eps", 1e-5)),
            rope_theta=float(config.get("rope_theta", 10000.0)),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        )

    def check(self) -> None:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.head_dim % 2:
            raise ValueError("head_dim must be even for rotary embeddings")
        if self.gemma3 and len(self.sliding_layers) != self.num_hidden_layers:
            raise ValueError("gemma3: layer_types must name every layer")
        if self.bidirectional and not self.gemma3:
            raise ValueError("bidirectional attention is only known for gemma3")


@dataclass(frozen=True)
class GraphOptions:
    position_ids_input: bool = True
    attention_mask_input: bool = True
    kv_dtype: str = "float32"  # or "float16"
    position_offset: int = 0
    absolute_positions: bool = False
    logits_to_keep: bool = False

    def check(self) -> None:
        if self.kv_dtype not in ("float32", "float16"):
            raise ValueError(f"kv_dtype must be float32 or float16, not {self.kv_dtype!r}")
        if not (self.attention_mask_input or self.position_ids_input):
            raise ValueError("a graph without attention_mask must take position_ids")


def rope_inv_freq(head_dim: int, theta: float) -> np.ndarray:
    """``1 / theta ** (arange(0, d, 2) / d)`` in float32, as transformers computes it."""
    exponent = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(head_dim)
    return (np.float32(1.0) / (np.float32(theta) ** exponent)).astype(np.float32)


class _Graph(GraphBuilder):
    """A small helper over onnx.helper: readable, unique tensor names and shared constants."""

    def __init__(self) -> None:
        super().__init__()
        self._used: set[str] = set()

    def _name(self, hint: str) -> str:
        name, n = hint, 1
        while name in self._used:
            n += 1
            name = f"{hint}_{n}"
        self._used.add(name)
        return name

    def weight(self, name: str, array: np.ndarray) -> str:
        name = self._name(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def const(self, value, dtype=np.int64) -> str:
        a = np.asarray(value, dtype=dtype)
        key = (a.dtype.str, a.shape, a.tobytes())
        if key not in self._consts:
            name = self._name(f"const_{len(self._consts)}")
            self.initializers.append(numpy_helper.from_array(a, name))
            self._consts[key] = name
        return self._consts[key]

    def op(self, op_type: str, inputs: Sequence[str], name: str, outputs: int = 1, **attrs):
        outs = [self._name(name if outputs == 1 else f"{name}.{k}") for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self._name("node/" + name), **attrs))
        return outs[0] if outputs == 1 else outs

    def output(self, tensor: str, name: str, elem_type: int, shape: list) -> None:
        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=self._name("node/" + name)))
        self._used.add(name)
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def input(self, name: str, elem_type: int, shape: list) -> str:
        self._used.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name


def build_llama_graph(
    config: LlamaConfig,
    weights: Mapping[str, np.ndarray],
    options: GraphOptions = GraphOptions(),
    graph_name: str = "llama",
    doc: str = "",
) -> onnx.ModelProto:
    """The decoder graph for ``config`` with ``weights`` (see the module doc)."""
    config.check()
    options.check()
    c = config
    encoder = c.bidirectional
    if encoder and not (options.attention_mask_input and not options.position_ids_input and not options.logits_to_keep):
        raise ValueError("an encoder graph takes attention_mask, computes its positions and has no logits")
    g = _Graph()
    H, KV, D = c.num_attention_heads, c.num_key_value_heads, c.head_dim
    group = H // KV
    kv_type = TensorProto.FLOAT16 if options.kv_dtype == "float16" else TensorProto.FLOAT

    def w(name: str) -> np.ndarray:
        if name not in weights:
            raise KeyError(f"missing weight {name}")
        return np.asarray(weights[name], dtype=np.float32)

    # ---- inputs ------------------------------------------------------------------------
    input_ids = g.input("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    attention_mask = None
    if options.attention_mask_input:
        attention_mask = g.input("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"])
    position_ids = None
    if options.position_ids_input:
        position_ids = g.input("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    keep = g.input("num_logits_to_keep", TensorProto.INT64, []) if options.logits_to_keep else None
    past = []
    for i in range(0 if encoder else c.num_hidden_layers):
        shape = ["batch_size", KV, "past_sequence_length", D]
        past.append((g.input(f"past_key_values.{i}.key", kv_type, shape), g.input(f"past_key_values.{i}.value", kv_type, shape)))

    # ---- lengths: S new tokens, T = past + S in total ---------------------------------
    seq_len = g.op("Shape", [input_ids], "seq_len", start=1, end=2)  # [1]
    if attention_mask is not None:
        total_len = g.op("Shape", [attention_mask], "total_len", start=1, end=2)  # [1]
        past_len = g.op("Sub", [total_len, seq_len], "past_len")  # [1]
    else:  # no padding: the cache's length says where the new tokens start
        past_len = g.op("Shape", [past[0][0]], "past_len", start=2, end=3)  # [1]
        total_len = g.op("Add", [past_len, seq_len], "total_len")  # [1]

    # ---- positions -> rotary cos/sin [B, 1, S, D] ---------------------------------------
    if position_ids is None:
        cumsum = g.op("CumSum", [attention_mask, g.const(1)], "mask_cumsum")
        from_mask = g.op("Add", [cumsum, g.const(options.position_offset - 1)], "positions_all")
        is_real = g.op("Cast", [attention_mask], "mask_bool", to=TensorProto.BOOL)
        from_mask = g.op("Where", [is_real, from_mask, g.const(1)], "positions_all_masked")
        neg_seq = g.op("Neg", [seq_len], "neg_seq_len")
        position_ids = g.op("Slice", [from_mask, neg_seq, g.const([np.iinfo(np.int64).max]), g.const([1])], "position_ids")
    rope_positions = position_ids
    if options.position_offset:  # rotate from 0 whatever the first id
        rope_positions = g.op("Sub", [position_ids, g.const(options.position_offset)], "positions_from_0")
    positions = g.op("Cast", [rope_positions], "positions_f32", to=TensorProto.FLOAT)
    positions = g.op("Unsqueeze", [positions, g.const([2])], "positions_3d")  # [B, S, 1]

    def rope_table(theta: float, name: str) -> tuple[str, str]:
        freqs = g.op("Mul", [positions, g.const(rope_inv_freq(D, theta), np.float32)], f"{name}_freqs")  # [B, S, D/2]
        angles = g.op("Concat", [freqs, freqs], f"{name}_angles", axis=-1)  # [B, S, D]
        cos = g.op("Unsqueeze", [g.op("Cos", [angles], f"{name}_cos_3d"), g.const([1])], f"{name}_cos")  # [B, 1, S, D]
        sin = g.op("Unsqueeze", [g.op("Sin", [angles], f"{name}_sin_3d"), g.const([1])], f"{name}_sin")
        return cos, sin

    rope_global = rope_table(c.rope_theta, "rope")
    rope_local = rope_table(c.rope_local_theta, "rope_local") if any(c.sliding_layers) else rope_global

    # ---- mask [B, 1, 1, S, T]: causal and not padding ------------------------------------
    total_scalar = g.op("Squeeze", [total_len, g.const([0])], "total_len_scalar")
    past_scalar = g.op("Squeeze", [past_len, g.const([0])], "past_len_scalar")
    key_pos = g.op("Range", [g.const(0), total_scalar, g.const(1)], "key_pos")  # [T]
    query_pos = g.op("Range", [past_scalar, total_scalar, g.const(1)], "query_pos")  # [S], absolute positions
    causal = g.op(
        "LessOrEqual",
        [g.op("Unsqueeze", [key_pos, g.const([0])], "key_pos_row"), g.op("Unsqueeze", [query_pos, g.const([1])], "query_pos_col")],
        "causal",
    )  # [S, T]
    if attention_mask is not None:
        not_pad = g.op("Unsqueeze", [g.op("Cast", [attention_mask], "attention_bool", to=TensorProto.BOOL), g.const([1])], "not_pad")  # [B, 1, T]
        # An encoder's query sees every key that is not padding.
        visible = not_pad if encoder else g.op("And", [causal, not_pad], "visible_3d")  # [B, S or 1, T]
    else:
        visible = g.op("Unsqueeze", [causal, g.const([0])], "visible_3d")  # [1, S, T]
    visible = g.op("Unsqueeze", [visible, g.const([1, 2])], "visible")  # [B, 1, 1, S, T]
    visible_local = visible
    if any(c.sliding_layers):
        # Sliding-window layers see the last `sliding_window` positions: query - key < window.
        distance = g.op("Sub", [g.op("Unsqueeze", [query_pos, g.const([1])], "query_pos_col_w"),
                                g.op("Unsqueeze", [key_pos, g.const([0])], "key_pos_row_w")], "query_key_distance")  # [S, T]
        if encoder:  # on both sides: |query - key| < window
            distance = g.op("Abs", [distance], "query_key_abs_distance")
        in_window = g.op("Less", [distance, g.const(c.sliding_window)], "in_window")
        visible_local = g.op("And", [visible, in_window], "visible_local")  # [B, 1, 1, S, T]

    # ---- helpers ------------------------------------------------------------------------
    def rms_norm(x: str, weight_name: str, name: str) -> str:
        sq = g.op("Mul", [x, x], f"{name}.sq")
        mean = g.op("ReduceMean", [sq], f"{name}.mean", axes=[-1], keepdims=1)
        inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [mean, g.const(c.rms_norm_eps, np.float32)], f"{name}.var_eps")], f"{name}.rms")], f"{name}.inv_rms")
        # Gemma scales by (1 + w), in fp32 as transformers does; folded into the weight.
        scale = w(weight_name) + np.float32(1.0) if c.gemma3 else w(weight_name)
        return g.op("Mul", [g.op("Mul", [x, inv], f"{name}.normed"), g.weight(weight_name, scale)], name)

    def activation(x: str, p: str) -> str:
        if not c.gemma3:  # SiLU
            return g.op("Mul", [x, g.op("Sigmoid", [x], f"{p}.gate_sigmoid")], f"{p}.silu")
        name = f"{p}.gelu"
        # GELU, tanh approximation (gelu_pytorch_tanh): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.op("Mul", [g.op("Mul", [x, x], f"{name}.sq"), x], f"{name}.cube")
        inner = g.op("Add", [x, g.op("Mul", [cube, g.const(0.044715, np.float32)], f"{name}.cube_scaled")], f"{name}.inner")
        t = g.op("Tanh", [g.op("Mul", [inner, g.const(np.sqrt(2.0 / np.pi), np.float32)], f"{name}.tanh_in")], f"{name}.tanh")
        half_x = g.op("Mul", [x, g.const(0.5, np.float32)], f"{name}.half_x")
        return g.op("Mul", [half_x, g.op("Add", [t, g.const(1.0, np.float32)], f"{name}.one_plus_tanh")], name)

    def linear(x: str, weight_name: str, name: str) -> str:
        # transformers stores [out, in]; MatMul wants [in, out]. A bias (Qwen2's q/k/v) when
        # the weights have one.
        bias_name = weight_name.removesuffix(".weight") + ".bias"
        if bias_name not in weights:
            return g.op("MatMul", [x, g.weight(weight_name, w(weight_name).T)], name)
        product = g.op("MatMul", [x, g.weight(weight_name, w(weight_name).T)], f"{name}.matmul")
        return g.op("Add", [product, g.weight(bias_name, w(bias_name))], name)

    def heads(x: str, n: int, name: str) -> str:
        # [B, S, n*D] -> [B, n, S, D]
        x = g.op("Reshape", [x, g.const([0, 0, n, D])], f"{name}.split")
        return g.op("Transpose", [x], name, perm=[0, 2, 1, 3])

    def rope(x: str, table: tuple[str, str], name: str) -> str:
        cos, sin = table
        x1, x2 = g.op("Split", [x, g.const([D // 2, D // 2])], f"{name}.half", outputs=2, axis=-1)
        rotated = g.op("Concat", [g.op("Neg", [x2], f"{name}.neg_x2"), x1], f"{name}.rotate_half", axis=-1)
        return g.op("Add", [g.op("Mul", [x, cos], f"{name}.cos"), g.op("Mul", [rotated, sin], f"{name}.sin")], name)

    def cache(past_value: str, new: str, name: str) -> tuple[str, str]:
        """(present in the cache dtype, the fp32 values attention reads)."""
        if kv_type == TensorProto.FLOAT:
            present = g.op("Concat", [past_value, new], name, axis=2)
            return present, present
        past32 = g.op("Cast", [past_value], f"{name}.past_f32", to=TensorProto.FLOAT)
        present = g.op("Cast", [g.op("Concat", [past32, new], f"{name}.f32", axis=2)], name, to=TensorProto.FLOAT16)
        return present, g.op("Cast", [present], f"{name}.rounded", to=TensorProto.FLOAT)

    # ---- decoder ------------------------------------------------------------------------
    embed = g.weight("model.embed_tokens.weight", w("model.embed_tokens.weight"))
    hidden = g.op("Gather", [embed, input_ids], "embeddings", axis=0)
    if c.gemma3:  # scaled by sqrt(width) in the embedding's dtype
        hidden = g.op("Mul", [hidden, g.const(np.float32(c.hidden_size**0.5), np.float32)], "embeddings_scaled")
    if options.absolute_positions:
        rows = g.op("Sub", [position_ids, g.const(options.position_offset)], "position_rows")
        table = g.weight("model.embed_positions.weight", w("model.embed_positions.weight"))
        hidden = g.op("Add", [hidden, g.op("Gather", [table, rows], "position_embeddings", axis=0)], "embeddings_with_positions")
    presents = []
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}"
        sliding = bool(c.sliding_layers) and c.sliding_layers[i]
        table = rope_local if sliding else rope_global
        x = rms_norm(hidden, f"{p}.input_layernorm.weight", f"{p}.input_layernorm")
        q = heads(linear(x, f"{p}.self_attn.q_proj.weight", f"{p}.q"), H, f"{p}.q_heads")  # [B, H, S, D]
        if c.gemma3:  # RMSNorm over each head, before the rotation
            q = rms_norm(q, f"{p}.self_attn.q_norm.weight", f"{p}.q_norm")
        q = rope(q, table, f"{p}.q_rope")
        k = heads(linear(x, f"{p}.self_attn.k_proj.weight", f"{p}.k"), KV, f"{p}.k_heads")  # [B, KV, S, D]
        if c.gemma3:
            k = rms_norm(k, f"{p}.self_attn.k_norm.weight", f"{p}.k_norm")
        k = rope(k, table, f"{p}.k_rope")
        v = heads(linear(x, f"{p}.self_attn.v_proj.weight", f"{p}.v"), KV, f"{p}.v_heads")
        if encoder:
            k_all, v_all = k, v
        else:
            present_k, k_all = cache(past[i][0], k, f"{p}.present_key")  # [B, KV, T, D]
            present_v, v_all = cache(past[i][1], v, f"{p}.present_value")
            presents.append((present_k, present_v))

        # Grouped-query attention by broadcasting: q [B, KV, G, S, D] x k [B, KV, 1, D, T].
        q5 = g.op("Reshape", [q, g.const([0, KV, group, -1, D])], f"{p}.q_groups")
        k5 = g.op("Transpose", [g.op("Unsqueeze", [k_all, g.const([2])], f"{p}.k_groups")], f"{p}.k_t", perm=[0, 1, 2, 4, 3])
        v5 = g.op("Unsqueeze", [v_all, g.const([2])], f"{p}.v_groups")
        scale = (c.query_pre_attn_scalar or D) ** -0.5
        scores = g.op("Mul", [g.op("MatMul", [q5, k5], f"{p}.qk"), g.const(scale, np.float32)], f"{p}.scores")  # [B, KV, G, S, T]
        scores = g.op("Where", [visible_local if sliding else visible, scores, g.const(FLOAT32_MIN, np.float32)], f"{p}.masked_scores")
        probs = g.op("Softmax", [scores], f"{p}.probs", axis=-1)
        attn = g.op("MatMul", [probs, v5], f"{p}.attn_groups")  # [B, KV, G, S, D]
        attn = g.op("Transpose", [g.op("Reshape", [attn, g.const([0, H, -1, D])], f"{p}.attn_heads")], f"{p}.attn_bshd", perm=[0, 2, 1, 3])
        attn = g.op("Reshape", [attn, g.const([0, 0, H * D])], f"{p}.attn")
        attn = linear(attn, f"{p}.self_attn.o_proj.weight", f"{p}.o")
        if c.gemma3:  # Gemma normalizes each branch's output too
            attn = rms_norm(attn, f"{p}.post_attention_layernorm.weight", f"{p}.post_attention_layernorm")
        hidden = g.op("Add", [hidden, attn], f"{p}.after_attn")

        mlp_norm = "pre_feedforward_layernorm" if c.gemma3 else "post_attention_layernorm"
        x = rms_norm(hidden, f"{p}.{mlp_norm}.weight", f"{p}.{mlp_norm}")
        gate = linear(x, f"{p}.mlp.gate_proj.weight", f"{p}.gate")
        act = activation(gate, p)
        up = linear(x, f"{p}.mlp.up_proj.weight", f"{p}.up")
        down = linear(g.op("Mul", [act, up], f"{p}.gated"), f"{p}.mlp.down_proj.weight", f"{p}.down")
        if c.gemma3:
            down = rms_norm(down, f"{p}.post_feedforward_layernorm.weight", f"{p}.post_feedforward_layernorm")
        hidden = g.op("Add", [hidden, down], f"{p}.out")

    if encoder:
        hidden = rms_norm(hidden, "model.norm.weight", "model.norm")
        g.output(hidden, "last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", c.hidden_size])
        return g.finish(graph_name, [helper.make_opsetid("", OPSET)], doc)

    if keep is not None:  # the last num_logits_to_keep positions [B, keep, hidden]
        keep_start = g.op("Neg", [g.op("Unsqueeze", [keep, g.const([0])], "keep_1d")], "keep_start")
        hidden = g.op("Slice", [hidden, keep_start, g.const([np.iinfo(np.int64).max]), g.const([1])], "kept_hidden")
    hidden = rms_norm(hidden, "model.norm.weight", "model.norm")
    # lm_head as Gemm(transB) on [B*S, hidden]: a tied head reads the embedding matrix
    # as it is (no transposed copy in the file or in memory).
    head = embed if c.tie_word_embeddings else g.weight("lm_head.weight", w("lm_head.weight"))
    flat = g.op("Reshape", [hidden, g.const([-1, c.hidden_size])], "hidden_flat")
    logits = g.op("Gemm", [flat, head], "logits_flat", transB=1)
    if keep is None:
        rows = g.op("Shape", [input_ids], "ids_shape")  # [B, S]
    else:
        rows = g.op("Shape", [hidden], "kept_shape", start=0, end=2)  # [B, keep]
    logits_shape = g.op("Concat", [rows, g.const([c.vocab_size])], "logits_shape", axis=0)
    logits = g.op("Reshape", [logits, logits_shape], "logits_3d")

    # ---- outputs ------------------------------------------------------------------------
    rows_dim = "num_logits_to_keep" if keep is not None else "sequence_length"
    g.output(logits, "logits", TensorProto.FLOAT, ["batch_size", rows_dim, c.vocab_size])
    for i, (pk, pv) in enumerate(presents):
        shape = ["batch_size", KV, "total_sequence_length", D]
        g.output(pk, f"present.{i}.key", kv_type, shape)
        g.output(pv, f"present.{i}.value", kv_type, shape)

    model = g.finish(graph_name, [helper.make_opsetid("", OPSET)], doc)
    return model
