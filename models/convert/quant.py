"""GGUF quantized blocks kept as they are, for graphs that re-pack them (the 4-bit writer).

Everything else dequantizes through the ``gguf`` package (``gguf_file.GGUFFile.dequantize``);
these parsers exist because a 4-bit graph needs the codes and scales themselves, and each
parsed matrix is checked against ``gguf.quants.dequantize`` bit for bit when read
(``weights.read_quantized``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Q4_1:
    """A GGUF Q4_1 matrix, [N, K]: ``w = d[n, b] * q[n, k] + m[n, b]`` with ``b = k // 32``."""

    q: np.ndarray  # uint8 [N, K], 0..15
    d: np.ndarray  # float32 [N, K/32] (exact copies of fp16)
    m: np.ndarray  # float32 [N, K/32]

    def rows(self, order: np.ndarray) -> "Q4_1":
        return Q4_1(self.q[order], self.d[order], self.m[order])

    def dequantize(self) -> np.ndarray:
        n, k = self.q.shape
        q = self.q.reshape(n, k // 32, 32).astype(np.float32)
        return (self.d[:, :, None] * q + self.m[:, :, None]).reshape(n, k)


@dataclass
class Q8_0:
    """A GGUF Q8_0 matrix, [N, K]: ``w = d[n, b] * q[n, k]`` with q int8."""

    q: np.ndarray  # int8 [N, K]
    d: np.ndarray  # float32 [N, K/32]

    def rows(self, order: np.ndarray) -> "Q8_0":
        return Q8_0(self.q[order], self.d[order])

    def dequantize(self) -> np.ndarray:
        n, k = self.q.shape
        return (self.d[:, :, None] * self.q.reshape(n, k // 32, 32).astype(np.float32)).reshape(n, k)


def parse_q4_1(raw: np.ndarray, n: int, k: int) -> Q4_1:
    """GGUF Q4_1 bytes [N, K/32*20] -> Q4_1. Block: d fp16, m fp16, 16 bytes: element j in
    the low nibble of byte j, element j+16 in the high nibble (llama.cpp's layout)."""
    blocks = np.ascontiguousarray(raw).reshape(n, k // 32, 20)
    d = blocks[:, :, 0:2].copy().view(np.float16)[:, :, 0].astype(np.float32)
    m = blocks[:, :, 2:4].copy().view(np.float16)[:, :, 0].astype(np.float32)
    qs = blocks[:, :, 4:20]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=2).reshape(n, k)
    return Q4_1(q.astype(np.uint8), d, m)


def parse_q8_0(raw: np.ndarray, n: int, k: int) -> Q8_0:
    """GGUF Q8_0 bytes [N, K/32*34] -> Q8_0 (block: d fp16, 32 int8)."""
    blocks = np.ascontiguousarray(raw).reshape(n, k // 32, 34)
    d = blocks[:, :, 0:2].copy().view(np.float16)[:, :, 0].astype(np.float32)
    q = blocks[:, :, 2:34].copy().view(np.int8).reshape(n, k)
    return Q8_0(q, d)


def pack_nbits(q: np.ndarray, bits: int, block: int = 32) -> np.ndarray:
    """[N, K] unsigned codes -> MatMulNBits' B [N, K/block, block*bits/8] (4 bits: element
    2i in the low nibble of byte i, 2i+1 in the high nibble)."""
    n, k = q.shape
    if bits == 8:
        return np.ascontiguousarray(q.astype(np.uint8).reshape(n, k // block, block))
    assert bits == 4
    q = q.astype(np.uint8)
    return np.ascontiguousarray((q[:, 0::2] | (q[:, 1::2] << 4)).reshape(n, k // block, block // 2))


def shifted_minimum(m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``m + 8d`` in fp32, checked exact: with MatMulNBits' default zero point 8,
    ``d*q + m = d*(q - 8) + (m + 8d)``. m and d are fp16 values (11-bit significands) of
    similar magnitude, so the fp32 sum is exact; this asserts it for every block."""
    shifted = (m.astype(np.float64) + 8.0 * d.astype(np.float64)).astype(np.float32)
    if not np.array_equal(shifted.astype(np.float64) - 8.0 * d.astype(np.float64), m.astype(np.float64)):
        raise ValueError("m + 8d is not exact in fp32 for some block; build with symmetric=False")
    return shifted
