"""Stage 1, read: a GGUF file through the ``gguf`` package's reader and dequantizers.

Nothing here knows a model family: metadata by key, tensors by name, every block type
dequantized by ``gguf.quants.dequantize`` (Q4_0 .. Q8_0, the K-quants, F16, BF16, F32).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np


class GGUFFile:
    def __init__(self, path: Path) -> None:
        import gguf

        self.path = Path(path)
        self.reader = gguf.GGUFReader(str(path))
        self.arch = str(self.field("general.architecture"))

    def field(self, key: str, default=None):
        """A metadata value (``contents()``: str, number, list), or ``default`` when absent."""
        f = self.reader.fields.get(key)
        return default if f is None else f.contents()

    def arch_field(self, key: str, default=None):
        """``{architecture}.{key}``, e.g. ``block_count``."""
        return self.field(f"{self.arch}.{key}", default)

    def require(self, key: str):
        value = self.field(key)
        if value is None:
            raise ValueError(f"{self.path.name}: metadata {key} is missing")
        return value

    @property
    def tensors(self):
        return self.reader.tensors

    def has_tensor(self, name: str) -> bool:
        return any(t.name == name for t in self.reader.tensors)

    @staticmethod
    def shape(tensor) -> tuple[int, ...]:
        """Row-major shape (GGUF lists dimensions innermost first): [out, in] for a matrix."""
        return tuple(int(d) for d in reversed(tensor.shape))

    @staticmethod
    def type_name(tensor) -> str:
        import gguf

        return gguf.GGMLQuantizationType(tensor.tensor_type).name

    def dequantize(self, tensor) -> np.ndarray:
        """The tensor in float32, row-major shape, by the ``gguf`` package's dequantizer."""
        from gguf.quants import dequantize

        array = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        return array.reshape(self.shape(tensor))

    def type_counts(self) -> dict[str, int]:
        """How many tensors of each block type, e.g. {"Q4_K": 120, "F32": 121}."""
        return dict(sorted(Counter(self.type_name(t) for t in self.reader.tensors).items()))
