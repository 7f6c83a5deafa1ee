"""What the search can constrain and optimise, and how the cheap metrics are computed.

Cheap metrics come in closed form from the cost model (:mod:`sustainml.nas.costmodel`) for
the design at a given parallelization, before any training:

* ``folded`` (default): every stage at pe = simd = kp = 1, the minimum-resource DNNU (the
  HALF seed's PE = SIMD = 1); one :func:`costmodel.estimate` call, well under a millisecond;
* ``latency`` | ``energy`` | ``dsp``: the unrolling the generator would choose for that
  objective (:func:`sustainml.nas.folding.fold`); milliseconds per candidate.

The one expensive metric is ``accuracy``: the validation accuracy of the exported integer
model (selection); test accuracy is reported next to it, never selected on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..cost_sources import CostSource
from ..costmodel import Estimate, estimate
from ..folding import OBJECTIVES as FOLD_OBJECTIVES
from ..folding import fold
from ..quantized import plan_stages
from ..topology import Topology

PARALLELIZATIONS = ("folded",) + FOLD_OBJECTIVES


@dataclass(frozen=True)
class Metric:
    name: str
    goal: str  # "max" | "min"
    unit: str
    doc: str
    cheap: bool = True


METRICS: Dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "max", "", "validation accuracy of the exported integer model", cheap=False),
    Metric("latency_us", "min", "us", "latency of one inference call (cost model)"),
    Metric("energy_uj", "min", "uJ", "PL energy per inference at steady state (cost model)"),
    Metric("power_w", "min", "W", "PL power (cost model)"),
    Metric("dsp", "min", "", "DSP48 slices"),
    Metric("lut", "min", "", "LUTs"),
    Metric("ff", "min", "", "flip-flops"),
    Metric("bram36", "min", "", "36 Kb block RAMs"),
    Metric("params", "min", "", "parameters"),
    Metric("macs", "min", "", "multiply-accumulates per inference"),
)}


def metrics_of(est: Estimate, topology: Topology) -> Dict[str, float]:
    """Cheap metric values of an estimate (keys of :data:`METRICS` except accuracy)."""
    return {"latency_us": est.latency_s * 1e6, "energy_uj": est.energy_j * 1e6, "power_w": est.power["pl"],
            "dsp": float(est.dsp), "lut": float(est.lut), "ff": float(est.ff), "bram36": est.bram36,
            "params": float(topology.params()), "macs": float(topology.macs())}


class Costing:
    """Cheap objectives of topologies on one board with one coefficient set and parallelization."""

    def __init__(self, source: CostSource, parallelization: str = "folded"):
        if parallelization not in PARALLELIZATIONS:
            raise ValueError(f"parallelization {parallelization!r} not in {PARALLELIZATIONS}")
        self.source = source
        self.parallelization = parallelization
        self.calls = 0
        self.seconds = 0.0

    def estimate(self, topology: Topology, parallelization: Optional[str] = None) -> Estimate:
        how = parallelization or self.parallelization
        if how == "folded":
            return estimate(topology, self.source.board, self.source.coeffs)
        return fold(plan_stages(topology), self.source.board, how, coeffs=self.source.coeffs).estimate

    def cheap(self, topology: Topology) -> Tuple[Dict[str, float], bool]:
        """(cheap metrics, fits the board) of a topology; timed (see :attr:`mean_ms`)."""
        t0 = time.perf_counter()
        est = self.estimate(topology)
        out = metrics_of(est, topology)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out, est.fits

    @property
    def mean_ms(self) -> float:
        return 1e3 * self.seconds / self.calls if self.calls else 0.0
