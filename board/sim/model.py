"""Hidden performance and power model of the simulated boards (parameters in ``params.yaml``).

Hardware time of one ``dnnu(in, out, batch)`` call on a dataflow pipeline::

    fold(stage)   conv1d: out_len*ceil(K/kp)*ceil(Cin/simd)*ceil(Cout/pe)   dwconv1d: out_len*ceil(K/kp)*ceil(C/pe)
                  pwconv1d: out_len*ceil(Cin/simd)*ceil(Cout/pe)            dense: ceil(Nin/simd)*ceil(Nout/pe)
                  pools: in_len*ceil(C/pe)
    interval_i  = ceil(fold_i * ii[kind]) + stage_overhead          (cycles per sample)
    latency_i   = interval_i + depth[kind]
    dma         = bytes per sample at the board's AXI bandwidth, as one more pipeline stage
    cycles      = start_overhead + sum(latency) + (batch - 1) * max(interval, dma)
    time        = cycles / f_PL + dma.setup_ns, times (1 + jitter), jitter ~ N(0, sigma) seeded

Power: ``static_w`` always; while the DNNU runs add
``(dyn_base + dyn_per_stage * stages + dyn_per_mac_lane * sum(lanes * w_bits*in_bits/64)) * f_PL/100MHz``.
Only the simulated device reads this module; the host's cost model never does.
"""
from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import yaml

from ..errors import SimError

PARAMS = Path(__file__).with_name("params.yaml")
COMPUTE = ("conv1d", "dwconv1d", "pwconv1d", "dense")


@lru_cache(maxsize=1)
def _all_params() -> Dict[str, Any]:
    return yaml.safe_load(PARAMS.read_text())


def board_params(board: str) -> Dict[str, Any]:
    p = _all_params()
    if board not in p:
        raise SimError(f"no simulated board {board!r} (simulated boards: {', '.join(p)})")
    return p[board]


