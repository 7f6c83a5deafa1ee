"""Storage formats for tensors that cross DRAM during training: what a write keeps, what a
read returns, and how many bytes each element costs.

``fp32`` (identity), ``fp16``, ``bf16`` (casts), ``e5m2-b15`` (FP8 E5M2, fixed bias 15),
``e4m3`` (FP8 E4M3FN, fixed bias 7) and ``e5m2-adaptive`` (FP8 E5M2 whose bias is chosen per
stream by a :class:`~sustainml.nas.fp8.StatsUnit` during the FP32 calibration epochs).

A *stream* is the sequence of tensors one DRAM buffer holds over training, named by a key
``CLASS:NAME`` (classes: ``w`` weights, ``g`` weight gradients, ``a`` layer outputs, ``s``
other tensors saved for backward, ``d`` gradients of layer outputs, ``o`` optimizer state).
``granularity`` decides which streams share a bias: ``tensor`` (one bias per key), ``class``
(one per class) or ``model`` (one for everything, the seed's literal "per model").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch

from .fp8 import E4M3, E5M2, Fp8Error, Fp8Format, StatsUnit, decode, encode

GRANULARITIES = ("tensor", "class", "model")


@dataclass
class Packed:
    """A tensor as DRAM holds it: FP8 codes + bias, or a cast tensor (``bias`` None)."""

    data: torch.Tensor
    bias: Optional[int]
    dtype: torch.dtype


class Storage:
    """Base: FP32 storage (identity), 4 bytes per element."""

    name = "fp32"
    bytes_per_element = 4
    adaptive = False

    def pack(self, x: torch.Tensor, key: str, rounding: str = "nearest") -> Packed:
        return Packed(x, None, x.dtype)

    def unpack(self, p: Packed) -> torch.Tensor:
        return p.data

    def roundtrip(self, x: torch.Tensor, key: str, rounding: str = "nearest") -> torch.Tensor:
        """What a write followed by a read returns (``x.dtype``, same shape)."""
        return self.unpack(self.pack(x, key, rounding))

    def observe(self, x: torch.Tensor, key: str) -> None:
        """Feed a calibration sample (only adaptive formats use it)."""

    def calibrate(self) -> Dict[str, int]:
        """Fix the per-stream biases from the samples seen; returns them."""
        return {}

    def describe(self) -> str:
        return self.name


class CastStorage(Storage):
    def __init__(self, name: str, dtype: torch.dtype) -> None:
        self.name, self.store_dtype = name, dtype
        self.bytes_per_element = torch.finfo(dtype).bits // 8

    def pack(self, x: torch.Tensor, key: str, rounding: str = "nearest") -> Packed:
        return Packed(x.detach().to(self.store_dtype), None, x.dtype)

    def unpack(self, p: Packed) -> torch.Tensor:
        return p.data.to(p.dtype)


class Fp8Storage(Storage):
    """FP8 with a fixed bias, or (``bias=None``) an adaptive bias per stream."""

    bytes_per_element = 1

    def __init__(self, name: str, fmt: Fp8Format, bias: Optional[int] = None, granularity: str = "tensor",
                 seed: int = 0) -> None:
        if granularity not in GRANULARITIES:
            raise Fp8Error(f"granularity={granularity!r} (expected one of {', '.join(GRANULARITIES)})")
        self.name, self.fmt, self.fixed_bias, self.granularity = name, fmt, bias, granularity
        self.adaptive = bias is None
        self.biases: Dict[str, int] = {}
        self.stats: Dict[str, StatsUnit] = {}
        self.medians: Dict[str, Optional[float]] = {}
        self._seed = seed
        self._gen = torch.Generator().manual_seed(seed)

    def stream(self, key: str) -> str:
        if self.granularity == "tensor":
            return key
        return key.split(":", 1)[0] if self.granularity == "class" else "model"

    def bias_for(self, key: str) -> int:
        if not self.adaptive:
            return self.fixed_bias if self.fixed_bias is not None else self.fmt.std_bias
        return self.biases.get(self.stream(key), self.fmt.std_bias)

    def pack(self, x: torch.Tensor, key: str, rounding: str = "nearest") -> Packed:
        b = self.bias_for(key)
        return Packed(encode(x, b, self.fmt, rounding=rounding, generator=self._gen), b, x.dtype)

    def unpack(self, p: Packed) -> torch.Tensor:
        return decode(p.data, p.bias, self.fmt).to(p.dtype)

    def observe(self, x: torch.Tensor, key: str) -> None:
        if self.adaptive:
            s = self.stream(key)
            if s not in self.stats:
                self.stats[s] = StatsUnit(seed=self._seed + len(self.stats))
            self.stats[s].observe(x)

    def calibrate(self) -> Dict[str, int]:
        if self.adaptive:
            self.medians = {s: u.median() for s, u in self.stats.items()}
            self.biases = {s: u.bias(self.fmt.std_bias) for s, u in self.stats.items()}
        return dict(self.biases)

    def describe(self) -> str:
        if not self.adaptive:
            return f"{self.name} (bias {self.bias_for('')})"
        return f"{self.name} ({self.granularity} biases)"


STORAGE_NAMES = ("fp32", "fp16", "bf16", "e5m2-b15", "e4m3", "e5m2-adaptive")


def make_storage(name: str, granularity: str = "tensor", seed: int = 0) -> Storage:
    """A fresh storage format by name (see :data:`STORAGE_NAMES`)."""
    makers: Dict[str, Any] = {
        "fp32": lambda: Storage(),
        "fp16": lambda: CastStorage("fp16", torch.float16),
        "bf16": lambda: CastStorage("bf16", torch.bfloat16),
        "e5m2-b15": lambda: Fp8Storage("e5m2-b15", E5M2, bias=15),
        "e4m3": lambda: Fp8Storage("e4m3", E4M3, bias=7),
        "e5m2-adaptive": lambda: Fp8Storage("e5m2-adaptive", E5M2, None, granularity, seed),
    }
    if name not in makers:
        raise Fp8Error(f"unknown storage format {name!r} (known: {', '.join(STORAGE_NAMES)})")
    return makers[name]()
