"""FP8 codec with a run-time exponent bias, and the statistics unit that chooses the bias.

Format (E5M2, the seed's 1-5-2 format): sign ``s``, exponent field ``e`` (5 bits), mantissa
``m`` (2 bits), exponent bias ``b`` chosen per tensor stream instead of fixed at 15::

    e == 0            value = (-1)^s * 2^(1-b) * (m / 4)          (subnormals, +-0)
    0 < e < 31        value = (-1)^s * 2^(e-b) * (1 + m / 4)
    e == 31, m == 0   +-Inf
    e == 31, m != 0   NaN (encoded as 0x7F | sign)

The bias only moves the format's window: ``value(code, b) = e5m2(code) * 2^(15 - b)``, so the
codec is torch's ``float8_e5m2`` cast behind an exact power-of-two scale. Any bias in
``0..63`` is exact in float32 (the hardware register is 6 bits wide).

Encoding rounds to nearest, ties to even mantissa. Overflow: with ``saturate=True`` (the
default; what the DRAM writer does) finite magnitudes beyond the largest finite value
``57344 * 2^(15-b)`` become +-max and +-Inf stays +-Inf; with ``saturate=False`` IEEE
rounding applies and overflow gives +-Inf. NaN stays NaN. ``rounding="stochastic"`` picks
one of the two neighbouring codes with probability proportional to proximity (for weight
writes without an FP32 master copy).

E4M3 (``float8_e4m3fn``, fixed bias 7, no Inf, NaN = 0x7F/0xFF, max 448) is provided for the
comparison; it always saturates (+-Inf included) unless ``saturate=False``, which maps
overflow to NaN.

Bias table (seed, Section 5): the statistics unit takes the median non-zero magnitude of a
sample of a tensor stream and picks the nearest entry of ``median 2^k -> bias 16 - k`` in log2 (ties
towards the smaller bias, i.e. more headroom), clamped to biases ``10..31``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch

from sustainml.errors import SustainmlError

BIAS_MIN, BIAS_MAX = 10, 31  # the seed's table: median 64 -> 10 ... 2^-15 -> 31
BIAS_REGISTER_MAX = 63  # 6-bit bias register in hardware; codec accepts 0..63
BIAS_TABLE: Dict[float, int] = {2.0 ** (16 - b): b for b in range(BIAS_MIN, BIAS_MAX + 1)}


class Fp8Error(SustainmlError, ValueError):
    """Bad FP8 codec argument (bias out of range, wrong code dtype, unknown format)."""


@dataclass(frozen=True)
class Fp8Format:
    """An 8-bit float format as torch stores it (at its standard bias ``std_bias``)."""

    name: str
    exp_bits: int
    man_bits: int
    std_bias: int
    dtype: torch.dtype
    max_finite: float  # at std_bias
    has_inf: bool  # IEEE-style top exponent (E5M2) vs finite-only "fn" (E4M3)

    @property
    def max_code(self) -> int:
        """Magnitude code (sign bit clear) of the largest finite value."""
        return 0x7B if self.has_inf else 0x7E


E5M2 = Fp8Format("e5m2", 5, 2, 15, torch.float8_e5m2, 57344.0, True)
E4M3 = Fp8Format("e4m3", 4, 3, 7, torch.float8_e4m3fn, 448.0, False)
FORMATS = {f.name: f for f in (E5M2, E4M3)}


def check_bias(bias: int, fmt: Fp8Format = E5M2) -> int:
    if isinstance(bias, bool) or not isinstance(bias, int) or not 0 <= bias <= BIAS_REGISTER_MAX:
        raise Fp8Error(f"{fmt.name}: bias={bias!r} out of range (integer 0..{BIAS_REGISTER_MAX})")
    return bias


def _scale(bias: Optional[int], fmt: Fp8Format) -> float:
    """``2^(bias - std_bias)``: multiply by it to encode, divide to decode."""
    b = fmt.std_bias if bias is None else check_bias(bias, fmt)
    return 2.0 ** (b - fmt.std_bias)


def max_value(bias: int, fmt: Fp8Format = E5M2) -> float:
    """Largest finite magnitude at ``bias``."""
    return fmt.max_finite / _scale(bias, fmt)


def min_subnormal(bias: int, fmt: Fp8Format = E5M2) -> float:
    """Smallest non-zero magnitude at ``bias``: ``2^(1 - bias - man_bits)``."""
    return 2.0 ** (1 - check_bias(bias, fmt) - fmt.man_bits)


def _magnitudes(fmt: Fp8Format) -> torch.Tensor:
    """float32 magnitude of every code 0..255 at the standard bias (NaN codes give NaN)."""
    return torch.arange(256, dtype=torch.uint8).view(fmt.dtype).float().abs()


def encode(x: torch.Tensor, bias: Optional[int] = None, fmt: Fp8Format = E5M2, saturate: bool = True,
           rounding: str = "nearest", generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Encode a float tensor to FP8 codes (``torch.uint8``, same shape) at ``bias``."""
    if rounding not in ("nearest", "stochastic"):
        raise Fp8Error(f"{fmt.name}: rounding={rounding!r} (expected 'nearest' or 'stochastic')")
    scale = _scale(bias, fmt)
    s = x.detach().float()
    if saturate:  # clamp before scaling: the scaled value could overflow float32
        lim = fmt.max_finite / scale
        s = s.clamp(-lim, lim) if not fmt.has_inf else torch.where(s.isinf(), s, s.clamp(-lim, lim))
    s = s * scale
    if not saturate and not fmt.has_inf:  # past max + ulp/2 (the tie rounds to max, whose code is even)
        mags = _magnitudes(fmt)
        limit = 1.5 * fmt.max_finite - 0.5 * float(mags[fmt.max_code - 1])
        s = torch.where(s.abs() > limit, torch.full_like(s, float("nan")).copysign(s), s)
    codes = s.to(fmt.dtype).view(torch.uint8)
    if rounding == "stochastic":
        codes = _stochastic(s, codes, fmt, generator)
    return codes