def _c(a: int, b: int) -> int:
    return -(-int(a) // max(1, int(b)))


def fold(s: Mapping[str, Any]) -> int:
    """Folded loop trip count of one stage per sample (see module docstring)."""
    k, pe, simd, kp = s["kind"], s.get("pe", 1), s.get("simd", 1), s.get("kp", 1)
    if k == "conv1d":
        return s["out_len"] * _c(s.get("kernel", 1), kp) * _c(s["in_ch"], simd) * _c(s["out_ch"], pe)
    if k == "dwconv1d":
        return s["out_len"] * _c(s.get("kernel", 1), kp) * _c(s["in_ch"], pe)
    if k == "pwconv1d":
        return s["out_len"] * _c(s["in_ch"], simd) * _c(s["out_ch"], pe)
    if k == "dense":
        return _c(s["in_len"] * s["in_ch"], simd) * _c(s["out_ch"], pe)
    return s["in_len"] * _c(s["in_ch"], pe)


@dataclass(frozen=True)
class Design:
    """What the model needs of a bundle: its stages and bytes moved per sample."""

    stages: Tuple[Mapping[str, Any], ...]
    in_bytes: int
    out_bytes: int

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> "Design":
        q = (manifest.get("model") or {}).get("quantization") or {}
        stages = tuple(q.get("stages") or ())
        if not stages:
            raise SimError(f"bundle {manifest.get('name')!r}: manifest model.quantization.stages is empty; "
                           "the simulated board needs the stages for its cycle model")
        io = manifest["io"]
        size = lambda spec: int(np.prod(spec["shape"])) * np.dtype(spec["dtype"]).itemsize  # noqa: E731
        return cls(stages, size(io["input"]), size(io["output"]))


class TimingModel:
    def __init__(self, board: str, design: Design) -> None:
        p = board_params(board)
        c = p["cycles"]
        self.intervals = [math.ceil(fold(s) * c["ii"][s["kind"]]) + c["stage_overhead"] for s in design.stages]
        self.fill = sum(i + c["depth"][s["kind"]] for i, s in zip(self.intervals, design.stages))
        self.start_overhead = c["start_overhead"]
        self.bytes = design.in_bytes + design.out_bytes
        self.mbps, self.setup_ns = p["dma"]["mbps"], p["dma"]["setup_ns"]
        self.sigma = p["jitter"]
        self._rng = np.random.default_rng(p["seed"])

    def cycles(self, batch: int, clock_mhz: float) -> float:
        dma = self.bytes * clock_mhz / self.mbps  # cycles per sample at the AXI bandwidth
        return self.start_overhead + self.fill + dma + (batch - 1) * max(self.intervals + [dma])

    def time_ns(self, batch: int, clock_mhz: float) -> int:
        """Hardware time of one call, with the seeded jitter (deterministic per device)."""
        base = self.cycles(batch, clock_mhz) * 1e3 / clock_mhz + self.setup_ns
        j = float(np.clip(self._rng.standard_normal(), -3, 3)) * self.sigma
        return int(round(base * (1 + j)))


class PowerModel:
    """Board power over (virtual) time from the DNNU's busy intervals."""

    def __init__(self, board: str) -> None:
        p = board_params(board)["power"]
        self.static_w = float(p["static_w"])
        self.rails: Dict[str, Dict[str, float]] = {k: dict(v) for k, v in (p.get("rails") or {}).items()}
        self._p = p
        self.dynamic_w = 0.0
        self._starts: List[int] = []
        self._ends: List[int] = []
        self._cum: List[float] = [0.0]  # busy ns before interval i
        self._lock = threading.Lock()

    def configure(self, design: Design, clock_mhz: float) -> None:
        p = self._p
        lanes = sum(s.get("pe", 1) * s.get("simd", 1) * s.get("kp", 1) * s.get("w_bits", 8) * s.get("in_bits", 8) / 64
                    for s in design.stages if s["kind"] in COMPUTE)
        mw = p["dyn_base_mw"] + p["dyn_per_stage_mw"] * len(design.stages) + p["dyn_per_mac_lane_mw"] * lanes
        self.dynamic_w = mw * 1e-3 * clock_mhz / 100.0

    def busy(self, start_ns: int, end_ns: int) -> None:
        with self._lock:
            self._cum.append(self._cum[-1] + (end_ns - start_ns))
            self._starts.append(start_ns)
            self._ends.append(end_ns)

    def busy_ns_until(self, t: int) -> float:
        with self._lock:
            i = bisect.bisect_right(self._starts, t)
            if i == 0:
                return 0.0
            return self._cum[i - 1] + min(t, self._ends[i - 1]) - self._starts[i - 1]

    def energy_j(self, t0: int, t1: int, rail: str = "") -> float:
        """Energy over ``[t0, t1]`` ns of the whole board or of one rail."""
        busy = (self.busy_ns_until(t1) - self.busy_ns_until(t0)) * 1e-9
        static, share = (self.static_w, 1.0) if not rail else (self.rails[rail]["static_w"], self.rails[rail]["dyn_share"])
        return static * (t1 - t0) * 1e-9 + self.dynamic_w * share * busy


class AveragingSensor:
    """A power sensor reporting the average over the interval since its previous reading, as
    an INA226-style monitor with averaging does; pluggable into ``pynq.pmbus.DataRecorder``."""

    def __init__(self, name: str, model: PowerModel, clock: Any, rail: str = "") -> None:
        self.name, self.parents = name, ()
        self._model, self._clock, self._rail = model, clock, rail
        self._t = clock.perf_counter_ns()

    def get_value(self, parents: Sequence[float] = ()) -> float:
        t = self._clock.perf_counter_ns()
        t0, self._t = self._t, t
        if t <= t0:
            return self._model.energy_j(t - 1, t, self._rail) / 1e-9
        return self._model.energy_j(t0, t, self._rail) / ((t - t0) * 1e-9)

    @property
    def value(self) -> float:
        return self.get_value()

    def __repr__(self) -> str:
        return f"Sensor {{name={self.name}, simulated}}"
