"""Bit-level FP8 reference written from the format definition only (pure Python, exact
rationals): the oracle for nas/fp8.py and hls/include/sustainml/fp8.h. Shares no code with them.

IEEE-style formats (``fn=False``, E5M2): top exponent holds Inf (m=0) and NaN (m!=0).
Finite-only formats (``fn=True``, E4M3FN): top exponent is normal except all-ones mantissa = NaN.
"""
from __future__ import annotations

import bisect
import math
from fractions import Fraction
from typing import List, Union

Num = Union[Fraction, float]


def decode_ref(code: int, bias: int, e_bits: int = 5, m_bits: int = 2, fn: bool = False) -> Num:
    sign = -1 if code >> 7 & 1 else 1
    e = (code >> m_bits) & ((1 << e_bits) - 1)
    m = code & ((1 << m_bits) - 1)
    top = (1 << e_bits) - 1
    if not fn and e == top:
        return sign * math.inf if m == 0 else math.nan
    if fn and e == top and m == (1 << m_bits) - 1:
        return math.nan
    if e == 0:
        mag = Fraction(m, 1 << m_bits) * Fraction(2) ** (1 - bias)
    else:
        mag = (1 + Fraction(m, 1 << m_bits)) * Fraction(2) ** (e - bias)
    return mag if sign > 0 else -mag  # -0 is Fraction(0): sign lives in the code


def _finite_magnitudes(bias: int, e_bits: int, m_bits: int, fn: bool) -> List[Fraction]:
    out = []
    for code in range(128):
        v = decode_ref(code, bias, e_bits, m_bits, fn)
        if isinstance(v, Fraction):
            out.append(v)
    return out  # index == magnitude code, increasing


def encode_ref(x: float, bias: int, e_bits: int = 5, m_bits: int = 2, fn: bool = False,
               saturate: bool = True) -> int:
    """Nearest representable value, ties to even mantissa; overflow as documented in nas/fp8.py."""
    sign = 0x80 if math.copysign(1.0, x) < 0 else 0
    if math.isnan(x):
        return 0x7F | sign
    mags = _finite_magnitudes(bias, e_bits, m_bits, fn)
    max_code = len(mags) - 1
    inf_code = None if fn else (((1 << e_bits) - 1) << m_bits)
    if math.isinf(x):
        if fn:
            return (max_code if saturate else 0x7F) | sign
        return inf_code | sign
    a = abs(Fraction(x))
    # IEEE overflow: the value past max is 2^(emax+1), which has an even (zero) mantissa.
    top = mags[max_code] + (mags[max_code] - mags[max_code - 1])
    vals = mags + [top]
    hi = bisect.bisect_left(vals, a)
    if hi == 0:
        best = 0
    elif hi == len(vals):
        best = len(vals) - 1
    else:
        lo = hi - 1
        dl, dh = a - vals[lo], vals[hi] - a
        best = lo if dl < dh or (dl == dh and lo % 2 == 0) else hi
    if best > max_code:
        if saturate:
            best = max_code
        else:
            return (0x7F if fn else inf_code) | sign
    return best | sign
