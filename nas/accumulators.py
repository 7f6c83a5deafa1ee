"""Accumulator profiler: the narrowest ``acc_bits`` per compute stage that cannot overflow.

Calibration data runs through the golden model with exact (unbounded) accumulators
(:func:`golden.accumulator_ranges`). Each stage gets the width that holds its observed range
widened by ``margin_bits`` (headroom for unseen data), but never more than the width that
cannot overflow for *any* input (the bound from the actual weights and the input range) and
never more than the naive width-only bound. Partial sums may wrap inside an ``ap_int``
accumulator without harm (two's-complement addition is modular), so only the final sum's
range matters — which is what the golden model's ``wrap`` emulates.

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
from .quantized import QuantizedModel, Stage

MAX_ACC_BITS = 64


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
    hi = (pos.sum(axis=red) * hi_x + neg.sum(axis=red) * lo_x)
    lo = (pos.sum(axis=red) * lo_x + neg.sum(axis=red) * hi_x)
    if b is not None:
        hi, lo = hi + b, lo + b
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

    @property
    def overflows(self) -> bool:
        """The observed range does not fit the stage's current width."""
        return self.observed_bits > self.current_bits


def profile(model: QuantizedModel, x_int: np.ndarray, margin_bits: int = 1) -> List[AccProfile]:
    """Profile every compute stage on integer calibration inputs (N, L, C)."""
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
        chosen = min(obs + margin_bits, bound, naive, MAX_ACC_BITS)
        rows.append(AccProfile(i, s.kind, lo, hi, obs, naive, bound, max(chosen, obs), s.acc_bits))
    return rows


def apply(model: QuantizedModel, rows: List[AccProfile]) -> QuantizedModel:
    """A copy of the model with each profiled stage's ``acc_bits`` set to its chosen width."""
    chosen = {r.stage: r.chosen_bits for r in rows}
    stages = [dataclasses.replace(s, acc_bits=chosen.get(i, s.acc_bits)) for i, s in enumerate(model.stages)]
    return dataclasses.replace(model, stages=stages)


def check(rows: List[AccProfile]) -> List[str]:
    """One line per stage whose accumulator would overflow at its current width."""
    return [f"stage {r.stage} ({r.kind}): accumulator range [{r.lo}, {r.hi}] needs {r.observed_bits} bits, "
            f"acc_bits={r.current_bits}" for r in rows if r.overflows]


def require_no_overflow(model: QuantizedModel, x_int: np.ndarray, where: Optional[str] = None) -> List[AccProfile]:
    """Profile at the model's current widths and raise if any accumulator overflows (rows keep
    the current widths as their chosen ones)."""
    rows = profile(model, x_int, margin_bits=0)
    bad = check(rows)
    if bad:
        prefix = f"{where}: " if where else ""
        raise AccumulatorOverflowError(prefix + "accumulator overflow on the calibration data: " + "; ".join(bad))
    return [dataclasses.replace(r, chosen_bits=r.current_bits) for r in rows]


def table(rows: List[AccProfile]) -> List[Dict[str, object]]:
    return [dataclasses.asdict(r) for r in rows]
