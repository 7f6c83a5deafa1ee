"""Benchmark of a loaded DNNU: latency distribution, throughput, driver overhead, power.

Every call is timed on the device clock (see :mod:`.dnnu`): hardware time (ap_start → ap_done)
and end-to-end time (input in the buffer → outputs copied out). The driver's overhead is their
difference: cache flush/invalidate, register writes, polling, copies. An untimed bundle (a
C-simulation on the simulated board) has no hardware time: ``hw_us`` and ``overhead_us`` are None
and the notes say so.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from .errors import BoardError

PERCENTILES = (50, 95, 99)


def distribution_us(ns: np.ndarray) -> Dict[str, float]:
    us = np.asarray(ns, dtype=np.float64) / 1e3
    out = {"min": float(us.min()), "mean": float(us.mean())}
    out.update({f"p{p}": float(np.percentile(us, p)) for p in PERCENTILES})
    out["max"] = float(us.max())
    return out


@dataclass
class BenchmarkResult:
    board: str
    bundle: str
    simulated: bool
    clock_mhz: float
    calls: int
    batch: int
    latency_us: Dict[str, float]          # end-to-end per call
    hw_us: Optional[Dict[str, float]]     # ap_start -> ap_done per call; None: no hardware time
    overhead_us: Optional[Dict[str, float]]  # end-to-end minus hardware, per call
    throughput_sps: float                 # samples per second over the whole run
    power: Optional[Dict[str, Any]] = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def timing_note(dnnu: Any) -> str:
    """Where a simulated board's hardware time comes from, by bundle kind."""
    if dnnu.bundle.kind == "rtlsim":
        return ("simulated board: hardware time = the RTL's Verilator cycle count (ap_start -> ap_done) at the PL "
                "clock; driver time measured on this host (not the board's ARM core)")
    from .dnnu import NO_TIMING

    return (f"simulated board, C-simulation bundle: {NO_TIMING}; end-to-end time is the driver's on this host; "
            "build --rtlsim for the circuit's cycles and power")


def _inputs(dnnu: Any, batch: int) -> np.ndarray:
    """Golden inputs (repeated to ``batch``) when the bundle has them, else seeded in-range integers."""
    try:
        gin, _ = dnnu.bundle.golden()
        gin = np.asarray(gin).reshape((-1,) + dnnu.input_spec.shape)
        return np.resize(gin, (batch,) + dnnu.input_spec.shape).astype(dnnu.input_spec.np_dtype)
    except (BoardError, OSError, ValueError):
        rng = np.random.default_rng(0)
        s = dnnu.input_spec
        return rng.integers(s.lo, s.hi + 1, size=(batch,) + s.shape).astype(s.np_dtype)


def benchmark(dnnu: Any, n: int = 1000, batch: int = 1, power: Any = None, warmup: int = 10) -> BenchmarkResult:
    """``n`` timed calls of ``batch`` samples through the zero-copy path (after ``warmup``)."""
    from .power import PowerMonitor

    if n < 1 or not 1 <= batch <= dnnu.max_batch:
        raise BoardError(f"benchmark needs n >= 1 and 1 <= batch <= {dnnu.max_batch} (got n={n}, batch={batch})")
    inp, out = dnnu.input_buffer[:batch], dnnu.output_buffer[:batch]
    inp[:] = _inputs(dnnu, batch)
    for _ in range(warmup):
        dnnu.run_raw(inp, out)
    hw = np.empty(n, np.int64)
    e2e = np.empty(n, np.int64)

    def run() -> int:
        t_start = dnnu.clock()
        for i in range(n):
            dnnu.run_raw(inp, out)
            hw[i], e2e[i] = dnnu.last_timing.hw_ns or 0, dnnu.last_timing.e2e_ns
        run.elapsed_ns = dnnu.clock() - t_start
        return n * batch

    monitor = None
    if power is not None and power is not False:
        monitor = power if isinstance(power, PowerMonitor) else PowerMonitor(dnnu.device)
    report = monitor.measure(run) if monitor else None
    if monitor is None:
        run()
    board = getattr(getattr(dnnu.device, "board", None), "name", None) or str(getattr(dnnu.device, "name", "board"))
    notes = [timing_note(dnnu)] if dnnu.simulated else []
    timed = getattr(dnnu, "timed", True)
    return BenchmarkResult(board, dnnu.bundle.name, dnnu.simulated, dnnu.clock_mhz, n, batch, distribution_us(e2e),
                           distribution_us(hw) if timed else None, distribution_us(e2e - hw) if timed else None,
                           n * batch / (run.elapsed_ns * 1e-9), report.to_dict() if report else None, notes)
