"""Llama (and SmolLM2): the base as it is, with llama.cpp's q/k row permutation undone."""

from .base import DecoderFamily


class Llama(DecoderFamily):
    arch = "llama"
    model_type = "llama"
    hf_architecture = "LlamaForCausalLM"
    permuted_qk = True
