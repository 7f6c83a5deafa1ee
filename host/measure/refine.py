"""Fit a board's cost-model coefficients to its measurements (``sustainml refine``).

What is measured, per design (one bundle on one board, from the database):

* latency of one call at each batch size: the ``stat`` (default ``min``) of the end-to-end
  times and of the driver's overhead (end-to-end minus hardware time), over repetitions. The
  minimum is the deterministic part: OS preemption on the PS only ever adds time, so it is the
  statistic a cost model can predict; ``p50`` is the other choice;
* the hardware time of a call (ap_start -> ap_done): the median within each repetition, then the
  smallest over repetitions. The driver reads the clock just after the ap_start write, so a
  preemption there shortens that call's reading (the minimum call would pick exactly those); a
  loaded host delays the driver's poll of ap_done by milliseconds, which lengthens whole
  repetitions (seen on rtlsim designs: 160 µs circuit time, a repetition's median 16 ms), so the
  quietest repetition's median is the reading;
* dynamic PL power while the DNNU computes: the board's dynamic energy per inference
  ((busy - idle) x time / inferences, from rails or a meter) times the batch over the hardware
  time of a call;
* idle power: the whole board, and split into PL and PS rails where rails are named (a rail
  whose name contains ``PS`` is the processing system's).

What is fitted (the cost model in :mod:`sustainml.nas.costmodel`):

* the driver, on its overhead: ``c_fixed_s - hw_fixed_s`` per call and ``c_byte_s`` per byte
  moved. Driver time is software on a shared CPU (the noisiest part of a measurement), so it is
  fitted apart from the cycle model and cannot bend it;
* the hardware, on its time: ``hw_fixed_s`` (DMA setup), the per-kind cycles per fold-loop trip
  ``ii_<kind>``, ``loop_scale``, ``stage_cycles``, ``stage_depth`` and ``serial``
  (:data:`~sustainml.nas.costmodel.LATENCY_REFINEMENT`); on circuit measurements (rtlsim) instead the
  RTL pipeline form (:data:`~sustainml.nas.costmodel.RTL_LATENCY`, cycles) plus ``hw_fixed_s``, here
  the time in seconds, not cycles, by which the driver's reading exceeds the circuit's: it sees
  ap_done at its first poll after the rise (an MMIO read, host time), whatever the PL clock;

  both by ``scipy.optimize.least_squares`` on relative errors with the robust ``soft_l1`` loss
  (an outlier unit costs linearly, not quadratically) and a weak pull towards the prior for
  coefficients the designs do not exercise;
* power: the event energies ``e_*_j`` (nas/costmodel.py event_counts) on the dynamic energy per
  inference of every design and batch (non-negative, same loss; the per-resource terms go to 0);
  ``static_w`` from the PL idle power (rails) or the whole board's idle power minus the
  prior's ``ps_w`` (a meter cannot tell PL from PS); ``ps_w`` from the PS rails when named.

Designs measured on C-simulation bundles have no hardware time (no circuit: the simulated board
reports none rather than inventing one); they are skipped, and the refinement's ``source`` says
how many.

Prediction error is reported on held-out designs: k-fold by design (each design is predicted
by coefficients fitted without it), before (the prior) and after refinement. The coefficients
written are the fit on every design.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from sustainml.nas.catalogue import Board, get_board
from sustainml.nas.costmodel import (COEFF_DIR, FF_REFINEMENT, LATENCY_REFINEMENT, LUT_REFINEMENT, POWER_REFINEMENT,
                                     RTL_LATENCY, STRUCT_REFINEMENT, Coefficients, Estimate, StageCost, combine,
                                     event_counts, load_coefficients, power_features, stage_cost, with_latency)
from sustainml.nas.costmodel import predict as predict_group
from sustainml.nas.quantized import Stage

from ..errors import UserError
from .db import Design, Measurement, MeasurementDB, rows_by_design
from .resources import fit_resources, yosys_counts

STATS = ("min", "p50", "mean")
SYNTH_MODES = ("cached", "run", "off")
_STAGE_FIELDS = {f.name for f in dataclasses.fields(Stage)}
#: latency parameters besides the per-kind ``ii_<kind>``: (name, lower, upper, scale)
_DRIVER_PARAMS = (("driver_s", 0.0, 1.0, 1e-5), ("c_byte_s", 0.0, 1e-5, 1e-9))
_HW_PARAMS = (("hw_fixed_s", 0.0, 1e-2, 1e-6), ("loop_scale", 0.0, 10.0, 0.5), ("stage_cycles", 0.0, 1e4, 10.0),
              ("stage_depth", 0.0, 1e4, 10.0), ("serial", 0.0, 1.0, 0.3))
_II_BOUNDS = (0.1, 10.0)
#: the RTL pipeline form (nas/costmodel.py RTL_LATENCY): (name, lower, upper, scale)
_RTL_PARAMS = (("rtl_start_cycles", 0.0, 1e5, 50.0), ("rtl_fill", 0.1, 10.0, 0.2), ("rtl_interval", 0.1, 10.0, 0.2),
               ("rtl_stage_cycles", 0.0, 1e4, 5.0))
#: the driver's reading beyond the circuit's cycles (s): its poll of ap_done (module docstring)
_OBSERVE_PARAM = (("hw_fixed_s", -2e-5, 2e-5, 1e-6),)
#: per-resource dynamic power terms of the prior form; a refined file sets them to 0 (see fit_power)
RESOURCE_POWER_TERMS = ("dsp_w", "lut_w", "ff_w", "bram_w")
#: event energies fitted on the measured dynamic energy per inference (nas/costmodel.py event_counts)
EVENT_TERMS = tuple(POWER_REFINEMENT)
PRIOR_PULL = 1e-2  # weight of the pull towards the prior (relative to a 1-scale deviation)
#: soft_l1 scale: relative errors up to ~5% count quadratically, larger ones (outlier units) linearly
F_SCALE = 0.05


class RefineError(UserError):
    """Nothing to fit (unknown board, too few designs, no power data where power is asked)."""


# ---------------------------------------------------------------------------------- observations
@dataclass
class Observation:
    """One design measured on one board."""

    design: Design
    stages: List[Stage]
    clock_mhz: float
    latency_s: Dict[int, float]  # batch -> call latency (the chosen statistic)
    hw_s: Dict[int, float]  # batch -> hardware time of a call (ap_start -> ap_done)
    overhead_s: Dict[int, float]  # batch -> the driver's time beyond the hardware's
    dynamic_w: Optional[float] = None  # median over the rows of the dynamic power while computing
    dyn_energy_j: Dict[int, float] = field(default_factory=dict)  # batch -> dynamic energy per inference
    idle_w: Optional[float] = None  # whole board (rails summed, or the meter)
    pl_idle_w: Optional[float] = None  # PL rails, when the rails are named
    ps_idle_w: Optional[float] = None
    power_source: Optional[str] = None
    resources: Optional[Dict[str, float]] = None  # Yosys: lut, ff, dsp, bram18 (host/measure/resources.py)
    _costs: Dict[Any, List[StageCost]] = field(default_factory=dict, repr=False)

    def estimate(self, board: Board, coeffs: Coefficients) -> Estimate:
        """The cost model's estimate of this design at batch 1 and its measured clock. Stage costs
        are computed once per structure coefficients and re-timed per latency coefficients."""
        costs = self._costs.get(coeffs.structure)
        if costs is None:
            costs = self._costs[coeffs.structure] = [stage_cost(s, coeffs, i) for i, s in enumerate(self.stages)]
        return combine([with_latency(c, coeffs) for c in costs], self.stages, board, coeffs, 1, self.clock_mhz)

    @property
    def name(self) -> str:
        return self.design.name

    @property
    def batches(self) -> List[int]:
        return sorted(self.latency_s)

    @property
    def per_inference_s(self) -> Optional[float]:
        """Steady-state time per inference: slope of call latency over batch (needs two batches)."""
        b = self.batches
        if len(b) < 2:
            return None
        return (self.latency_s[b[-1]] - self.latency_s[b[0]]) / (b[-1] - b[0])

    @property
    def board_power_w(self) -> Optional[float]:
        """Whole-board power while the DNNU computes."""
        if self.idle_w is None or self.dynamic_w is None:
            return None
        return self.idle_w + self.dynamic_w

    @property
    def energy_j(self) -> Optional[float]:
        """Whole-board energy per inference at steady state."""
        t, p = self.per_inference_s, self.board_power_w
        return None if t is None or p is None else p * t


def _is_ps_rail(name: str) -> bool:
    return "PS" in name.upper()


def _median(values: Sequence[float]) -> float:
    return float(np.median(values))


def _per_batch(rows: Sequence[Measurement], timing: str, stat: str,
               pick: Callable[[List[float]], float]) -> Dict[int, float]:
    """batch -> ``pick`` over the rows (repetitions) of each row's ``timing[stat]``, in seconds."""
    values: Dict[int, List[float]] = {}
    for m in rows:
        values.setdefault(m.batch, []).append(getattr(m, timing)[stat] * 1e-6)
    return {b: pick(v) for b, v in values.items()}


