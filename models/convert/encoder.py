"""Graph writer for encoders (nomic-bert): a bidirectional BERT-style encoder with rotary
positions, from numpy weights in the family's names.

Interface (the Optimum / sentence-transformers ``onnx/`` exports', what the runtime reads):

  inputs   input_ids          int64 [batch_size, sequence_length]
           attention_mask     int64 [batch_size, sequence_length]
           token_type_ids     int64 [batch_size, sequence_length]
  output   last_hidden_state  f32 [batch_size, sequence_length, hidden]

Pooling and normalization stay outside (sentence-transformers' modules, done by the runtime).

The math is nomic's ``NomicBertModel`` (post-norm, no linear biases), in fp32:

  h = LayerNorm(word[input_ids] + token_type[token_type_ids])
  per layer:  q, k, v = split(h @ Wqkv^T);  q, k rotated (rotate_half, positions 0..S-1,
              inv_freq = base ** -(arange(0, d, 2) / d));
              a = softmax(q k^T / sqrt(d), keys with attention_mask 0 hidden) v
              h = LayerNorm(h + a @ Wo^T)
              h = LayerNorm(h + (fc11(h) * silu(fc12(h))) @ fc2^T)       (SwiGLU)

Opset 17, standard ONNX ops only (LayerNormalization is in opset 17).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper

from .decoder import OPSET, FLOAT32_MIN, _Graph, rope_inv_freq


def build_nomic_bert_graph(config: Mapping, weights: Mapping[str, np.ndarray], graph_name: str, doc: str) -> onnx.ModelProto:
    hidden, heads = int(config["n_embd"]), int(config["n_head"])
    head_dim = hidden // heads
    if float(config.get("rotary_emb_fraction", 1.0)) != 1.0 or config.get("rotary_emb_interleaved"):
        raise ValueError("nomic-bert: only full, non-interleaved rotary embeddings are supported")
    eps = float(config["layer_norm_epsilon"])
    g = _Graph()

    def w(name: str) -> str:
        if name not in weights:
            raise KeyError(f"missing weight {name}")
        return g.weight(name, weights[name])

    def linear(x: str, name: str) -> str:  # x @ W^T, W stored [out, in]
        return g.op("MatMul", [x, g.weight(name + ".T", np.asarray(weights[name], dtype=np.float32).T)], name)

    def layer_norm(x: str, prefix: str) -> str:
        return g.op("LayerNormalization", [x, w(prefix + ".weight"), w(prefix + ".bias")], prefix, axis=-1, epsilon=eps)

    input_ids = g.input("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    attention_mask = g.input("attention_mask", TensorProto.INT64, ["batch_size", "sequence_length"])
    token_type_ids = g.input("token_type_ids", TensorProto.INT64, ["batch_size", "sequence_length"])

    words = g.op("Gather", [w("embeddings.word_embeddings.weight"), input_ids], "word_embeddings")
    types = g.op("Gather", [w("embeddings.token_type_embeddings.weight"), token_type_ids], "token_type_embeddings")
    h = layer_norm(g.op("Add", [words, types], "embeddings"), "emb_ln")

    # Rotary tables [1, 1, S, D] for positions 0..S-1.
    seq_len = g.op("Squeeze", [g.op("Shape", [input_ids], "seq_len_1d", start=1, end=2), g.const([0])], "seq_len")
    positions = g.op("Cast", [g.op("Range", [g.const(0), seq_len, g.const(1)], "positions")], "positions_f32",
                     to=TensorProto.FLOAT)
    freqs = g.op("Mul", [g.op("Unsqueeze", [positions, g.const([1])], "positions_col"),
                         g.const(rope_inv_freq(head_dim, float(config["rotary_emb_base"])), np.float32)], "rope_freqs")
    angles = g.op("Concat", [freqs, freqs], "rope_angles", axis=-1)  # [S, D]
    cos = g.op("Unsqueeze", [g.op("Cos", [angles], "rope_cos_2d"), g.const([0, 1])], "rope_cos")
    sin = g.op("Unsqueeze", [g.op("Sin", [angles], "rope_sin_2d"), g.const([0, 1])], "rope_sin")

    def rotate(x: str, name: str) -> str:  # x * cos + rotate_half(x) * sin
        x1, x2 = g.op("Split", [x, g.const([head_dim // 2, head_dim // 2])], f"{name}_halves", outputs=2, axis=-1)
        rotated = g.op("Concat", [g.op("Neg", [x2], f"{name}_neg"), x1], f"{name}_rot", axis=-1)
        return g.op("Add", [g.op("Mul", [x, cos], f"{name}_cos"), g.op("Mul", [rotated, sin], f"{name}_sin")], name)

    # Padding keys hidden: float32 min where attention_mask is 0 ([B, 1, 1, S], added).
    visible = g.op("Cast", [attention_mask], "mask_bool", to=TensorProto.BOOL)
    bias = g.op("Where", [visible, g.const(0.0, np.float32), g.const(FLOAT32_MIN, np.float32)], "mask_bias_2d")
    bias = g.op("Unsqueeze", [bias, g.const([1, 2])], "mask_bias")
    split_heads = g.const([0, 0, heads, head_dim])
    scale = g.const(1.0 / np.sqrt(head_dim), np.float32)

    for i in range(int(config["n_layer"])):
        p = f"encoder.layers.{i}"
        qkv = linear(h, f"{p}.attn.Wqkv.weight")
        q, k, v = g.op("Split", [qkv, g.const([hidden] * 3)], f"{p}.qkv", outputs=3, axis=-1)

        def heads_first(x: str, name: str) -> str:  # [B, S, H*D] -> [B, H, S, D]
            return g.op("Transpose", [g.op("Reshape", [x, split_heads], f"{name}_4d")], name, perm=[0, 2, 1, 3])

        q = rotate(heads_first(q, f"{p}.q"), f"{p}.q_rope")
        k = rotate(heads_first(k, f"{p}.k"), f"{p}.k_rope")
        v = heads_first(v, f"{p}.v")
        scores = g.op("MatMul", [g.op("Mul", [q, scale], f"{p}.q_scaled"),
                                 g.op("Transpose", [k], f"{p}.k_t", perm=[0, 1, 3, 2])], f"{p}.scores")
        probs = g.op("Softmax", [g.op("Add", [scores, bias], f"{p}.scores_masked")], f"{p}.probs", axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probs, v], f"{p}.context_4d")], f"{p}.context_t", perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, g.const([0, 0, hidden])], f"{p}.context")
        h = layer_norm(g.op("Add", [h, linear(context, f"{p}.attn.out_proj.weight")], f"{p}.attn_residual"), f"{p}.norm1")

        up = linear(h, f"{p}.mlp.fc11.weight")
        gate = linear(h, f"{p}.mlp.fc12.weight")
        silu = g.op("Mul", [gate, g.op("Sigmoid", [gate], f"{p}.gate_sigmoid")], f"{p}.gate_silu")
        mlp = linear(g.op("Mul", [up, silu], f"{p}.swiglu"), f"{p}.mlp.fc2.weight")
        h = layer_norm(g.op("Add", [h, mlp], f"{p}.mlp_residual"), f"{p}.norm2")

    g.output(h, "last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", hidden])
    return g.finish(graph_name, [helper.make_opsetid("", OPSET)], doc)
