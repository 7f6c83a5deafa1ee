"""The DNNU's memory interface: shapes and integer containers of its input and output.

Over DMA the input batch is ``(batch, L, C)`` row-major and the output ``(batch, CLASSES)``, each
in the smallest of int8/int16/int32 that holds the width (docs/CONTRACTS.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from sustainml.nas.costmodel import container_bits
from sustainml.nas.quantized import QuantizedModel

from .errors import HlsGenError


def container(bits: int, signed: bool = True) -> np.dtype:
    """numpy dtype of the DMA container of a ``bits``-wide value (unsigned needs one bit more)."""
    return np.dtype(f"int{container_bits(bits + (0 if signed else 1))}")


@dataclass(frozen=True)
class DnnuIO:
    length: int
    channels: int
    in_bits: int
    classes: int
    out_bits: int

    @property
    def in_dtype(self) -> np.dtype:
        return container(self.in_bits)

    @property
    def out_dtype(self) -> np.dtype:
        return container(self.out_bits)

    @property
    def in_ctype(self) -> str:
        return f"int{self.in_dtype.itemsize * 8}_t"

    @property
    def out_ctype(self) -> str:
        return f"int{self.out_dtype.itemsize * 8}_t"

    @classmethod
    def of_model(cls, model: QuantizedModel) -> "DnnuIO":
        t = model.topology
        last = model.stages[-1]
        if not last.out_signed or last.out_len != 1:
            raise HlsGenError(f"model {t.name!r}: the last stage must produce signed logits (1 x classes)")
        return cls(t.input.length, t.input.channels, t.input.bits, last.out_ch, last.out_bits)

    @classmethod
    def of_manifest(cls, io: Mapping[str, Any]) -> "DnnuIO":
        """From a bundle manifest's ``io`` section (docs/CONTRACTS.md)."""
        try:
            (length, channels), (classes,) = io["input"]["shape"], io["output"]["shape"]
            return cls(int(length), int(channels), int(io["input"]["bits"]), int(classes), int(io["output"]["bits"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise HlsGenError(f"manifest io: expected input {{shape: [L, C], bits}} and output {{shape: [CLASSES], bits}} ({exc})") from None
