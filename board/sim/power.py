"""Power of the simulated boards: static power plus each call's dynamic energy from the circuit's activity.

This is a MODEL, not a measurement. Only the simulated device reads this module; nothing under
``nas/`` or ``host/`` imports it (tests/test_board_runtime.py checks), so the host's cost model
learns its effect only through measurements.

Contract.

* Static power: ``params.yaml`` ``power.static_w`` (whole board) and per readable rail
  ``power.rails.NAME.static_w``. These board idle figures are modelling choices of the simulated
  boards, not taken from a published source. ``power.energy_pj`` (absent in the shipped file)
  may override the reference energies of :data:`PJ` for a what-if ground truth.
* Dynamic energy of one call (rtlsim bundles only: a C-simulation bundle has no circuit, so its
  calls add no dynamic energy) from the activity monitor's counters
  (:func:`~.rtlsim.activity_counters`) and the AXI beats the harness served, as energy per event
  for the board's family (:data:`FAMILIES`) in three classes:

  ``logic`` (VCCINT): multiplier inputs toggling, accumulator additions, stream register bits
  toggling, pooling operations; ``bram``: ROM word reads; ``dram``: 64-bit AXI beats to/from DDR.

* Power over (virtual) time: static power always, plus each call's energy spread evenly over its
  busy interval (ap_start -> ap_done) - what an averaging sensor (INA226 on PMBus, or an external
  meter) reports (:class:`AveragingSensor`).

Energies per event (derivation, every figure named):

* ASIC figures at 45 nm, 0.9 V, from M. Horowitz, "Computing's energy problem (and what we can do
  about it)", ISSCC 2014, Fig. 1.1.9: 8-bit integer multiply 0.2 pJ, 32-bit integer add 0.1 pJ,
  8-bit add 0.03 pJ, 64-bit read of an 8 KB SRAM 10 pJ, DRAM 1.3-2.6 nJ per 64-bit access.
  (The 32-bit add and multiply and the 8 KB SRAM figures are quoted with the same values in
  PMC8934428, Table 3.)
* FPGA vs ASIC: dynamic power ratio about 14 for logic-only circuits (I. Kuon, J. Rose,
  "Measuring the gap between FPGAs and ASICs", IEEE TCAD 26(2), 2007, 90 nm both); applied to
  ``logic`` events. Hard blocks narrow the gap (same paper): ``bram`` reads get no ratio (the
  SRAM figure as is), DSP-mapped multipliers are charged as logic (an upper bound).
* Node and voltage (derived, first-order CV^2 with C proportional to the feature size):
  ``scale = node/45 * (VCCINT/0.9)^2`` with VCCINT 1.0 V (Zynq-7000, DS187) and 0.85 V (Zynq
  UltraScale+, DS925): 0.768 (28 nm) and 0.317 (16 nm). DRAM energy is not scaled.
* Per event (derived): multiplier energy is proportional to ``w_bits * in_bits`` (array
  multiplier; Horowitz's 8-bit 0.2 pJ vs 32-bit 3.1 pJ is 15.5x for 16x the bit product) and the
  reference is for random operands (each input bit toggles with probability 1/2), so one
  operand bit toggle reaching a multiplier costs ``0.2 pJ * (wb*ib/64) / ((wb+ib)/2)``; an
  accumulator addition costs ``0.1 pJ * acc_bits/32``; a pooling operation ``0.03 pJ * bits/8``;
  one stream register bit toggle is charged one bit slice of the 32-bit adder (``0.1/32 pJ``, an
  order-of-magnitude assumption for a flip-flop plus its route); a ROM read costs ``10 pJ/64``
  per bit of the weight and bias words read; an AXI beat the midpoint 1.95 nJ of Horowitz's DRAM
  range.
* Not modelled: the free-running clock tree (part of the static figure), idle-cycle activity
  between calls, glitches, I/O, and the toggles of registers the monitor does not watch
  (accumulators, sliding-window line buffers, FIFO storage, control); their switching is only
  represented through the additions and stream beats charged above.
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence

from ..errors import SimError
from .rtlsim import COMPUTE_KINDS

# ---- published figures (Horowitz, ISSCC 2014; 45 nm, 0.9 V), pJ
MUL8_PJ = 0.2
ADD32_PJ = 0.1
ADD8_PJ = 0.03
SRAM64_PJ = 10.0
DRAM64_PJ = (1300.0 + 2600.0) / 2  # midpoint of 1.3-2.6 nJ
#: Kuon & Rose 2007: FPGA / ASIC dynamic power, logic-only circuits.
FPGA_ASIC_DYN = 14.0
REF_NODE_NM, REF_V = 45.0, 0.9
CLASSES = ("logic", "bram", "dram")
#: The reference energies (pJ, 45 nm, 0.9 V) by name, as ``power.energy_pj`` may override them.
PJ = {"mul8": MUL8_PJ, "add32": ADD32_PJ, "add8": ADD8_PJ, "sram64": SRAM64_PJ, "dram64": DRAM64_PJ}


@dataclass(frozen=True)
class Family:
    """A device family: process node and nominal VCCINT (data sheets DS187 / DS925)."""

    node_nm: float
    vccint: float

    @property
    def scale(self) -> float:
        """First-order CV^2 scaling of the 45 nm, 0.9 V figures (see module docstring)."""
        return self.node_nm / REF_NODE_NM * (self.vccint / REF_V) ** 2


FAMILIES = {"zynq7": Family(28.0, 1.0), "zynqmp": Family(16.0, 0.85)}


def _chunk(s: Mapping[str, Any]) -> int:
    k = s["kind"]
    return {"conv1d": s.get("simd", 1) * s.get("kp", 1), "dwconv1d": s.get("kp", 1)}.get(k, s.get("simd", 1))


def call_energy_j(stages: Sequence[Mapping[str, Any]], counters: Mapping[str, int], axi_beats: int,
                  family: Family, pj: Mapping[str, float] = PJ) -> Dict[str, float]:
    """Dynamic energy (J) of one call per class (``logic``, ``bram``, ``dram``) from the monitor's
    ``counters`` (name -> count) and the AXI beats of the call (see module docstring); ``pj``: the
    reference energies (:data:`PJ`)."""
    sc = family.scale
    mul8, add32, add8, sram64, dram64 = (float(pj[k]) for k in ("mul8", "add32", "add8", "sram64", "dram64"))
    logic_pj = bram_pj = 0.0
    for k in range(len(stages) + 1):
        logic_pj += counters.get(f"st{k}.toggles", 0) * add32 / 32 * FPGA_ASIC_DYN * sc
    for i, s in enumerate(stages):
        kind = s["kind"]
        if kind not in COMPUTE_KINDS:
            ops = counters.get(f"st{i}.beats", 0) * s["in_ch"]
            logic_pj += ops * add8 * s.get("in_bits", 8) / 8 * FPGA_ASIC_DYN * sc
            continue
        wb, ib, pe, chunk = s.get("w_bits", 8), s.get("in_bits", 8), s.get("pe", 1), _chunk(s)
        fanout = 1 if kind == "dwconv1d" else pe  # a shared operand feeds every PE lane
        per_toggle = mul8 * (wb * ib / 64) / ((wb + ib) / 2)
        toggles = counters.get(f"s{i}.x_toggles", 0) * fanout + counters.get(f"s{i}.w_toggles", 0)
        adds = counters.get(f"s{i}.steps", 0) * pe * chunk
        logic_pj += (toggles * per_toggle + adds * add32 * s.get("acc_bits", 32) / 32) * FPGA_ASIC_DYN * sc
        word_bits = pe * chunk * wb + pe * s.get("acc_bits", 32)
        bram_pj += counters.get(f"s{i}.rom_reads", 0) * word_bits * sram64 / 64 * sc
    return {"logic": logic_pj * 1e-12, "bram": bram_pj * 1e-12, "dram": axi_beats * dram64 * 1e-12}


class PowerModel:
    """Board power over (virtual) time: static power plus the calls' energy over their busy intervals."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        p = params["power"]
        self.family = FAMILIES[str(p["family"])]
        over = dict(p.get("energy_pj") or {})
        unknown = sorted(set(over) - set(PJ))
        if unknown:
            raise SimError(f"power.energy_pj: unknown energy {unknown[0]!r} (known: {', '.join(PJ)})")
        self.pj: Dict[str, float] = {**PJ, **{k: float(v) for k, v in over.items()}}
        self.static_w = float(p["static_w"])
        self.rails: Dict[str, Dict[str, Any]] = {k: dict(v) for k, v in (p.get("rails") or {}).items()}
        self._starts: List[int] = []
        self._ends: List[int] = []
        self._energy: List[Dict[str, float]] = []
        self._cum: Dict[str, List[float]] = {c: [0.0] for c in CLASSES}  # energy of calls before call i
        self._lock = threading.Lock()

    def call(self, start_ns: int, end_ns: int, energy: Mapping[str, float]) -> None:
        """Record one call's dynamic energy per class over ``[start_ns, end_ns]`` (calls in time order)."""
        with self._lock:
            e = {c: float(energy.get(c, 0.0)) for c in CLASSES}
            for c in CLASSES:
                self._cum[c].append(self._cum[c][-1] + e[c])
            self._starts.append(start_ns)
            self._ends.append(max(end_ns, start_ns))
            self._energy.append(e)

    def _dynamic_until(self, t: int, classes: Sequence[str]) -> float:
        with self._lock:
            i = bisect.bisect_right(self._starts, t)
            if i == 0:
                return 0.0
            s, e = self._starts[i - 1], self._ends[i - 1]
            frac = 1.0 if t >= e else (t - s) / (e - s)
            return sum(self._cum[c][i - 1] + self._energy[i - 1][c] * frac for c in classes)

    def dynamic_j_until(self, t: int, rail: str = "") -> float:
        """Dynamic energy (J) drawn up to time ``t`` ns, of the board or of one rail."""
        return self._dynamic_until(t, self._classes(rail))

    def _classes(self, rail: str) -> Sequence[str]:
        if not rail:
            return CLASSES
        return tuple(self.rails[rail].get("events") or ())

    def energy_j(self, t0: int, t1: int, rail: str = "") -> float:
        """Energy over ``[t0, t1]`` ns of the whole board or of one rail."""
        static = self.static_w if not rail else float(self.rails[rail]["static_w"])
        cls = self._classes(rail)
        return static * (t1 - t0) * 1e-9 + self._dynamic_until(t1, cls) - self._dynamic_until(t0, cls)


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