def _stochastic(s: torch.Tensor, nearest: torch.Tensor, fmt: Fp8Format, gen: Optional[torch.Generator]) -> torch.Tensor:
    """Replace round-to-nearest codes by a random choice between the two neighbours."""
    mags = _magnitudes(fmt)
    sign = nearest & 0x80
    mag = (nearest & 0x7F).long()
    a = s.abs()
    finite = (mag <= fmt.max_code) & torch.isfinite(a)
    lo = torch.where(mags[mag] > a, mag - 1, mag).clamp(0, fmt.max_code)
    hi = (lo + 1).clamp(max=fmt.max_code)
    span = mags[hi] - mags[lo]
    p = torch.where(span > 0, (a - mags[lo]) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(a))
    u = torch.rand(a.shape, generator=gen, device=a.device)
    pick = torch.where(u < p, hi, lo)
    return torch.where(finite, pick.to(torch.uint8) | sign, nearest)


def decode(codes: torch.Tensor, bias: Optional[int] = None, fmt: Fp8Format = E5M2) -> torch.Tensor:
    """Decode FP8 codes (``torch.uint8``) at ``bias`` to float32 (exact)."""
    if codes.dtype != torch.uint8:
        raise Fp8Error(f"{fmt.name}: codes must be torch.uint8, got {codes.dtype}")
    return codes.view(fmt.dtype).float() / _scale(bias, fmt)


def quantize(x: torch.Tensor, bias: Optional[int] = None, fmt: Fp8Format = E5M2, **kw) -> torch.Tensor:
    """Round-trip ``x`` through FP8 (what a DRAM write then read returns), in ``x.dtype``."""
    return decode(encode(x, bias, fmt, **kw), bias, fmt).to(x.dtype)


def choose_bias(median: float) -> int:
    """The seed's table: nearest (in log2) entry of ``2^k -> 16 - k``, clamped to 10..31.

    A median of 0 (all-zero stream) gives the largest bias; NaN raises."""
    if math.isnan(median) or median < 0:
        raise Fp8Error(f"median magnitude {median!r} is not a non-negative number")
    if median == 0:
        return BIAS_MAX
    if math.isinf(median):
        return BIAS_MIN
    k = math.floor(math.log2(median) + 0.5)
    return int(min(BIAS_MAX, max(BIAS_MIN, 16 - k)))


class StatsUnit:
    """Statistical analysis unit of one tensor stream: samples magnitudes of the tensors that
    cross DRAM, keeps a bounded uniform sample, reports its median and the table's bias.

    Zeros are not sampled: they carry no scale, and after a ReLU (or in the gradient behind a
    ReLU or max-pool) they are often over half of a tensor, which would drive the median to 0
    and the bias to 31 (largest value 0.875) and clip every activation above it.
    Each observed tensor contributes at most ``per_tensor`` randomly chosen finite non-zero
    magnitudes; the pool is randomly thinned to ``capacity`` when it overflows (so old and new
    tensors stay represented in proportion)."""

    def __init__(self, per_tensor: int = 256, capacity: int = 4096, seed: int = 0) -> None:
        if per_tensor < 1 or capacity < per_tensor:
            raise Fp8Error(f"StatsUnit: need 1 <= per_tensor ({per_tensor}) <= capacity ({capacity})")
        self.per_tensor = per_tensor
        self.capacity = capacity
        self._gen = torch.Generator().manual_seed(seed)
        self._pool: List[torch.Tensor] = []
        self._size = 0
        self.observed = 0  # elements seen

    def observe(self, x: torch.Tensor) -> None:
        flat = x.detach().reshape(-1).float().abs()
        self.observed += flat.numel()
        flat = flat[torch.isfinite(flat) & (flat > 0)]
        if flat.numel() > self.per_tensor:
            flat = flat[torch.randint(flat.numel(), (self.per_tensor,), generator=self._gen)]
        if flat.numel() == 0:
            return
        self._pool.append(flat.cpu())
        self._size += flat.numel()
        if self._size > self.capacity:
            pool = torch.cat(self._pool)
            self._pool = [pool[torch.randperm(pool.numel(), generator=self._gen)[: self.capacity]]]
            self._size = self.capacity

    @property
    def sample(self) -> torch.Tensor:
        return torch.cat(self._pool) if self._pool else torch.empty(0)

    def median(self) -> Optional[float]:
        """Median non-zero magnitude of the sample (lower median), None if none was observed."""
        return float(self.sample.median()) if self._size else None

    def bias(self, default: int = 15) -> int:
        m = self.median()
        return default if m is None else choose_bias(m)
