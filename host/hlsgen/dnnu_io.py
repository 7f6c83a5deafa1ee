"""The DNNU's memory interface: shapes and containers of its input and output.

Over DMA the input batch is ``(batch, L, C)`` row-major and the output ``(batch, CLASSES)``
(docs/CONTRACTS.md). Integer I/O (``encoding: int``, the default): each value in the smallest
of int8/int16/int32 that holds its width. FP8 I/O (``encoding: fp8-e5m2``): one E5M2 code
(uint8) per value, the bias a run-time register (``in_bias``/``out_bias``); the DNNU
quantizes the decoded input to the model's integer input grid and encodes its integer logits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from sustainml.board.bundle import ENCODINGS, FP8_ENCODING
from sustainml.board.fp8 import check_bias
from sustainml.errors import SustainmlError
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
    encoding: str = "int"  # or FP8_ENCODING
    in_bias: Optional[int] = None  # FP8 I/O: default bias register values (from the manifest)
    out_bias: Optional[int] = None

    @property
    def fp8(self) -> bool:
        return self.encoding == FP8_ENCODING

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self.fp8 else container(self.in_bits)

    @property
    def out_dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self.fp8 else container(self.out_bits)

    def dma_bytes(self) -> dict:
        """Bytes moved over DMA per sample (input, output), and what FP32 I/O would move."""
        n_in, n_out = self.length * self.channels, self.classes
        return {"input": n_in * self.in_dtype.itemsize, "output": n_out * self.out_dtype.itemsize,
                "input_fp32": 4 * n_in, "output_fp32": 4 * n_out}

    @property
    def in_ctype(self) -> str:
        return "uint8_t" if self.fp8 else f"int{self.in_dtype.itemsize * 8}_t"

    @property
    def out_ctype(self) -> str:
        return "uint8_t" if self.fp8 else f"int{self.out_dtype.itemsize * 8}_t"

    @classmethod
    def of_model(cls, model: QuantizedModel, encoding: str = "int") -> "DnnuIO":
        t = model.topology
        last = model.stages[-1]
        if not last.out_signed or last.out_len != 1:
            raise HlsGenError(f"model {t.name!r}: the last stage must produce signed logits (1 x classes)")
        if encoding not in ENCODINGS:
            raise HlsGenError(f"model {t.name!r}: I/O encoding {encoding!r} unknown (known: {', '.join(ENCODINGS)})")
        if encoding == FP8_ENCODING:
            check_fp8_io(model)
        return cls(t.input.length, t.input.channels, t.input.bits, last.out_ch, last.out_bits, encoding)

    @classmethod
    def of_manifest(cls, io: Mapping[str, Any]) -> "DnnuIO":
        """From a bundle manifest's ``io`` section (docs/CONTRACTS.md)."""
        try:
            (length, channels), (classes,) = io["input"]["shape"], io["output"]["shape"]
            enc = str(io["input"].get("encoding", "int"))
            biases = (int(io["input"]["bias"]), int(io["output"]["bias"])) if enc == FP8_ENCODING else (None, None)
            return cls(int(length), int(channels), int(io["input"]["bits"]), int(classes), int(io["output"]["bits"]),
                       enc, *biases)
        except (KeyError, TypeError, ValueError) as exc:
            raise HlsGenError(f"manifest io: expected input {{shape: [L, C], bits}} and output {{shape: [CLASSES], bits}}"
                              f" (and bias for FP8 I/O) ({exc})") from None


#: FP8 I/O: the logits' FP32 exponent must stay normal (hls fp8.h ``fixed_to_fp8``).
FP8_MAX_FRAC = 100


def check_fp8_io(model: QuantizedModel) -> None:
    """Raise HlsGenError unless the DNNU's FP8 I/O converters can serve ``model``."""
    t, last = model.topology, model.stages[-1]
    if last.out_bits > 24:
        raise HlsGenError(f"model {t.name!r}: FP8 output needs logits of at most 24 bits (has {last.out_bits})")
    for what, frac in (("input", model.input_frac), ("output", model.output_frac)):
        if abs(frac) > FP8_MAX_FRAC:
            raise HlsGenError(f"model {t.name!r}: {what} frac {frac} is outside +-{FP8_MAX_FRAC} (FP8 I/O)")


def fp8_bias(value: Any, what: str) -> int:
    """A bias register value, checked (0..63)."""
    try:
        return check_bias(value, what)
    except SustainmlError as exc:
        raise HlsGenError(str(exc)) from None


# ---------------------------------------------------------------------------------- FP8 I/O reference
def fp8_input_to_int(model: QuantizedModel, codes: np.ndarray, bias: int) -> np.ndarray:
    """What a DNNU with FP8 I/O feeds its first stage: the torch codec's decoding of ``codes`` at
    ``bias``, quantized as the PS quantizes floats (``model.quantize_input``); NaN gives 0."""
    import torch

    from sustainml.nas.fp8 import decode

    x = decode(torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8)), bias).numpy()
    return model.quantize_input(np.where(np.isnan(x), 0.0, x))


def fp8_output_codes(model: QuantizedModel, logits: np.ndarray, bias: int) -> np.ndarray:
    """The torch codec's E5M2 codes (saturating) of integer logits at the model's output frac."""
    import torch

    from sustainml.nas.fp8 import encode

    scores = (np.asarray(logits, dtype=np.float64) * 2.0 ** -model.output_frac).astype(np.float32)  # exact
    return encode(torch.from_numpy(scores), bias).numpy()


def fp8_golden(model: QuantizedModel, codes: np.ndarray, in_bias: int, out_bias: int) -> np.ndarray:
    """Reference of a DNNU with FP8 I/O: torch FP8 decode -> golden model -> torch FP8 encode."""
    from sustainml.nas import golden

    return fp8_output_codes(model, golden.run(model, fp8_input_to_int(model, codes, in_bias)), out_bias)
