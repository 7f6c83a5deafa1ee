"""FP8 E5M2 codec with a run-time exponent bias, in numpy (the board's PS side of FP8 I/O).

The same definition as ``sustainml.nas.fp8`` (torch) and ``hls/include/sustainml/fp8.h``
(the DNNU), bit for bit: ``value(code, bias) = e5m2(code) * 2^(15 - bias)``; encoding rounds
to nearest, ties to even mantissa; finite overflow saturates to +-max (``saturate=True``, what
the DNNU and the DRAM writer do) or becomes +-Inf; NaN encodes to ``0x7F | sign``; inputs are
rounded to float32 first, and float32 subnormals encode to +-0. Decoding is exact in float32
for every bias 0..63.

Board-side module: numpy only (no torch on the board).
"""
from __future__ import annotations

import numpy as np

from .errors import BoardError

BIAS_MAX = 63  # the DNNU's bias registers are 6 bits wide
MAN_BITS = 2
INF_MAG = 0x7C  # exponent field 31, mantissa 0
MAX_MAG = 0x7B  # largest finite magnitude code
NAN_MAG = 0x7F


def check_bias(bias: int, what: str = "bias") -> int:
    if isinstance(bias, bool) or not isinstance(bias, (int, np.integer)) or not 0 <= int(bias) <= BIAS_MAX:
        raise BoardError(f"FP8 {what}={bias!r} out of range (integer 0..{BIAS_MAX})")
    return int(bias)


def decode_table(bias: int) -> np.ndarray:
    """float32 value of each of the 256 codes at ``bias`` (NaN codes give NaN)."""
    b = check_bias(bias)
    codes = np.arange(256)
    ef, m = (codes >> MAN_BITS) & 0x1F, codes & 0x3
    mag = np.where(ef == 0, m * 2.0 ** (1 - b - MAN_BITS), (4 + m) * np.exp2(ef - b - MAN_BITS))
    mag = np.where(ef == 31, np.where(m == 0, np.inf, np.nan), mag)
    return np.where(codes & 0x80, -mag, mag).astype(np.float32)  # exact: 3 significant bits, 2^-66..2^46


def decode(codes: np.ndarray, bias: int) -> np.ndarray:
    """FP8 codes (uint8) → float32 values, exact."""
    c = np.asarray(codes)
    if c.dtype != np.uint8:
        raise BoardError(f"FP8 codes must be uint8, got {c.dtype}")
    return decode_table(bias)[c]


def encode(x: np.ndarray, bias: int, saturate: bool = True) -> np.ndarray:
    """Float values → FP8 codes (uint8, same shape) at ``bias``: round to nearest, ties to even."""
    b = check_bias(bias)
    with np.errstate(over="ignore"):  # beyond float32: +-Inf, as a float32 cast does
        bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)
    sign = ((bits >> 24) & 0x80).astype(np.uint8)
    exp32, man32 = (bits >> 23) & 0xFF, bits & 0x7FFFFF
    sig = man32 | (1 << 23)
    ef = exp32 - 127 + b  # exponent field of the result; <= 0 for subnormals
    shift = np.minimum((23 - MAN_BITS) + np.maximum(1 - ef, 0), 62)
    q = sig >> shift
    rem = sig - (q << shift)
    half = np.int64(1) << (shift - 1)
    q = q + ((rem > half) | ((rem == half) & (q & 1 == 1)))
    mag = np.where(ef >= 1, (ef - 1) << MAN_BITS, 0) + q  # a mantissa carry walks into the exponent
    mag = np.where(mag >= INF_MAG, MAX_MAG if saturate else INF_MAG, mag)
    mag = np.where(exp32 == 0, 0, mag)  # +-0 and float32 subnormals
    mag = np.where(exp32 == 255, np.where(man32 != 0, NAN_MAG, INF_MAG), mag)
    return (mag.astype(np.uint8) | sign).reshape(np.shape(x))
