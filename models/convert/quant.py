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


@dataclass
class Blocks:
    """A quantized matrix [N, K] in MatMulNBits' terms, for the block types that are not
    Q4_1 (Q5_0, Q4_K, Q6_K):

        w[n, k] = scale[n, b] * (q[n, k] - zero[n, b]) + minimum[n, b],   b = k // block

    ``zero`` None means MatMulNBits' default zero point ``2**(bits - 1)``; ``minimum`` None
    means no per-block minimum term. ``scale`` holds exact fp32 products of the GGUF's fp16
    super-block scale and its small integer sub-block scale, so nothing is rounded."""

    q: np.ndarray  # uint8 [N, K], < 2**bits
    scale: np.ndarray  # float32 [N, K/block]
    zero: np.ndarray | None  # uint8 [N, K/block]
    minimum: np.ndarray | None  # float32 [N, K/block]
    bits: int
    block: int

    def rows(self, order: np.ndarray) -> "Blocks":
        pick = lambda a: None if a is None else a[order]  # noqa: E731
        return Blocks(self.q[order], self.scale[order], pick(self.zero), pick(self.minimum), self.bits, self.block)

    def zeros(self) -> np.ndarray:
        """The zero points, the default filled in."""
        if self.zero is not None:
            return self.zero
        return np.full(self.scale.shape, 1 << (self.bits - 1), np.uint8)

    def dequantize(self) -> np.ndarray:
        n, k = self.q.shape
        q = self.q.reshape(n, k // self.block, self.block).astype(np.float32) - self.zeros()[:, :, None].astype(np.float32)
        w = self.scale[:, :, None] * q
        if self.minimum is not None:
            w = w + self.minimum[:, :, None]
        return w.reshape(n, k)


def _fp16(raw: np.ndarray) -> np.ndarray:
    """Little-endian fp16 bytes [..., 2] -> float32 [...]."""
    return np.ascontiguousarray(raw).view(np.float16)[..., 0].astype(np.float32)


def parse_q5_0(raw: np.ndarray, n: int, k: int) -> Blocks:
    """GGUF Q5_0 bytes [N, K/32*22] -> 8-bit Blocks with zero point 16 (exact). Block: d
    fp16, qh (32 high bits, little endian), qs[16]: element j = low nibble of qs[j] | bit j
    of qh << 4, element j+16 = high nibble | bit j+16 << 4; w = d * (q - 16)."""
    blocks = np.ascontiguousarray(raw).reshape(n, k // 32, 22)
    d = _fp16(blocks[:, :, 0:2])
    qh = blocks[:, :, 2:6].copy().view("<u4")[:, :, 0]
    high = ((qh[:, :, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)
    qs = blocks[:, :, 6:22]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=2) | (high << 4)
    return Blocks(q.reshape(n, k), d, np.full(d.shape, 16, np.uint8), None, 8, 32)


def parse_q4_k(raw: np.ndarray, n: int, k: int) -> Blocks:
    """GGUF Q4_K bytes [N, K/256*144] -> 4-bit Blocks of 32 with a per-block minimum (exact).
    Super-block of 256: d fp16, dmin fp16, 12 bytes of eight 6-bit scales and mins, 128
    bytes of codes: sub-blocks 2c and 2c+1 are the low and high nibbles of bytes
    32c..32c+31; w = (d*sc) * q - (dmin*m)."""
    blocks = np.ascontiguousarray(raw).reshape(n, k // 256, 144)
    d = _fp16(blocks[:, :, 0:2])
    dmin = _fp16(blocks[:, :, 2:4])
    s = blocks[:, :, 4:16].astype(np.uint8)
    sc = np.empty(s.shape[:2] + (8,), np.uint8)
    mn = np.empty_like(sc)
    sc[:, :, :4] = s[:, :, 0:4] & 63
    mn[:, :, :4] = s[:, :, 4:8] & 63
    sc[:, :, 4:] = (s[:, :, 8:12] & 0x0F) | ((s[:, :, 0:4] >> 6) << 4)
    mn[:, :, 4:] = (s[:, :, 8:12] >> 4) | ((s[:, :, 4:8] >> 6) << 4)
    qs = blocks[:, :, 16:144].reshape(n, k // 256, 4, 32)
    q = np.stack([qs & 0x0F, qs >> 4], axis=3).reshape(n, k)  # [.., chunk, low/high, 32]
    scale = (d[:, :, None] * sc.astype(np.float32)).reshape(n, k // 32)
    minimum = -(dmin[:, :, None] * mn.astype(np.float32)).reshape(n, k // 32)
    return Blocks(q.astype(np.uint8), scale, np.zeros(scale.shape, np.uint8), minimum, 4, 32)


def parse_q6_k(raw: np.ndarray, n: int, k: int) -> Blocks:
    """GGUF Q6_K bytes [N, K/256*210] -> 8-bit Blocks of 16 with zero point 32 (exact).
    Super-block of 256: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 int8 scales, d fp16;
    in each half of 128: element l (0..31) of the four quarters takes the low or high nibble
    of ql[l] / ql[l+32] and bits 0-1, 2-3, 4-5, 6-7 of qh[l]; w = (d*sc) * (q - 32)."""
    blocks = np.ascontiguousarray(raw).reshape(n, k // 256, 210)
    ql = blocks[:, :, 0:128].reshape(n, k // 256, 2, 64)
    qh = blocks[:, :, 128:192].reshape(n, k // 256, 2, 32)
    sc = blocks[:, :, 192:208].copy().view(np.int8).astype(np.float32)
    d = _fp16(blocks[:, :, 208:210])
    quarters = [
        (ql[..., 0:32] & 0x0F) | ((qh & 3) << 4),
        (ql[..., 32:64] & 0x0F) | (((qh >> 2) & 3) << 4),
        (ql[..., 0:32] >> 4) | (((qh >> 4) & 3) << 4),
        (ql[..., 32:64] >> 4) | (((qh >> 6) & 3) << 4),
    ]
    q = np.stack(quarters, axis=3).reshape(n, k)  # [.., half, quarter, 32]
    scale = (d[:, :, None] * sc).reshape(n, k // 16)
    return Blocks(q.astype(np.uint8), scale, np.full(scale.shape, 32, np.uint8), None, 8, 16)


def q8_0_as_blocks(m: Q8_0) -> Blocks:
    """Q8_0 in the Blocks form: uint8 codes q + 128, MatMulNBits' default zero point 128."""
    return Blocks((m.q.astype(np.int16) + 128).astype(np.uint8), m.d, None, None, 8, 32)
