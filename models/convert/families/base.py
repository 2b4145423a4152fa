"""What every decoder family shares: llama.cpp's tensor names and the transformers config.

A family file sets a few class attributes and overrides ``adjust_config`` where its
transformers config differs (the shape of onnxruntime-genai's model builder: a shared
base, a family is a few overrides).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

# llama.cpp block tensor suffix -> transformers' name inside ``model.layers.{i}``.
BLOCK_TENSORS = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
GLOBAL_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def map_tensor_name(gguf_name: str, arch: str, global_tensors: dict, block_tensors: dict, layers: str) -> str:
    """A llama.cpp tensor name in the family's own names: ``global_tensors`` by name,
    ``blk.{i}.{suffix}`` as ``{layers}.{i}.{block_tensors[suffix]}``."""
    if gguf_name in global_tensors:
        return global_tensors[gguf_name]
    if gguf_name.startswith("blk."):
        _, layer, rest = gguf_name.split(".", 2)
        if rest in block_tensors:
            return f"{layers}.{layer}.{block_tensors[rest]}"
    raise ValueError(f"unexpected tensor {gguf_name} for a {arch} model")


def unpermute_rotary(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo convert_hf_to_gguf's ``permute`` of q_proj/k_proj rows (weights or biases).

    llama.cpp: ``w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2)``
    (rotary pairs interleaved); transformers keeps the two halves of a head apart.
    """
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class DecoderFamily:
    encoder = False
    arch = ""  # GGUF general.architecture
    model_type = ""  # transformers' config.model_type
    hf_architecture = ""  # transformers' model class
    tokenizer_class = "GPT2Tokenizer"
    # llama.cpp's converter interleaves the rotary halves of q/k rows for llama-style
    # models (LlamaModel.permute); families converted without it (qwen2) leave this off.
    permuted_qk = False
    # Whether fused.py (the contrib-op fp32 and 4-bit graphs) knows this family's block;
    # decoder.py's fp32 graph knows every family here.
    fused_graphs = True
    # Whether decoder.py's fp32 graph takes num_logits_to_keep (logits of the last positions
    # only): for large vocabularies (Gemma's 262,144), where every position's logits cost.
    fp32_logits_to_keep = False

    def config(self, g) -> dict:
        """transformers' config.json fields from the GGUF metadata."""
        heads = int(g.arch_field("attention.head_count"))
        hidden = int(g.arch_field("embedding_length"))
        config = {
            "architectures": [self.hf_architecture],
            "model_type": self.model_type,
            "hidden_act": "silu",
            "hidden_size": hidden,
            "intermediate_size": int(g.arch_field("feed_forward_length")),
            "num_hidden_layers": int(g.arch_field("block_count")),
            "num_attention_heads": heads,
            "num_key_value_heads": int(g.arch_field("attention.head_count_kv", heads)),
            "head_dim": int(g.arch_field("rope.dimension_count", hidden // heads)),
            "max_position_embeddings": int(g.arch_field("context_length")),
            # The GGUF stores eps as float32 (9.99999975e-06); transformers' configs say 1e-05.
            "rms_norm_eps": float(str(np.float32(g.arch_field("attention.layer_norm_rms_epsilon")))),
            "rope_theta": float(g.arch_field("rope.freq_base", 10000.0)),
            "rope_scaling": None,
            "attention_bias": False,
            "attention_dropout": 0.0,
            "mlp_bias": False,
            "initializer_range": 0.02,
            "pretraining_tp": 1,
            "vocab_size": int(g.arch_field("vocab_size", len(g.reader.fields["tokenizer.ggml.tokens"].data))),
            "tie_word_embeddings": not g.has_tensor("output.weight"),
            "bos_token_id": int(g.require("tokenizer.ggml.bos_token_id")),
            "eos_token_id": int(g.require("tokenizer.ggml.eos_token_id")),
            "pad_token_id": int(g.require("tokenizer.ggml.padding_token_id")),
            "torch_dtype": "float32",
            "use_cache": True,
        }
        if g.arch_field("rope.scaling.type") not in (None, "none"):
            raise ValueError(f"rope scaling {g.arch_field('rope.scaling.type')!r} is not supported")
        return self.adjust_config(config, g)

    def adjust_config(self, config: dict, g) -> dict:
        return config

    def eos_token_ids(self, config: dict, g) -> list[int]:
        """What stops generation (generation_config.json's eos_token_id)."""
        return [config["eos_token_id"]]

    def hf_name(self, gguf_name: str) -> str:
        return map_tensor_name(gguf_name, self.arch, GLOBAL_TENSORS, BLOCK_TENSORS, "model.layers")

    def adjust_weight(self, hf_name: str, array: np.ndarray) -> np.ndarray:
        """A dequantized tensor as transformers stores it (Gemma: norms without llama.cpp's +1)."""
        return array

    def row_order(self, hf_name: str, rows: int, config: dict) -> Optional[np.ndarray]:
        """The permutation that puts a tensor's rows in transformers' order, or None."""
        if not self.permuted_qk:
            return None
        if ".self_attn.q_proj." in hf_name:
            heads = config["num_attention_heads"]
        elif ".self_attn.k_proj." in hf_name:
            heads = config["num_key_value_heads"]
        else:
            return None
        return unpermute_rotary(np.arange(rows), heads)