def observe(design: Design, rows: Sequence[Measurement], stat: str = "min") -> Observation:
    """Summarize a design's rows (see the module docstring)."""
    if stat not in STATS:
        raise RefineError(f"--stat {stat!r} is not one of {', '.join(STATS)}")
    stages = [Stage(**{k: v for k, v in s.items() if k in _STAGE_FIELDS}) for s in design.stages]
    if not stages:
        raise RefineError(f"design {design.name} ({design.bundle_hash[:12]}): its manifest has no stages")
    pick = min if stat == "min" else _median
    obs = Observation(design, stages, _median([m.clock_mhz for m in rows]),
                      _per_batch(rows, "latency_us", stat, pick), _per_batch(rows, "hw_us", "p50", min),
                      _per_batch(rows, "overhead_us", stat, pick))
    dyn, idle, pl, ps = [], [], [], []
    energy: Dict[int, List[float]] = {}
    for m in rows:
        if m.energy_j is None or m.idle_w is None:
            continue
        t_hw = obs.hw_s[m.batch]
        if t_hw > 0:
            dyn.append(m.energy_j * m.batch / t_hw)
        energy.setdefault(m.batch, []).append(m.energy_j)
        idle.append(m.idle_w)
        rails = (m.power or {}).get("rails") or {}
        if m.power_source == "rails" and rails:
            pl.append(sum(r["idle_w"] for n, r in rails.items() if not _is_ps_rail(n)))
            ps.append(sum(r["idle_w"] for n, r in rails.items() if _is_ps_rail(n)))
        obs.power_source = m.power_source
    obs.dyn_energy_j = {b: e for b, e in ((b, _median(v)) for b, v in energy.items()) if e > 0}
    if dyn:
        obs.dynamic_w = _median(dyn)
        obs.idle_w = _median(idle)
    if pl:
        obs.pl_idle_w, obs.ps_idle_w = _median(pl), _median(ps)
    return obs


