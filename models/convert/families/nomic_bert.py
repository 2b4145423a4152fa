"""nomic-bert (nomic-embed-text): a bidirectional post-norm BERT with rotary positions,
SwiGLU, fused QKV and no linear biases; mean pooling. Written as nomic's own
``NomicBertModel`` names its tensors and its config.json (the hub's remote code), which
``encoder.py`` builds the graph from.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .base import map_tensor_name

BLOCK_TENSORS = {
    "attn_qkv.weight": "attn.Wqkv.weight",
    "attn_output.weight": "attn.out_proj.weight",
    "attn_output_norm.weight": "norm1.weight",
    "attn_output_norm.bias": "norm1.bias",
    "ffn_up.weight": "mlp.fc11.weight",  # llama.cpp: fc11 -> up, fc12 -> gate
    "ffn_gate.weight": "mlp.fc12.weight",
    "ffn_down.weight": "mlp.fc2.weight",
    "layer_output_norm.weight": "norm2.weight",
    "layer_output_norm.bias": "norm2.bias",
}
GLOBAL_TENSORS = {
    "token_embd.weight": "embeddings.word_embeddings.weight",
    "token_types.weight": "embeddings.token_type_embeddings.weight",
    "token_embd_norm.weight": "emb_ln.weight",
    "token_embd_norm.bias": "emb_ln.bias",
}


class NomicBert:
    arch = "nomic-bert"
    encoder = True
    fused_graphs = False
    # nomic-embed-text's task prefixes (its model card), as named prompts.
    PROMPTS = {"query": "search_query: ", "document": "search_document: ", "clustering": "clustering: ",
               "classification": "classification: "}
    # Matryoshka sizes it was trained for, and its card's procedure: layer norm over the
    # pooled vector, then truncate, then L2-normalize.
    MATRYOSHKA_DIMENSIONS = (768, 512, 256, 128, 64)
    MATRYOSHKA_LAYER_NORM = True
    # GGUF pooling_type -> sentence-transformers' pooling mode.
    POOLING = {1: "pooling_mode_mean_tokens", 2: "pooling_mode_cls_token"}

    def config(self, g) -> dict:
        if g.arch_field("attention.causal", False):
            raise ValueError("nomic-bert: a causal (decoder) nomic-bert is not supported")
        hidden = int(g.arch_field("embedding_length"))
        return {
            "architectures": ["NomicBertModel"],
            "model_type": "nomic_bert",
            "n_embd": hidden,
            "n_head": int(g.arch_field("attention.head_count")),
            "n_layer": int(g.arch_field("block_count")),
            "n_inner": int(g.arch_field("feed_forward_length")),
            "n_positions": int(g.arch_field("context_length")),
            "max_trained_positions": int(g.arch_field("context_length")),
            "activation_function": "swiglu",
            "rotary_emb_base": float(g.arch_field("rope.freq_base")),
            "rotary_emb_fraction": 1.0,
            "rotary_emb_interleaved": False,
            "qkv_proj_bias": False,
            "mlp_fc1_bias": False,
            "mlp_fc2_bias": False,
            "prenorm": False,
            "causal": False,
            # The GGUF stores eps as float32; nomic's config says 1e-12.
            "layer_norm_epsilon": float(str(np.float32(g.arch_field("attention.layer_norm_epsilon")))),
            "vocab_size": len(g.require("tokenizer.ggml.tokens")),
            "type_vocab_size": next(g.shape(t)[0] for t in g.tensors if t.name == "token_types.weight"),
            "pad_token_id": int(g.require("tokenizer.ggml.padding_token_id")),
            "torch_dtype": "float32",
        }

    def pooling_mode(self, g) -> str:
        kind = int(g.arch_field("pooling_type", 1))
        if kind not in self.POOLING:
            raise ValueError(f"nomic-bert: pooling type {kind} is not supported")
        return self.POOLING[kind]

    def hf_name(self, gguf_name: str) -> str:
        return map_tensor_name(gguf_name, self.arch, GLOBAL_TENSORS, BLOCK_TENSORS, "encoder.layers")

    def adjust_weight(self, hf_name: str, array: np.ndarray) -> np.ndarray:
        return array

    def row_order(self, hf_name: str, rows: int, config: dict) -> Optional[np.ndarray]:
        return None  # llama.cpp keeps nomic-bert's rows as they are
