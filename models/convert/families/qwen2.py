"""Qwen2 / Qwen2.5: q/k/v biases, no q/k permutation in the GGUF, usually an untied head.

transformers' Qwen2 always has q/k/v biases (no ``attention_bias`` switch);
``<|endoftext|>`` ends generation as well as ``<|im_end|>`` (the
upstream generation_config.json lists both).
"""

from .base import DecoderFamily


class Qwen2(DecoderFamily):
    arch = "qwen2"
    model_type = "qwen2"
    hf_architecture = "Qwen2ForCausalLM"
    tokenizer_class = "Qwen2Tokenizer"

    def adjust_config(self, config: dict, g) -> dict:
        for key in ("attention_bias", "mlp_bias", "pretraining_tp"):
            config.pop(key)
        config["use_sliding_window"] = False
        return config

    def eos_token_ids(self, config: dict, g) -> list[int]:
        ids = [config["eos_token_id"]]
        tokens = g.field("tokenizer.ggml.tokens")
        if "<|endoftext|>" in tokens and tokens.index("<|endoftext|>") not in ids:
            ids.append(tokens.index("<|endoftext|>"))
        return ids
