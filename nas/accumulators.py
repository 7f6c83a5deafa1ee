"""Accumulator widths per compute stage: provably overflow-free by default, narrowed on request.

Two ways to choose ``acc_bits`` (``WIDTHS``):

* ``bound`` (the default): the width that no input can overflow, from the actual weights, the
  bias and the input range (:func:`weight_bound_bits`). Every running sum of the stage, in any
  order, lies within it, so wrap and saturate both give the exact result for every input.
* ``observed``: calibration data runs through the golden model with exact accumulators
  (:func:`golden.accumulator_ranges`); each stage gets the width of its observed final-sum range
  widened by ``margin_bits``, never more than the bound. Inputs outside the calibration range can
  then overflow: they wrap (modular, harmless for partial sums, wrong if the final sum leaves the
  range), or clip with ``acc_overflow="saturate"`` (nas/quantized.py). A saturating accumulator
  clips after each fold step, so :func:`widen_for_saturation` also fits the running sums seen on
  the calibration data at the chosen SIMD/KP.

:func:`check` reports every stage whose observed range does not fit its current width: such a
model is reported, never silently wrapped.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from sustainml.errors import SustainmlError

from . import golden
from .quantized import ACC_OVERFLOW, QuantizedModel, Stage

MAX_ACC_BITS = 64
#: Accumulator width choices (module docstring).
WIDTHS = ("bound", "observed")


class AccumulatorOverflowError(SustainmlError, ValueError):
    """Accumulators would overflow at their widths; the message names the stages."""


def bits_for(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every value in [lo, hi] (at least 2)."""
    b = 2
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def _in_range(stage: Stage) -> tuple:
    if stage.in_signed:
        return -(1 << (stage.in_bits - 1)), (1 << (stage.in_bits - 1)) - 1
    return 0, (1 << stage.in_bits) - 1


def naive_bits(stage: Stage) -> int:
    """Width-only worst case: in_bits + w_bits + ceil(log2(terms)) + 1 (bias)."""
    return stage.in_bits + stage.w_bits + int(np.ceil(np.log2(max(stage.reduction, 1)))) + 1


def weight_bound_bits(model: QuantizedModel, i: int) -> int:
    """Width that no input can overflow: bias + the extreme of sum(x*w) over the input range."""
    s = model.stages[i]
    w = model.w(i).astype(np.int64)
    b = model.b(i)
    lo_x, hi_x = _in_range(s)
    pos, neg = np.clip(w, 0, None), np.clip(w, None, 0)
    k = s.kind
    if k == "dwconv1d":  # (K, C): one filter per channel
        red = (0,)
    elif k in ("conv1d",):  # (K, Cin, Cout)
        red = (0, 1)
    else:  # pwconv1d (Cin, Cout), dense (Nin, Nout)
        red = (0,)
    psum, nsum = pos.sum(axis=red).astype(object), neg.sum(axis=red).astype(object)  # Python ints: no int64 overflow
    hi = psum * hi_x + nsum * lo_x
    lo = psum * lo_x + nsum * hi_x
    if b is not None:
        hi, lo = hi + b.astype(object), lo + b.astype(object)
    return bits_for(int(lo.min()), int(hi.max()))


@dataclass
class AccProfile:
    """One compute stage's profile."""

    stage: int
    kind: str
    lo: int
    hi: int
    observed_bits: int
    naive_bits: int
    bound_bits: int
    chosen_bits: int
    current_bits: int
    running_bits: Optional[int] = None  # saturate: width of the running sums at the chosen SIMD/KP

    @property
    def overflows(self) -> bool:
        """The observed range does not fit the stage's current width."""
        return self.observed_bits > self.current_bits

    @property
    def safe(self) -> bool:
        """No input can overflow the chosen width."""
        return self.chosen_bits >= self.bound_bits