def catalogue_board(db_board: str, rows: Sequence[Measurement]) -> Board:
    """The catalogue board the rows were measured on, as the board itself reported it."""
    names = sorted({m.catalogue_board for m in rows if m.catalogue_board})
    if len(names) != 1:
        raise RefineError(f"board {db_board}: its rows name {names or 'no'} catalogue board(s); expected exactly one")
    return get_board(names[0])


def resolve_board(db: MeasurementDB, board: str) -> str:
    """The database's name for ``board``: itself, or the one ``sim:<board>``/inventory name it ends."""
    known = db.boards()
    if board in known:
        return board
    matches = [b for b in known if b.split(":", 1)[-1] == board]
    if len(matches) != 1:
        raise RefineError(f"{db.path}: no measurements for board {board!r} (boards in it: {', '.join(known) or 'none'})")
    return matches[0]


def load_observations(db: MeasurementDB, board: str, stat: str = "min",
                      skipped: Optional[List[str]] = None, synth: str = "cached") -> Tuple[Board, List[Observation]]:
    """Every design measured on ``board`` (see :func:`resolve_board`) with a hardware time; the
    names of those without one (C-simulation bundles) are appended to ``skipped``. Yosys resource
    counts where ``synth`` allows: ``cached`` (only designs already synthesized), ``run`` (synthesize
    the missing ones) or ``off``."""
    if synth not in SYNTH_MODES:
        raise RefineError(f"--synth {synth!r} is not one of {', '.join(SYNTH_MODES)}")
    board = resolve_board(db, board)
    rows = db.measurements(board)
    designs = db.designs()
    cat = catalogue_board(board, rows)
    by_design = rows_by_design(rows)
    untimed = {h for h, r in by_design.items() if any(m.hw_us is None for m in r)}
    if skipped is not None:
        skipped.extend(designs[h].name for h in sorted(untimed))
    obs = [observe(designs[h], r, stat) for h, r in sorted(by_design.items()) if h not in untimed]
    if synth != "off":
        for o in obs:
            if o.design.kind == "rtlsim":
                o.resources = yosys_counts(o.design.path, cat, run=synth == "run")
    return cat, obs


