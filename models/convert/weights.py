"""Stage 3, dequantize: GGUF tensors -> transformers' names and layouts.

``read_weights`` dequantizes every tensor to fp32 (``gguf_file.GGUFFile.dequantize``,
i.e. the ``gguf`` package) for the fp32 and fused graphs; ``read_quantized`` keeps the
blocks that the 4-bit graph re-packs as they are, each checked against the ``gguf``
package's dequantizer bit for bit.
"""

from __future__ import annotations

import numpy as np

from .families.base import DecoderFamily
from .gguf_file import GGUFFile
from .quant import parse_q4_1, parse_q4_k, parse_q5_0, parse_q6_k, parse_q8_0


def read_weights(g: GGUFFile, family: DecoderFamily, config: dict) -> dict[str, np.ndarray]:
    """All tensors in fp32, the family's names (transformers'), rows in its order. Any family
    with ``hf_name``, ``adjust_weight`` and ``row_order`` will do (encoders too)."""
    weights = {}
    for t in g.tensors:
        if t.name == "rope_freqs.weight":
            raise ValueError("rope_freqs.weight (llama3 rope scaling) is not supported")
        name = family.hf_name(t.name)
        array = family.adjust_weight(name, g.dequantize(t))
        order = family.row_order(name, array.shape[0], config)
        if order is not None:
            array = array[order]
        weights[name] = np.ascontiguousarray(array)
    return weights


# Block types the quantized graph keeps exactly, and their parsers (quant.py says how each
# maps onto MatMulNBits: Q4_1 and Q4_K as 4 bits, Q5_0, Q6_K and Q8_0 as 8 bits).
REPACKED = {"Q4_1": parse_q4_1, "Q8_0": parse_q8_0, "Q5_0": parse_q5_0, "Q4_K": parse_q4_k, "Q6_K": parse_q6_k}


def read_quantized(g: GGUFFile, family: DecoderFamily, config: dict) -> dict:
    """The GGUF's matrices of a ``REPACKED`` type as blocks (``quant.Q4_1``, ``Q8_0``, ``Blocks``),
    transformers' names and row order. Each is checked to dequantize exactly like the
    ``gguf`` package does; other types are left to ``read_weights``."""
    out = {}
    for t in g.tensors:
        parse = REPACKED.get(g.type_name(t))
        if parse is None:
            continue
        n, k = g.shape(t)
        blocks = parse(t.data, n, k)
        if not np.array_equal(blocks.dequantize(), g.dequantize(t)):
            raise AssertionError(f"{t.name}: block parsing disagrees with gguf.quants.dequantize")
        name = family.hf_name(t.name)
        order = family.row_order(name, n, config)
        out[name] = blocks if order is None else blocks.rows(order)
    return out
