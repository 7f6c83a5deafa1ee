"""Parallelization (folding): per-stage ``pe``/``simd``/``kp`` for a resource budget.

The DNNU is a dataflow pipeline, so its throughput is set by its slowest stage (or by the
DMA). For a candidate interval ``T`` every stage independently needs an unrolling whose
interval is <= T; the cheapest such combination that fits the budget is found exactly by
merging the stages' Pareto fronts over (DSP, LUT, FF, BRAM) with budget pruning. Feasibility
is monotone in ``T``, so the smallest feasible ``T`` is a binary search over the intervals
the stages can reach. Objectives:

* ``latency``: smallest bottleneck interval within the budget, then the cheapest design at it;
* ``target_fps``: the cheapest design whose bottleneck meets ``clock / fps`` cycles;
* ``dsp``: the cheapest design (fully folded unless the budget forbids);
* ``energy``: the feasible interval whose cheapest design has the least energy per inference.

"Cheapest" minimises the budget-normalised resource sum ``sum_r used_r / budget_r``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from sustainml.errors import SustainmlError

from .catalogue import Board, get_board
from .costmodel import Coefficients, Estimate, StageCost, combine, load_coefficients, stage_cost, unroll_dims
from .quantized import Stage

OBJECTIVES = ("latency", "dsp", "energy")
RES = ("dsp", "lut", "ff", "bram18")
MAX_FRONT = 2000  # cap on a merged Pareto front (beyond it the cheapest points are kept)


class FoldingError(SustainmlError, ValueError):
    """No unrolling meets the budget / target; the message says what is short."""


def divisors(n: int) -> List[int]:
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def stage_options(stage: Stage, coeffs: Coefficients, index: int = 0) -> List[StageCost]:
    """Every legal unrolling of one stage with its cost (one option for pooling stages)."""
    dp, ds, dk = unroll_dims(stage)
    return [stage_cost(stage, coeffs, index, pe, simd, kp)
            for pe in divisors(dp) for simd in divisors(ds) for kp in divisors(dk)]


def _vec(c: StageCost) -> Tuple[float, ...]:
    return (float(c.dsp), c.lut, c.ff, float(c.bram18))


def budget_for(board: Board, coeffs: Coefficients, max_utilization: float = 1.0,
               overrides: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
    """Budget available to the stages: the part's resources times ``max_utilization`` minus the
    fixed shell (AXI interfaces); ``overrides`` (dsp, lut, ff, bram36) replace totals."""
    res = {k: float(v) for k, v in board.budget.items()}
    res.update({k: float(v) for k, v in (overrides or {}).items()})
    lut_c, ff_c = dict(coeffs.lut), dict(coeffs.ff)
    return {"dsp": res["dsp"] * max_utilization, "lut": res["lut"] * max_utilization - lut_c["lut_base"],
            "ff": res["ff"] * max_utilization - ff_c["ff_base"], "bram18": 2.0 * res["bram36"] * max_utilization}


def _pareto(points: List[Tuple[Tuple[float, ...], float, tuple]]) -> List[Tuple[Tuple[float, ...], float, tuple]]:
    """Drop dominated points (each point: resource vector, scalar cost, choice)."""
    points = sorted(points, key=lambda p: (p[1], p[0]))
    kept: List[Tuple[Tuple[float, ...], float, tuple]] = []
    for p in points:
        v = p[0]
        if any(all(a <= b for a, b in zip(k[0], v)) for k in kept):
            continue
        kept.append(p)
    return kept


class Folder:
    """Folding problem of one design on one board (options computed once, queried per ``T``)."""

    def __init__(self, stages: Sequence[Stage], board: Union[str, Board] = "pynq-z2",
                 coeffs: Optional[Coefficients] = None, budget: Optional[Mapping[str, float]] = None,
                 clock_mhz: Optional[float] = None):
        self.board = board if isinstance(board, Board) else get_board(board)
        self.coeffs = coeffs or load_coefficients(self.board)
        self.stages = list(stages)
        self.clock_mhz = float(clock_mhz or self.board.clock_mhz)
        self.budget = dict(budget) if budget is not None else budget_for(self.board, self.coeffs)
        self.options = [stage_options(s, self.coeffs, i) for i, s in enumerate(self.stages)]
        base = combine([o[0] for o in self.options], self.stages, self.board, self.coeffs, 1, self.clock_mhz)
        self.io_floor = max(base.io_in_interval, base.io_out_interval)
        self.floor = max([self.io_floor] + [min(c.interval for c in opts) for opts in self.options])
        self.intervals = sorted({c.interval for opts in self.options for c in opts if c.interval >= self.floor}
                                | {self.floor})

    def _cost(self, v: Sequence[float]) -> float:
        return sum(x / self.budget[r] if self.budget[r] > 0 else (0.0 if x == 0 else math.inf)
                   for r, x in zip(RES, v))

    def _fits(self, v: Sequence[float]) -> bool:
        return all(x <= self.budget[r] + 1e-9 for r, x in zip(RES, v))

    def cheapest(self, interval: int) -> Optional[List[StageCost]]:
        """Cheapest per-stage choice with every stage interval <= ``interval`` within the budget."""
        if interval < self.io_floor:
            return None
        front: List[Tuple[Tuple[float, ...], float, tuple]] = [((0.0, 0.0, 0.0, 0.0), 0.0, ())]
        for opts in self.options:
            ok = [c for c in opts if c.interval <= interval]
            if not ok:
                return None
            local = _pareto([(_vec(c), self._cost(_vec(c)), (c,)) for c in ok])
            merged = []
            for v, _, choice in front:
                for w, _, (c,) in local:
                    s = tuple(a + b for a, b in zip(v, w))
                    if self._fits(s):
                        merged.append((s, self._cost(s), choice + (c,)))
            if not merged:
                return None
            front = _pareto(merged)[:MAX_FRONT]
        return list(min(front, key=lambda p: p[1])[2])

    def estimate(self, choice: Sequence[StageCost], batch: int = 1) -> Estimate:
        return combine(choice, self.stages, self.board, self.coeffs, batch, self.clock_mhz)

    def min_interval(self) -> Tuple[int, List[StageCost]]:
        """Smallest feasible bottleneck interval and the cheapest design reaching it."""
        lo, hi = 0, len(self.intervals) - 1
        best = self.cheapest(self.intervals[hi])
        if best is None:
            raise FoldingError(self._short())
        while lo < hi:
            mid = (lo + hi) // 2
            sel = self.cheapest(self.intervals[mid])
            if sel is None:
                lo = mid + 1
            else:
                hi, best = mid, sel
        return self.intervals[hi], best

    def _short(self) -> str:
        need = [sum(v) for v in zip(*[_vec(min(opts, key=lambda c: c.mults)) for opts in self.options])]
        over = [f"{r} {n:.0f} > {self.budget[r]:.0f}" for r, n in zip(RES, need) if n > self.budget[r] + 1e-9]
        return (f"the design does not fit {self.board.name} even fully folded ("
                + (", ".join(over) or "no feasible unrolling") + ")")


@dataclass
class Folding:
    """Result: stages with pe/simd/kp set, the chosen interval and the design estimate."""

    stages: List[Stage]
    interval: int
    objective: str
    estimate: Estimate
    floor: int  # the lowest interval any unrolling could reach (DMA or a stage limit)

    def table(self) -> List[Dict[str, object]]:
        return [{"stage": c.index, "kind": c.kind, "pe": c.pe, "simd": c.simd, "kp": c.kp,
                 "cycles": c.interval, "multipliers": c.mults, "dsp": c.dsp} for c in self.estimate.stages]


def fold(stages: Sequence[Stage], board: Union[str, Board] = "pynq-z2", objective: str = "latency",
         target_fps: Optional[float] = None, coeffs: Optional[Coefficients] = None,
         budget: Optional[Mapping[str, float]] = None, clock_mhz: Optional[float] = None) -> Folding:
    """Choose pe/simd/kp for every stage (see module docstring); returns new Stage objects."""
    if objective not in OBJECTIVES:
        raise FoldingError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    f = Folder(stages, board, coeffs, budget, clock_mhz)
    if target_fps is not None:
        if not target_fps > 0:
            raise FoldingError(f"--target-fps {target_fps} must be positive")
        limit = int(f.clock_mhz * 1e6 // target_fps)
        choice = f.cheapest(limit) if limit >= f.floor else None
        if choice is None:
            best, _ = f.min_interval()
            raise FoldingError(f"cannot reach {target_fps:g} fps on {f.board.name} at {f.clock_mhz:g} MHz: needs "
                               f"<= {limit} cycles per sample, the best within the budget is {best} cycles "
                               f"({f.clock_mhz * 1e6 / best:.1f} fps)")
        objective = f"target_fps={target_fps:g}"
    elif objective == "latency":
        _, choice = f.min_interval()
    elif objective == "dsp":
        choice = f.cheapest(f.intervals[-1])
        if choice is None:
            raise FoldingError(f._short())
    else:
        t_min, _ = f.min_interval()
        scored = []
        for t in (t for t in f.intervals if t >= t_min):
            sel = f.cheapest(t)
            if sel is not None:
                scored.append((f.estimate(sel).energy_j, t, sel))
        choice = min(scored, key=lambda s: (s[0], s[1]))[2]
    new = [dataclasses.replace(s, pe=c.pe, simd=c.simd, kp=c.kp) for s, c in zip(stages, choice)]
    est = f.estimate(choice)
    return Folding(new, est.interval, objective, est, f.floor)