# ---------------------------------------------------------------------------------- predictions
@dataclass
class Prediction:
    latency_s: Dict[int, float]  # batch -> hw_s + overhead_s
    hw_s: Dict[int, float]
    overhead_s: Dict[int, float]
    per_inference_s: float
    dynamic_w: Dict[int, float]  # batch -> dynamic PL power while the call computes
    dyn_energy_j: Dict[int, float]  # batch -> dynamic PL energy per inference
    board_power_w: float  # static + ps + dynamic
    energy_j: float  # board energy per inference at steady state
    resources: Dict[str, float] = field(default_factory=dict)  # lut, ff, dsp, bram18


def predict(obs: Observation, board: Board, coeffs: Coefficients) -> Prediction:
    est = obs.estimate(board, coeffs)
    lat = coeffs.table("latency")
    f = obs.clock_mhz * 1e6
    bytes1 = est.dma_bytes
    hw0 = lat.get("hw_fixed_s", 0.0)
    hw = {b: hw0 + lat["c_cycle"] * (est.latency_cycles + (b - 1) * est.interval) / f for b in obs.batches}
    driver = {b: lat["c_fixed_s"] - hw0 + lat["c_byte_s"] * bytes1 * b for b in obs.batches}
    per_inf = lat["c_byte_s"] * bytes1 + lat["c_cycle"] * est.interval / f
    p_board = est.power["pl"] + coeffs.ps_w
    res = {"lut": est.lut, "ff": est.ff, "dsp": float(est.dsp), "bram18": float(est.bram18)}
    p_res = predict_group(coeffs, "power", power_features(est)) - coeffs.table("power")["static_w"]  # W
    e_dyn = {b: predict_group(coeffs, "power", _events(est, obs.stages, board, b)) + p_res * hw[b] / b
             for b in obs.batches}
    return Prediction({b: hw[b] + driver[b] for b in obs.batches}, hw, driver, per_inf,
                      {b: e_dyn[b] * b / hw[b] for b in obs.batches}, e_dyn, p_board, p_board * per_inf, res)


def _events(est: Estimate, stages: Sequence[Stage], board: Board, batch: int) -> Dict[str, float]:
    """The event features (``e_*_j`` -> count per inference) of a call of ``batch`` samples of the
    design estimated at batch 1 by ``est``."""
    cycles = (est.latency_cycles + (batch - 1) * est.interval) / batch
    return {f"e_{k}_j": v for k, v in event_counts(est.stages, stages, board, cycles, batch).items()}


# ---------------------------------------------------------------------------------- fitting
def _robust(fun: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            scale: np.ndarray, f_scale: float) -> np.ndarray:
    from scipy.optimize import least_squares

    x0 = np.clip(x0, lo, hi)
    res = least_squares(fun, x0, bounds=(lo, hi), x_scale=scale, loss="soft_l1", f_scale=f_scale,
                        diff_step=1e-4, ftol=1e-6, xtol=1e-6, max_nfev=300)
    return res.x