def profile(model: QuantizedModel, x_int: np.ndarray, margin_bits: int = 1,
            width: str = "bound") -> List[AccProfile]:
    """Profile every compute stage on integer calibration inputs (N, L, C) and choose its width:
    ``bound`` (overflow-free for any input) or ``observed`` (+ ``margin_bits``, capped at the bound)."""
    if width not in WIDTHS:
        raise AccumulatorOverflowError(f"accumulator width {width!r}: expected one of {', '.join(WIDTHS)}")
    if len(x_int) == 0:
        raise AccumulatorOverflowError("accumulator profiling needs at least one calibration sample")
    ranges = golden.accumulator_ranges(model, x_int)
    rows = []
    for i, s in enumerate(model.stages):
        if not s.is_compute:
            continue
        lo, hi = ranges[i]
        obs = bits_for(lo, hi)
        naive = naive_bits(s)
        bound = weight_bound_bits(model, i)
        if width == "bound":
            if bound > MAX_ACC_BITS:
                raise AccumulatorOverflowError(f"stage {i} ({s.kind}): the overflow-free accumulator needs {bound} "
                                               f"bits, more than {MAX_ACC_BITS}")
            chosen = bound
        else:
            chosen = max(min(obs + margin_bits, bound, naive, MAX_ACC_BITS), obs)
        rows.append(AccProfile(i, s.kind, lo, hi, obs, naive, bound, chosen, s.acc_bits))
    return rows


def apply(model: QuantizedModel, rows: List[AccProfile], overflow: Optional[str] = None) -> QuantizedModel:
    """A copy of the model with each profiled stage's ``acc_bits`` set to its chosen width (and
    ``acc_overflow`` set on every compute stage when ``overflow`` is given)."""
    if overflow is not None and overflow not in ACC_OVERFLOW:
        raise AccumulatorOverflowError(f"accumulator overflow {overflow!r}: expected one of {', '.join(ACC_OVERFLOW)}")
    chosen = {r.stage: r.chosen_bits for r in rows}
    stages = [dataclasses.replace(s, acc_bits=chosen.get(i, s.acc_bits),
                                  acc_overflow=overflow if overflow and s.is_compute else s.acc_overflow)
              for i, s in enumerate(model.stages)]
    return dataclasses.replace(model, stages=stages)


def widen_for_saturation(model: QuantizedModel, rows: List[AccProfile], x_int: np.ndarray,
                         margin_bits: int = 0) -> List[AccProfile]:
    """Rows whose chosen width also holds every running sum seen on ``x_int`` at the model's
    SIMD/KP (+ ``margin_bits``, capped at the bound): a saturating accumulator then clips nothing
    on the calibration data. Apply them with :func:`apply`."""
    running = golden.running_ranges(model, x_int)
    out = []
    for r in rows:
        rb = bits_for(*running[r.stage])
        chosen = max(r.chosen_bits, min(rb + margin_bits, r.bound_bits)) if r.chosen_bits < rb else r.chosen_bits
        out.append(dataclasses.replace(r, running_bits=rb, chosen_bits=chosen))
    return out


def check(rows: List[AccProfile]) -> List[str]:
    """One line per stage whose accumulator would overflow at its current width."""
    return [f"stage {r.stage} ({r.kind}): accumulator range [{r.lo}, {r.hi}] needs {r.observed_bits} bits, "
            f"acc_bits={r.current_bits}" for r in rows if r.overflows]


def require_no_overflow(model: QuantizedModel, x_int: np.ndarray, where: Optional[str] = None) -> List[AccProfile]:
    """Profile at the model's current widths and raise if any accumulator overflows (rows keep
    the current widths as their chosen ones)."""
    rows = profile(model, x_int, margin_bits=0, width="observed")
    bad = check(rows)
    if bad:
        prefix = f"{where}: " if where else ""
        raise AccumulatorOverflowError(prefix + "accumulator overflow on the calibration data: " + "; ".join(bad))
    return [dataclasses.replace(r, chosen_bits=r.current_bits) for r in rows]


def table(rows: List[AccProfile]) -> List[Dict[str, object]]:
    return [{**dataclasses.asdict(r), "safe": r.safe} for r in rows]


def wrap_warning(rows: List[AccProfile], overflow: str) -> Optional[str]:
    """The sentence a report and manifest carry when some width is below the overflow-free bound."""
    narrow = [r.stage for r in rows if not r.safe]
    if not narrow:
        return None
    what = "clip (saturate)" if overflow == "saturate" else "wrap around"
    return (f"accumulators of stage(s) {', '.join(map(str, narrow))} are narrower than the overflow-free width: "
            f"inputs outside the calibration range can {what}")
