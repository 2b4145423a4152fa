#!/usr/bin/env python3
"""Build a *fused* llama decoder graph (ONNX Runtime contrib ops) from numpy weights.

Same interface as ``decoder.py`` (the Optimum / transformers.js layout), so the
runtime runs it unchanged::

  inputs   input_ids                    int64 [batch_size, sequence_length]
           attention_mask               int64 [batch_size, total_sequence_length]
           num_logits_to_keep           int64 scalar: logits of this many last positions
           past_key_values.{i}.key      f32 [batch_size, num_kv_heads, past_sequence_length, head_dim]
           past_key_values.{i}.value    (same)
  outputs  logits                       f32 [batch_size, num_logits_to_keep, vocab_size]
           present.{i}.key / .value     f32 [batch_size, num_kv_heads, total_sequence_length, head_dim]

Differences from ``decoder.py``:

* ``logits`` holds the last ``num_logits_to_keep`` positions only (a Slice of the last
  hidden rows before the lm_head, as transformers' ``logits_to_keep``): a prefill of 100
  tokens computes one 49152-wide row, not 100, and a speculative step verifying 8 draft
  tokens computes 9.
* No ``position_ids`` input: positions come from the KV cache length (GroupQueryAttention
  derives them from ``seqlens_k``), i.e. the attention mask must be all ones with
  no padding inside (batch 1, or right-aligned rows; left padding is not supported).
* Contrib ops (domain ``com.microsoft``, ONNX Runtime >= 1.20 CPU):
  ``SimplifiedLayerNormalization`` / ``SkipSimplifiedLayerNormalization`` (RMSNorm and
  the residual add in one node), ``GroupQueryAttention`` with packed QKV and its
  built-in rotary embedding (``do_rotary=1``, half-rotation layout, cos/sin caches of
  ``max_position_embeddings`` rows), ``QuickGelu(alpha=1)`` (= SiLU) for the MLP gate,
  and for the 4-bit variant ``MatMulNBits`` / ``GatherBlockQuantized``.
  ``seqlens_k = ReduceSum(attention_mask) - 1`` (int32) and
  ``total_sequence_length = Shape(attention_mask)[1]`` (int32) are computed in the graph,
  each one larger with the spare attention row (below).
* q/k/v projections are one packed MatMul, gate/up another.

Per layer (fp32): SkipSimplifiedLayerNormalization, MatMul(qkv), GroupQueryAttention,
MatMul(o), SkipSimplifiedLayerNormalization, MatMul(gate|up), Split, QuickGelu, Mul,
MatMul(down): 10 nodes, 13 with the spare attention row (below). SmolLM2-135M (30 layers):
405 nodes.

Gemma 3 (``LlamaConfig.gemma3``, the math of decoder.py's module doc): the embeddings are
multiplied by sqrt(width); every norm weight is ``1 + w``; q, k and v leave the packed
MatMul through a Split so that q and k can be RMS-normed per head
(``SimplifiedLayerNormalization`` over ``[B, S, heads, D]``) before GroupQueryAttention
rotates them; GroupQueryAttention gets ``scale = query_pre_attn_scalar ** -0.5`` and, on
the sliding layers, ``local_window_size = sliding_window`` and rotary caches of
``rope_local_base_freq``; the attention and MLP outputs are RMS-normed before their
residual adds (``post_attention_layernorm``, ``post_feedforward_layernorm``), the MLP input
by ``pre_feedforward_layernorm``; the gate is ``FastGelu`` (GELU, tanh approximation).

4-bit variant (``quant=`` GGUF blocks): every linear weight that is Q4_1 in the GGUF
keeps its blocks exactly. Q4_1 dequantizes as ``w = d*q + m`` (q in 0..15, 32 per
block); MatMulNBits as ``w = scale*(q - zp)``. ORT 1.31 accepts float zero points
(``zp = -m/d``) but then skips its packed kernels and dequantizes the whole matrix at
every call (measured 25-40x slower per MatMul), and 4-bit integer zero points cannot
hold ``-m/d``. So the graph splits the two terms, exactly:

    x @ W^T = MatMulNBits(x; q, scale=d)  +  (x @ E) @ M'^T,   M' = m + 8d

MatMulNBits without a zero-point input uses 8 (``d*(q - 8)``, its fastest symmetric
kernel), which the shifted minimum ``m + 8d`` makes up for; ``m`` and ``d`` are fp16
values, the fp32 sum is exact, and the builder asserts it for every block.
``E`` [K, K/32] sums each block of 32 inputs, ``M'`` [N, K/32] holds the shifted minimums.
Two tiny fp32 MatMuls and an Add per linear group (4 groups per layer), 25 nodes per
layer with the spare attention row, 761 for SmolLM2.
The tied Q8_0 token embedding (``w = d*q``, q int8) becomes ``GatherBlockQuantized``
(8 bits, uint8 ``q + 128``, zero point 128) for the input side and an 8-bit
``MatMulNBits`` over the same blocks (default zero point 128) for the lm_head: also
exact. Norm weights (F32 in the GGUF) stay fp32. ``accuracy_level`` 4 (int8 activations
inside MatMulNBits, as llama.cpp quantizes activations to Q8 for its Q4_1 dot products)
is the default.

Spare attention row: every GroupQueryAttention gets the pass's last position twice (its
q/k/v row appended once more; ``seqlens_k`` and ``total_sequence_length`` one larger) and
the extra output row is sliced off. ONNX Runtime computes attention for a one-row pass
through other kernels than for two or more rows (last-bit differences that int8
activations carry into the logits: scripts/check_row_independence.py); with the spare row
attention never sees one row, and a one-position pass gives every position the bits of
any longer pass, so prompt lookup's drafts cannot change greedy output while plain decode
steps stay one position (the matmuls, which run the pass's own rows, agree for one row and
many). The spare row's key and value land one position past the cache and are
overwritten by the next pass; the runtime reserves that position. Metadata:
``attention_spare_row = 1``. 3 nodes per layer.

The model's metadata carries ``past_present_share_buffer = 1``: GroupQueryAttention
reads the past and writes the present in the same buffer when both are bound to it, so
the runtime preallocates the KV cache and the graph extends it in place.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .graph import GraphBuilder

from .decoder import LlamaConfig, rope_inv_freq
from .quant import Q4_1, Q8_0, Blocks, pack_nbits, q8_0_as_blocks, shifted_minimum

OPSET = 17
MS_OPSET = 1
MS = "com.microsoft"


class _Graph(GraphBuilder):
    def __init__(self) -> None:
        super().__init__()
        self._n = 0

    def init(self, name: str, array: np.ndarray) -> str:
        array = np.asarray(array)
        self.initializers.append(numpy_helper.from_array(array if array.ndim == 0 else np.ascontiguousarray(array), name))
        return name

    def const(self, value, dtype=np.int64) -> str:
        a = np.asarray(value, dtype=dtype)
        key = (a.dtype.str, a.shape, a.tobytes())
        if key not in self._consts:
            self._consts[key] = self.init(f"const_{len(self._consts)}", a)
        return self._consts[key]

    def op(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | str, domain: str = "", **attrs):
        outs = [outputs] if isinstance(outputs, str) else list(outputs)
        self._n += 1
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=f"{op_type}_{self._n}", domain=domain or None, **attrs))
        return outs[0] if isinstance(outputs, str) else outs


def build_fused_llama_graph(
    config: LlamaConfig,
    weights: Mapping[str, np.ndarray],
    quant: Optional[Mapping[str, object]] = None,
    max_positions: int = 8192,
    accuracy_level: int = 4,
    exact_minimum: bool = True,
    symmetric: bool = True,
    spare_row: bool = True,
    graph_name: str = "llama_fused",
    doc: str = "",
) -> onnx.ModelProto:
    """The fused decoder graph.

    ``weights``: transformers names and layouts, fp32 (norms always come from here).
    ``quant``: optional, same names -> ``Q4_1`` / ``Q8_0`` (rows already in transformers'
    order). Linear weights found there become MatMulNBits (4-bit, exact Q4_1 as the
    module doc explains); a ``Q8_0`` ``model.embed_tokens.weight`` becomes
    GatherBlockQuantized + an 8-bit MatMulNBits lm_head. Everything else is fp32.
    ``spare_row``: attention always holds one row more than the pass (module doc).
    """
    config.check()
    c = config
    g = _Graph()
    H, KV, D, hid = c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.hidden_size
    quant = dict(quant or {})
    eps = float(np.float32(c.rms_norm_eps))

    def w(name: str) -> np.ndarray:
        if name not in weights:
            raise KeyError(f"missing weight {name}")
        return np.asarray(weights[name], dtype=np.float32)

    # ---- inputs
    g.inputs.append(helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]))
    g.inputs.append(helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]))
    g.inputs.append(helper.make_tensor_value_info("num_logits_to_keep", TensorProto.INT64, []))
    for i in range(c.num_hidden_layers):
        for kv in ("key", "value"):
            g.inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kv}", TensorProto.FLOAT, ["batch_size", KV, "past_sequence_length", D]))

    # ---- seqlens_k / total_sequence_length for GroupQueryAttention (int32)
    # With the spare row (module doc) attention sees one position more than the mask.
    mask_sum = g.op("ReduceSum", ["attention_mask", g.const([1])], "mask_sum", keepdims=0)
    seqlens64 = mask_sum if spare_row else g.op("Sub", [mask_sum, g.const(1)], "seqlens_k_i64")
    seqlens_k = g.op("Cast", [seqlens64], "seqlens_k", to=TensorProto.INT32)
    mask_shape = g.op("Shape", ["attention_mask"], "mask_shape", start=1, end=2)
    if spare_row:
        mask_shape = g.op("Add", [mask_shape, g.const([1])], "attention_length")
    total_len = g.op("Cast", [mask_shape], "total_sequence_length", to=TensorProto.INT32)

    # ---- rotary caches [max_positions, D/2] (transformers: fp32 angle = position * inv_freq)
    def rotary_caches(theta: float, prefix: str) -> tuple[str, str]:
        inv_freq = rope_inv_freq(D, theta)
        angles = np.arange(max_positions, dtype=np.float32)[:, None] * inv_freq[None, :]
        return (g.init(f"{prefix}cos_cache", np.cos(angles.astype(np.float64)).astype(np.float32)),
                g.init(f"{prefix}sin_cache", np.sin(angles.astype(np.float64)).astype(np.float32)))

    global_rotary = rotary_caches(c.rope_theta, "")
    # Gemma 3's sliding-window layers rotate with their own base.
    local_rotary = rotary_caches(c.rope_local_theta, "local_") if any(c.sliding_layers) else global_rotary

    def norm_weight(name: str) -> np.ndarray:
        # Gemma scales by (1 + w), in fp32 as transformers does: folded into the weight.
        return w(name) + np.float32(1.0) if c.gemma3 else w(name)

    # ---- linear layers
    block_sum: dict[int, str] = {}

    def linear(x: str, names: Sequence[str], out: str) -> str:
        """x @ concat(W_names)^T, fp32 MatMul or exact 4-bit MatMulNBits + min term."""
        qs = [quant.get(n) for n in names]
        if all(isinstance(q, Q4_1) for q in qs):
            q = np.concatenate([q.q for q in qs]) if len(qs) > 1 else qs[0].q
            d = np.concatenate([q.d for q in qs]) if len(qs) > 1 else qs[0].d
            m = np.concatenate([q.m for q in qs]) if len(qs) > 1 else qs[0].m
            n, k = q.shape
            nb = k // 32
            b = g.init(f"{out}.q4", pack_nbits(q, 4))
            s = g.init(f"{out}.scales", d.reshape(-1))
            if not exact_minimum:
                # Approximation (not Q4_1-exact): the block minimum rounded to a 4-bit zero
                # point, w ~ d*(q - round(-m/d)); no extra nodes.
                z = np.clip(np.rint(-m / np.where(d == 0, 1, d)), 0, 15).astype(np.uint8)
                z = np.concatenate([z, np.zeros((n, nb % 2), np.uint8)], axis=1)
                zp = g.init(f"{out}.zp", z[:, 0::2] | (z[:, 1::2] << 4))
                return g.op("MatMulNBits", [x, b, s, zp], out, domain=MS, K=k, N=n, bits=4, block_size=32,
                            accuracy_level=accuracy_level)
            if symmetric:
                # No zero points (MatMulNBits' default, 8): w = d*(q - 8) + (m + 8d).
                m = shifted_minimum(m, d)
                main = g.op("MatMulNBits", [x, b, s], f"{out}.qd", domain=MS, K=k, N=n, bits=4, block_size=32,
                            accuracy_level=accuracy_level)
            else:
                zp = g.init(f"{out}.zp", np.zeros((n, (nb + 1) // 2), np.uint8))
                main = g.op("MatMulNBits", [x, b, s, zp], f"{out}.qd", domain=MS, K=k, N=n, bits=4, block_size=32,
                            accuracy_level=accuracy_level)
            if k not in block_sum:
                e = np.zeros((k, nb), np.float32)
                e[np.arange(k), np.arange(k) // 32] = 1.0
                block_sum[k] = g.init(f"block_sum_{k}", e)
            xs = g.op("MatMul", [x, block_sum[k]], f"{out}.xsum")
            mins = g.op("MatMul", [xs, g.init(f"{out}.mins_t", m.T)], f"{out}.min_term")
            return g.op("Add", [main, mins], out)
        if all(isinstance(q, (Blocks, Q8_0)) for q in qs):
            return blocks_linear(x, [q8_0_as_blocks(q) if isinstance(q, Q8_0) else q for q in qs], out)
        if any(q is not None for q in qs):
            raise ValueError(f"mixed quantization in {names}")
        wt = np.concatenate([w(n) for n in names]) if len(names) > 1 else w(names[0])
        return g.op("MatMul", [x, g.init(f"{out}.weight_t", wt.T)], out)

    def blocks_linear(x: str, bs: list[Blocks], out: str) -> str:
        """x @ concat(bs)^T with every block kept exactly: one MatMulNBits (zero points where
        the blocks have them) plus, for blocks with a minimum, the block-minimum term."""
        if any((b.bits, b.block) != (bs[0].bits, bs[0].block) for b in bs):
            # e.g. a Q6_K v_proj beside Q5_0 q/k: one MatMulNBits each.
            parts = [blocks_linear(x, [b], f"{out}.part{j}") for j, b in enumerate(bs)]
            return g.op("Concat", parts, out, axis=-1)
        bits, block = bs[0].bits, bs[0].block
        cat = (lambda arrays: np.concatenate(arrays)) if len(bs) > 1 else (lambda arrays: arrays[0])
        q, scale = cat([b.q for b in bs]), cat([b.scale for b in bs])
        zero = None if all(b.zero is None for b in bs) else cat([b.zeros() for b in bs])
        minimum = None
        if any(b.minimum is not None for b in bs):
            minimum = cat([np.zeros_like(b.scale) if b.minimum is None else b.minimum for b in bs])
        if bits == 4 and minimum is not None and zero is not None and not zero.any():
            # As for Q4_1: the default zero point 8 (the fast symmetric kernel) and the
            # minimum shifted by 8*scale, when that sum is exact in fp32 for every block.
            try:
                minimum, zero = shifted_minimum(minimum, scale), None
            except ValueError:
                pass
        n, k = q.shape
        inputs = [x, g.init(f"{out}.q{bits}", pack_nbits(q, bits, block)), g.init(f"{out}.scales", scale.reshape(-1))]
        if zero is not None:
            if bits == 4:
                zero = np.concatenate([zero, np.zeros((n, zero.shape[1] % 2), np.uint8)], axis=1)
                zero = zero[:, 0::2] | (zero[:, 1::2] << 4)
            inputs.append(g.init(f"{out}.zp", np.ascontiguousarray(zero).reshape(-1)))
        main = g.op("MatMulNBits", inputs, out if minimum is None else f"{out}.qd", domain=MS, K=k, N=n, bits=bits,
                    block_size=block, accuracy_level=accuracy_level)
        if minimum is None:
            return main
        if (k, block) not in block_sum:
            e = np.zeros((k, k // block), np.float32)
            e[np.arange(k), np.arange(k) // block] = 1.0
            block_sum[(k, block)] = g.init(f"block_sum_{k}_{block}", e)
        xs = g.op("MatMul", [x, block_sum[(k, block)]], f"{out}.xsum")
        mins = g.op("MatMul", [xs, g.init(f"{out}.mins_t", minimum.T)], f"{out}.min_term")
        return g.op("Add", [main, mins], out)

    # ---- embeddings
    emb_q = quant.get("model.embed_tokens.weight")
    if isinstance(emb_q, Q8_0):
        vocab, _ = emb_q.q.shape
        codes = (emb_q.q.astype(np.int16) + 128).astype(np.uint8)
        emb_data = g.init("embed.q8", codes)
        emb_scales = g.init("embed.scales", emb_q.d)
        hidden = g.op("GatherBlockQuantized", [emb_data, "input_ids", emb_scales], "embeds", domain=MS,
                      bits=8, block_size=32, gather_axis=0, quantize_axis=1)
    elif isinstance(emb_q, Blocks) and emb_q.minimum is None and emb_q.bits == 8:
        # e.g. Qwen2.5's Q5_0 embedding: 8-bit codes with their zero points, exact.
        hidden = g.op("GatherBlockQuantized", [g.init("embed.q8", emb_q.q), "input_ids", g.init("embed.scales", emb_q.scale),
                                               g.init("embed.zp", emb_q.zeros())], "embeds", domain=MS,
                      bits=8, block_size=emb_q.block, gather_axis=0, quantize_axis=1)
    else:
        emb = w("model.embed_tokens.weight")
        emb_name = g.init("model.embed_tokens.weight", emb)
        hidden = g.op("Gather", [emb_name, "input_ids"], "embeds")
    if c.gemma3:  # scaled by sqrt(width) in the embedding's dtype (fp32)
        hidden = g.op("Mul", [hidden, g.const(np.float32(hid**0.5), np.float32)], "embeds_scaled")

    def head_norm(x: str, heads: int, weight_name: str, out: str) -> str:
        """Gemma 3's q/k norm: RMSNorm over each head of [B, S, heads * D]."""
        split = g.op("Reshape", [x, g.const([0, 0, heads, D])], f"{out}.heads")
        normed = g.op("SimplifiedLayerNormalization", [split, g.init(f"{out}.weight", norm_weight(weight_name))],
                      f"{out}.normed", axis=-1, epsilon=eps, stash_type=1)
        return g.op("Reshape", [normed, g.const([0, 0, heads * D])], out)

    def rms(x: str, weight_name: str, out: str) -> str:
        return g.op("SimplifiedLayerNormalization", [x, g.init(f"{out}.weight", norm_weight(weight_name))], out,
                    axis=-1, epsilon=eps, stash_type=1)

    residual = hidden
    pending: Optional[str] = None  # output of the previous block, not yet added to the residual
    for i in range(c.num_hidden_layers):
        p = f"layers.{i}"
        ln1 = g.init(f"{p}.input_layernorm.weight", norm_weight(f"model.layers.{i}.input_layernorm.weight"))
        if pending is None:
            normed = g.op("SimplifiedLayerNormalization", [residual, ln1], f"{p}.ln1", axis=-1, epsilon=eps,
                          stash_type=1)
        else:
            normed, _, _, residual = g.op("SkipSimplifiedLayerNormalization", [pending, residual, ln1],
                                          [f"{p}.ln1", "", "", f"{p}.residual1"], domain=MS, epsilon=eps)
        qkv_names = [f"model.layers.{i}.self_attn.{x}_proj.weight" for x in "qkv"]
        qkv = linear(normed, qkv_names, f"{p}.qkv")
        biases = [n.removesuffix(".weight") + ".bias" for n in qkv_names]
        if any(b in weights for b in biases):  # Qwen2: q/k/v biases, packed like the weights
            qkv = g.op("Add", [qkv, g.init(f"{p}.qkv.bias", np.concatenate([w(b) for b in biases]))], f"{p}.qkv_biased")
        if spare_row:  # the last position again, after the pass's own (module doc)
            last_qkv = g.op("Slice", [qkv, g.const([-1]), g.const([np.iinfo(np.int64).max]), g.const([1])], f"{p}.qkv_last")
            qkv = g.op("Concat", [qkv, last_qkv], f"{p}.qkv_spare", axis=1)
        sliding = bool(c.sliding_layers) and c.sliding_layers[i]
        cos_cache, sin_cache = local_rotary if sliding else global_rotary
        attention_inputs = [qkv, "", ""]
        gqa_attrs = {}
        if c.gemma3:
            # q/k are normed per head before GroupQueryAttention rotates them, so they go in
            # apart from v; the scale and the window are attributes.
            q, k, v = g.op("Split", [qkv, g.const([H * D, KV * D, KV * D])], [f"{p}.q", f"{p}.k", f"{p}.v"], axis=-1)
            attention_inputs = [head_norm(q, H, f"model.layers.{i}.self_attn.q_norm.weight", f"{p}.q_norm"),
                                head_norm(k, KV, f"model.layers.{i}.self_attn.k_norm.weight", f"{p}.k_norm"), v]
            gqa_attrs = dict(scale=float(np.float32((c.query_pre_attn_scalar or D) ** -0.5)),
                             local_window_size=c.sliding_window if sliding else -1)
        attn, _, _ = g.op("GroupQueryAttention",
                          attention_inputs + [f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total_len,
                                              cos_cache, sin_cache],
                          [f"{p}.attn_spare" if spare_row else f"{p}.attn", f"present.{i}.key", f"present.{i}.value"],
                          domain=MS, num_heads=H, kv_num_heads=KV, do_rotary=1, rotary_interleaved=0, **gqa_attrs)
        if spare_row:
            attn = g.op("Slice", [attn, g.const([0]), g.const([-1]), g.const([1])], f"{p}.attn")
        o = linear(attn, [f"model.layers.{i}.self_attn.o_proj.weight"], f"{p}.o_proj")
        mlp_norm = "post_attention_layernorm"
        if c.gemma3:  # the attention branch is normed before its residual add
            o = rms(o, f"model.layers.{i}.post_attention_layernorm.weight", f"{p}.post_attention_norm")
            mlp_norm = "pre_feedforward_layernorm"
        ln2 = g.init(f"{p}.{mlp_norm}.weight", norm_weight(f"model.layers.{i}.{mlp_norm}.weight"))
        normed2, _, _, residual = g.op("SkipSimplifiedLayerNormalization", [o, residual, ln2],
                                       [f"{p}.ln2", "", "", f"{p}.residual2"], domain=MS, epsilon=eps)
        gu = linear(normed2, [f"model.layers.{i}.mlp.gate_proj.weight", f"model.layers.{i}.mlp.up_proj.weight"], f"{p}.gate_up")
        gate, up = g.op("Split", [gu, g.const([c.intermediate_size, c.intermediate_size])], [f"{p}.gate", f"{p}.up"], axis=-1)
        if c.gemma3:  # GELU, tanh approximation (FastGelu is exactly that)
            act = g.op("FastGelu", [gate], f"{p}.gelu", domain=MS)
        else:
            act = g.op("QuickGelu", [gate], f"{p}.silu", domain=MS, alpha=1.0)
        prod = g.op("Mul", [act, up], f"{p}.geglu" if c.gemma3 else f"{p}.swiglu")
        pending = linear(prod, [f"model.layers.{i}.mlp.down_proj.weight"], f"{p}.down")
        if c.gemma3:  # and so is the MLP branch
            pending = rms(pending, f"model.layers.{i}.post_feedforward_layernorm.weight", f"{p}.post_feedforward_norm")

    final_w = g.init("model.norm.weight", norm_weight("model.norm.weight"))
    # The residual sum output is not needed after the last layer.
    final = g.op("SkipSimplifiedLayerNormalization", [pending, residual, final_w], "final_norm", domain=MS, epsilon=eps)
    lm_name = "model.embed_tokens.weight" if c.tie_word_embeddings else "lm_head.weight"
    lm_q = quant.get(lm_name)
    # The last num_logits_to_keep rows [B, keep, hidden].
    keep_start = g.op("Neg", [g.op("Unsqueeze", ["num_logits_to_keep", g.const([0])], "keep_1d")], "keep_start")
    last = g.op("Slice", [final, keep_start, g.const([np.iinfo(np.int64).max]), g.const([1])], "last_hidden")
    if lm_q is None and c.tie_word_embeddings and emb_q is None:
        # fp32, tied: Gemm(transB=1) on the embedding matrix itself (stored once) over the
        # rows flattened to [B * keep, hidden], then back to [B, keep, vocab].
        flat = g.op("Reshape", [last, g.const([-1, c.hidden_size])], "last_hidden_2d")
        logits2d = g.op("Gemm", [flat, emb_name], "logits_2d", transB=1)
        rows_shape = g.op("Shape", [last], "last_hidden_shape", start=0, end=2)
        logits_shape = g.op("Concat", [rows_shape, g.const([c.vocab_size])], "logits_shape", axis=0)
        g.op("Reshape", [logits2d, logits_shape], "logits")
    else:
        if isinstance(lm_q, Q8_0):
            # The Q8_0 blocks as 8-bit MatMulNBits: uint8 codes q + 128, zero point 128.
            n, k = lm_q.q.shape
            codes = (lm_q.q.astype(np.int16) + 128).astype(np.uint8)
            b = g.init("lm_head.q8", pack_nbits(codes, 8))
            s = g.init("lm_head.scales", lm_q.d.reshape(-1))
            # 128 is MatMulNBits' default 8-bit zero point: no zero-point input needed.
            g.op("MatMulNBits", [last, b, s], "logits", domain=MS, K=k, N=n, bits=8, block_size=32,
                 accuracy_level=accuracy_level)
        elif isinstance(lm_q, (Q4_1, Blocks)):
            linear(last, [lm_name], "logits")
        else:
            g.op("MatMul", [last, g.init("lm_head.weight_t", w(lm_name).T)], "logits")

    g.outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "num_logits_to_keep", c.vocab_size]))
    for i in range(c.num_hidden_layers):
        for kv in ("key", "value"):
            g.outputs.append(helper.make_tensor_value_info(f"present.{i}.{kv}", TensorProto.FLOAT, ["batch_size", KV, "total_sequence_length", D]))

    model = g.finish(graph_name, [helper.make_opsetid("", OPSET), helper.make_opsetid(MS, MS_OPSET)], doc)
    # GroupQueryAttention reads past and writes present in one buffer when both are bound
    # to it: the runtime then preallocates the cache instead of copying it every step.
    props = {"past_present_share_buffer": "1"}
    if spare_row:
        props["attention_spare_row"] = "1"
    helper.set_model_props(model, props)
    return model