def _fit(params: Sequence[Tuple[str, float, float, float]], base: Mapping[str, float],
         errors: Callable[[Dict[str, float]], List[float]]) -> Dict[str, float]:
    """Robust fit of ``params`` (name, lower, upper, scale) from ``base`` to relative ``errors``,
    pulled weakly towards ``base``."""
    names = [p[0] for p in params]
    lo, hi, scale = (np.array([p[i] for p in params]) for i in (1, 2, 3))
    x_prior = np.array([base[n] for n in names])
    w_prior = PRIOR_PULL / math.sqrt(len(names))

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.concatenate([errors(dict(zip(names, x))), w_prior * (x - x_prior) / scale])

    return dict(zip(names, _robust(residuals, x_prior, lo, hi, scale, F_SCALE)))


def fit_driver(obs: Sequence[Observation], board: Board, prior: Coefficients,
               base: Mapping[str, float]) -> Dict[str, float]:
    """``driver_s`` (``c_fixed_s - hw_fixed_s``) and ``c_byte_s`` from the driver's overheads."""
    points = [(o.estimate(board, prior).dma_bytes * b, y)
              for o in obs for b, y in o.overhead_s.items() if y > 0]
    if not points:
        return {n: base[n] for n, *_ in _DRIVER_PARAMS}
    x = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    return _fit(_DRIVER_PARAMS, base, lambda c: list((c["driver_s"] + c["c_byte_s"] * x - y) / y))


def fit_hardware(obs: Sequence[Observation], board: Board, prior: Coefficients,
                 base: Mapping[str, float]) -> Dict[str, float]:
    """``hw_fixed_s`` and the cycle model's coefficients from the hardware times; kinds no design
    has keep the prior's ``ii``.

    The bottleneck (a max over stages) and ``serial`` make the loss multi-modal, and a kind that
    is rarely the bottleneck is weakly pinned. So the fit continues from a simpler one: first every
    kind shares one ``ii``, then each kind gets its own (pulled weakly towards the shared fit,
    so a kind the designs barely exercise stays near the others), from both ends of ``serial``;
    the lowest loss wins."""
    kinds = sorted({s.kind for o in obs for s in o.stages})
    free = _HW_PARAMS + tuple((f"ii_{k}", *_II_BOUNDS, 0.2) for k in kinds)
    tied = _HW_PARAMS + (("ii", *_II_BOUNDS, 0.2),)
    points = [(o, b, y) for o in obs for b, y in o.hw_s.items() if y > 0]

    def untie(c: Dict[str, float]) -> Dict[str, float]:
        if "ii" not in c:
            return c
        c = dict(c)
        ii = c.pop("ii")
        return {**c, **{f"ii_{k}": ii for k in kinds}}

    def errors(c: Dict[str, float]) -> List[float]:
        coeffs = prior.replace("latency", {**base, **untie(c)})
        preds = {id(o): predict(o, board, coeffs).hw_s for o in obs}
        return [(preds[id(o)][b] - y) / y for o, b, y in points]

    def loss(c: Dict[str, float]) -> float:  # the soft_l1 loss being minimized
        r = np.array(errors(c)) / F_SCALE
        return float(np.sum(np.sqrt(1.0 + r * r) - 1.0))

    fits = []
    for serial in (0.0, 1.0):
        shared = _fit(tied, {**base, "serial": serial, "ii": 1.0}, errors)
        fits.append(_fit(free, {**base, **untie(shared)}, errors))
    return min(fits, key=loss)


