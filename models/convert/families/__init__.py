"""Stage 2, architecture: one small file per model family (a GGUF ``general.architecture``).

A family turns GGUF metadata into transformers' ``config.json`` and GGUF tensors into
transformers' names and layouts; the graph writers only see those.
"""

from __future__ import annotations

from .base import DecoderFamily
from .gemma3 import Gemma3
from .llama import Llama
from .nomic_bert import NomicBert
from .qwen2 import Qwen2

FAMILIES: dict[str, type] = {f.arch: f for f in (Gemma3, Llama, NomicBert, Qwen2)}


def family_for(arch: str):
    """The family object (a ``DecoderFamily``, or an encoder family with ``encoder = True``)."""
    if arch not in FAMILIES:
        raise ValueError(f"GGUF architecture {arch!r} is not supported (known: {', '.join(sorted(FAMILIES))})")
    return FAMILIES[arch]()
