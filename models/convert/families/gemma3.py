"""Gemma 3 (text): four norms per layer, q/k norms, GELU-tanh, sliding-window layers.

What the GGUF leaves out, as llama.cpp's gemma3 loader fills it in: every sixth layer
attends globally, the others over a 512-token window (``gemma3.attention.sliding_window``)
with rope base 10,000 (the global layers use ``gemma3.rope.freq_base``, 1,000,000); the
query scale is 1/sqrt(head_dim) (``query_pre_attn_scalar`` = head_dim; only 27B differs).
llama.cpp's converter stores every RMSNorm weight plus one (Gemma computes x * (1 + w));
transformers keeps w, so one is taken off here. The config is written as
google/gemma-3-270m's config.json says it.
"""

from __future__ import annotations

import numpy as np

from .base import DecoderFamily

# llama.cpp block tensor suffix -> transformers' name, where Gemma 3 differs from the base.
GEMMA3_BLOCK_TENSORS = {
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "ffn_norm.weight": "pre_feedforward_layernorm.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
}
SLIDING_WINDOW_PATTERN = 6  # llama.cpp: hparams.set_swa_pattern(6)
LOCAL_ROPE_THETA = 10_000.0  # llama.cpp: rope_freq_base_train_swa


class Gemma3(DecoderFamily):
    arch = "gemma3"
    model_type = "gemma3_text"
    hf_architecture = "Gemma3ForCausalLM"
    tokenizer_class = "GemmaTokenizer"
    fp32_logits_to_keep = True

    def adjust_config(self, config: dict, g) -> dict:
        for key in ("hidden_act", "mlp_bias", "pretraining_tp", "rope_scaling"):
            config.pop(key)
        layers = config["num_hidden_layers"]
        # Gemma's heads are wider than width / heads (270M: 256, not 160).
        config["head_dim"] = int(g.require("gemma3.attention.key_length"))
        config.update(
            hidden_activation="gelu_pytorch_tanh",
            query_pre_attn_scalar=config["head_dim"],
            sliding_window=int(g.require("gemma3.attention.sliding_window")),
            layer_types=["full_attention" if (i + 1) % SLIDING_WINDOW_PATTERN == 0 else "sliding_attention"
                         for i in range(layers)],
            rope_local_base_freq=LOCAL_ROPE_THETA,
            final_logit_softcapping=None,
            attn_logit_softcapping=None,
        )
        return config

    def hf_name(self, gguf_name: str) -> str:
        if gguf_name.startswith("blk."):
            _, layer, rest = gguf_name.split(".", 2)
            if rest in GEMMA3_BLOCK_TENSORS:
                return f"model.layers.{layer}.{GEMMA3_BLOCK_TENSORS[rest]}"
        return super().hf_name(gguf_name)

    def adjust_weight(self, hf_name: str, array: np.ndarray) -> np.ndarray:
        if hf_name.endswith("norm.weight"):
            return array - np.float32(1.0)
        return array

    def eos_token_ids(self, config: dict, g) -> list[int]:
        # <end_of_turn> ends a chat turn as <eos> ends text (upstream generation_config.json).
        ids = [config["eos_token_id"]]
        tokens = g.field("tokenizer.ggml.tokens")
        if "<end_of_turn>" in tokens:
            ids.append(tokens.index("<end_of_turn>"))
        return ids