def fit_rtl(obs: Sequence[Observation], board: Board, prior: Coefficients) -> Dict[str, float]:
    """The RTL pipeline form's coefficients (:data:`~sustainml.nas.costmodel.RTL_LATENCY`) and the
    driver's poll offset ``hw_fixed_s`` (seconds) from the circuit's hardware times (rtlsim designs):
    robust fit on relative errors."""
    base = {**RTL_LATENCY, **prior.table("rtl"), "hw_fixed_s": 0.0}
    lat = {**LATENCY_REFINEMENT, **prior.table("latency"), "hw_fixed_s": 0.0, "c_cycle": 1.0}
    points = [(o, b, y) for o in obs for b, y in o.hw_s.items() if y > 0]

    def errors(c: Dict[str, float]) -> List[float]:
        c = dict(c)
        coeffs = prior.replace("latency", {**lat, "hw_fixed_s": c.pop("hw_fixed_s")}).replace("rtl", c)
        preds = {id(o): predict(o, board, coeffs).hw_s for o in obs}
        return [(preds[id(o)][b] - y) / y for o, b, y in points]

    return _fit(_RTL_PARAMS + _OBSERVE_PARAM, base, errors)


def is_circuit(obs: Sequence[Observation]) -> bool:
    """Whether every design's hardware time is the circuit's (rtlsim bundles: the RTL form is fitted)."""
    return bool(obs) and all(o.design.kind == "rtlsim" for o in obs)


def fit_latency(obs: Sequence[Observation], board: Board, prior: Coefficients) -> Coefficients:
    """Latency coefficients: the driver and the hardware fitted apart (see module docstring)."""
    base = {**LATENCY_REFINEMENT, **prior.table("latency")}
    driver = fit_driver(obs, board, prior, {"driver_s": base["c_fixed_s"] - base["hw_fixed_s"],
                                            "c_byte_s": base["c_byte_s"]})
    if is_circuit(obs):
        rtl = fit_rtl(obs, board, prior)
        hw0 = rtl.pop("hw_fixed_s")
        return prior.replace("latency", {**base, "hw_fixed_s": hw0, "c_cycle": 1.0, "c_byte_s": driver["c_byte_s"],
                                         "c_fixed_s": driver["driver_s"] + hw0}).replace("rtl", rtl)
    hw = fit_hardware(obs, board, prior, base)
    return prior.replace("latency", {**base, **hw, "c_byte_s": driver["c_byte_s"],
                                     "c_fixed_s": driver["driver_s"] + hw["hw_fixed_s"]})


def fit_power(obs: Sequence[Observation], board: Board, prior: Coefficients) -> Coefficients:
    """Event energies (``e_*_j``) on the measured dynamic energy per inference of every design and batch
    (relative errors, non-negative, robust loss; event counts at the latency-refined ``prior``'s cycles);
    the per-resource terms go to 0 (a free-running clock's
    power is in the idle figure, so what a call adds is what switches). ``static_w`` from the PL idle
    power (rails) or the whole board's idle power minus ``ps_w``. The prior's when nothing has power."""
    points = [(o, b, e) for o in obs for b, e in sorted(o.dyn_energy_j.items())]
    if not points:
        return prior
    from scipy.optimize import nnls

    rows = [_events(o.estimate(board, prior), o.stages, board, b) for o, b, _ in points]
    X = np.array([[x[n] for n in EVENT_TERMS] for x in rows])
    y = np.array([e for _, _, e in points])
    scale = np.median(y) / np.maximum(X.max(axis=0), 1e-30)  # the value at which a feature alone explains y

    def residuals(w: np.ndarray) -> np.ndarray:
        return np.concatenate([(X @ w - y) / y, PRIOR_PULL * w / scale])

    w0 = nnls(X / y[:, None], np.ones(len(y)))[0]
    n = len(EVENT_TERMS)
    w = _robust(residuals, w0, np.zeros(n), np.full(n, np.inf), scale, F_SCALE)
    values = {**dict(zip(EVENT_TERMS, map(float, w))), **dict.fromkeys(RESOURCE_POWER_TERMS, 0.0)}
    with_power = [o for o in obs if o.dyn_energy_j]
    pl = [o.pl_idle_w for o in with_power if o.pl_idle_w is not None]
    ps = [o.ps_idle_w for o in with_power if o.ps_idle_w is not None]
    idle = [o.idle_w for o in with_power if o.idle_w is not None]
    ps_w = float(np.median(ps)) if ps else prior.ps_w
    values["static_w"] = float(np.median(pl)) if pl else max(0.0, float(np.median(idle)) - ps_w)
    return dataclasses.replace(prior.replace("power", values), ps_w=ps_w)


def fit_resource_terms(obs: Sequence[Observation], board: Board, prior: Coefficients) -> Coefficients:
    """Resource terms fitted to the designs' Yosys counts (host/measure/resources.py); the prior's
    when fewer than :data:`MIN_SYNTHESIZED` designs have them."""
    synthesized = [o for o in obs if o.resources is not None]
    if len(synthesized) < MIN_SYNTHESIZED:
        return prior
    return fit_resources(lambda c: [o.estimate(board, c) for o in synthesized],
                         [o.resources for o in synthesized], prior)


def fit(obs: Sequence[Observation], board: Board, prior: Coefficients) -> Coefficients:
    return fit_power(obs, board, fit_resource_terms(obs, board, fit_latency(obs, board, prior)))


# ---------------------------------------------------------------------------------- errors
METRICS = ("latency", "hardware time", "dynamic power", "dynamic energy", "board power", "energy", "LUT", "FF", "DSP",
           "BRAM18")
#: metric -> Yosys count (host/measure/resources.py); DSP and BRAM18 are also judged exact / off by one
RESOURCE_METRICS = {"LUT": "lut", "FF": "ff", "DSP": "dsp", "BRAM18": "bram18"}
#: fewest synthesized designs the resource terms are fitted on
MIN_SYNTHESIZED = 4


def metric_pairs(obs: Sequence[Observation], preds: Sequence[Prediction], metric: str) -> List[Tuple[float, float]]:
    out = []
    for o, p in zip(obs, preds):
        if metric == "latency":
            out += [(p.latency_s[b], o.latency_s[b]) for b in o.batches]
        elif metric == "hardware time":
            out += [(p.hw_s[b], o.hw_s[b]) for b in o.batches if o.hw_s.get(b)]
        elif metric == "dynamic power":
            out += [(p.dynamic_w[b], e * b / o.hw_s[b]) for b, e in sorted(o.dyn_energy_j.items()) if o.hw_s.get(b)]
        elif metric == "dynamic energy":
            out += [(p.dyn_energy_j[b], e) for b, e in sorted(o.dyn_energy_j.items())]
        elif metric == "board power" and o.board_power_w:
            out.append((p.board_power_w, o.board_power_w))
        elif metric == "energy" and o.energy_j:
            out.append((p.energy_j, o.energy_j))
        elif metric in RESOURCE_METRICS and o.resources is not None:
            key = RESOURCE_METRICS[metric]
            out.append((p.resources[key], o.resources[key]))
    return out


def error_table(obs: Sequence[Observation], preds: Sequence[Prediction]) -> Dict[str, Dict[str, float]]:
    """MAPE, max absolute percentage error and the share of points within +-10% per metric
    (metrics without data are left out)."""
    out = {}
    for m in METRICS:
        pairs = metric_pairs(obs, preds, m)
        rel = [(p, y) for p, y in pairs if y]  # a count of 0 (no DSP, no BRAM) has no relative error
        if not rel:
            continue
        e = np.array([abs(p - y) / abs(y) for p, y in rel]) * 100.0
        out[m] = {"mape_pct": float(e.mean()), "max_pct": float(e.max()), "n": len(pairs),
                  "within10_pct": float((e <= 10.0).mean() * 100.0),  # nn-Meter's measure
                  "bias_pct": float(np.mean([(p - y) / y for p, y in rel]) * 100.0)}
        if m in ("DSP", "BRAM18"):
            d = np.array([abs(round(p) - y) for p, y in pairs])
            out[m].update(exact_pct=float((d < 0.5).mean() * 100.0), off1_pct=float((d < 1.5).mean() * 100.0))
    return out


def folds_of(obs: Sequence[Observation], k: int) -> List[List[int]]:
    """k folds of design indices (designs ordered by bundle hash, dealt round robin)."""
    order = sorted(range(len(obs)), key=lambda i: obs[i].design.bundle_hash)
    return [order[i::k] for i in range(k)]


# ---------------------------------------------------------------------------------- refine
@dataclass
class Refinement:
    db_board: str
    board: Board
    stat: str
    prior_path: Path
    prior: Coefficients
    refined: Coefficients
    observations: List[Observation]
    before: List[Prediction]  # prior coefficients
    held_out: List[Prediction]  # each design by the fit without its fold
    after_in_sample: List[Prediction]  # the written coefficients
    folds: int
    errors: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)  # before / after -> metric -> ...


def refine(db: MeasurementDB, board: str, prior_path: Union[str, Path, None] = None, folds: int = 4,
           stat: str = "min", synth: str = "cached") -> Refinement:
    """Fit, cross-validate and return the refined coefficients of ``board`` (nothing written)."""
    skipped: List[str] = []
    cat, obs = load_observations(db, board, stat, skipped, synth)
    if len(obs) < 4:
        why = f" ({len(skipped)} more skipped: {NO_TIMING})" if skipped else ""
        raise RefineError(f"{db.path}: board {board} has {len(obs)} measured design(s) with a hardware time{why}; "
                          "refinement needs at least 4 (12 or more for trustworthy coefficients)")
    if folds < 2 or folds > len(obs):
        raise RefineError(f"--folds {folds} must be between 2 and the number of designs ({len(obs)})")
    ppath = Path(prior_path) if prior_path else COEFF_DIR / f"{cat.name}.yaml"
    prior = load_coefficients(cat, ppath)
    before = [predict(o, cat, prior) for o in obs]
    held: List[Optional[Prediction]] = [None] * len(obs)
    for test in folds_of(obs, folds):
        train = [o for i, o in enumerate(obs) if i not in test]
        c = fit(train, cat, prior)
        for i in test:
            held[i] = predict(obs[i], cat, c)
    final = fit(obs, cat, prior)
    db_board = resolve_board(db, board)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    timing = ", ".join(f"{n} {k}" for k, n in timing_sources(obs).items())
    if skipped:
        timing += f"; {len(skipped)} designs skipped, {NO_TIMING}"
    final = dataclasses.replace(final, source=f"refined from {len(obs)} designs measured on {db_board} "
                                              f"({db.path.name}, stat {stat}, {stamp}; hardware time: {timing})")
    r = Refinement(db_board, cat, stat, ppath, prior, final, obs, before, [h for h in held if h is not None],
                   [predict(o, cat, final) for o in obs], folds)
    r.errors = {"before": error_table(obs, before), "after": error_table(obs, r.held_out)}
    return r


NO_TIMING = "hardware time: none (C-simulation, no circuit)"
TIMING = {"rtlsim": "circuit cycles (Verilator)", "bitstream": "board hardware"}


def timing_sources(obs: Sequence[Observation]) -> Dict[str, int]:
    """Where the designs' hardware times came from (:data:`TIMING` by bundle kind) -> design count."""
    out: Dict[str, int] = {}
    for o in obs:
        k = TIMING.get(o.design.kind, o.design.kind)
        out[k] = out.get(k, 0) + 1
    return out


def changed_coefficients(r: Refinement) -> List[Tuple[str, float, float]]:
    """(name, prior, refined) of every coefficient the fit moved."""
    out = []
    for group, optional in (("latency", LATENCY_REFINEMENT), ("power", POWER_REFINEMENT), ("rtl", RTL_LATENCY),
                            ("structure", STRUCT_REFINEMENT), ("lut", LUT_REFINEMENT), ("ff", FF_REFINEMENT)):
        a, b = {**optional, **r.prior.table(group)}, r.refined.table(group)
        out += [(f"{group}.{k}", a[k], b[k]) for k in b if not math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-15)]
    if not math.isclose(r.prior.ps_w, r.refined.ps_w):
        out.append(("ps_w", r.prior.ps_w, r.refined.ps_w))
    return out


def default_output(board: Board) -> Path:
    """Where the search and the generator look for refined coefficients first (nas/cost_sources.py)."""
    from sustainml.nas.cost_sources import refined_candidates

    return refined_candidates(board.name)[0]


