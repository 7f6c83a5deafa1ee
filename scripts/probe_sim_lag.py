#!/usr/bin/env python
"""How the simulated board's own host time leaks into the driver's timings, per bundle.

Runs ``--calls`` calls of each rtlsim bundle on the simulated board and prints, per batch: the host
time of the Verilator run, the *start lag* (the driver's start timestamp minus the circuit's start on
the device clock; what shortens the driver's hardware-time reading), the *done lag* (the driver's
ap_done timestamp minus the circuit's end: its poll) and the host time of the output buffer's
invalidate just after the call (the driver's first step after ap_done). ``--no-hold`` runs the
board as it was before board/sim/clock.py held its clock over the ap_start write. Medians.

    .venv/bin/python scripts/probe_sim_lag.py --board pynq-z2 BUNDLE... [--calls 40] [--no-hold]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+", type=Path, help="rtlsim bundle directories")
    ap.add_argument("--board", default="pynq-z2", help="simulated board (default pynq-z2)")
    ap.add_argument("--calls", type=int, default=40, help="calls per bundle and batch (default 40)")
    ap.add_argument("--no-hold", action="store_true", help="let the clock run on after the ap_start write")
    args = ap.parse_args()
    os.environ["SUSTAINML_SIM_BOARD"] = args.board
    from sustainml.board import control
    from sustainml.board.dnnu import Dnnu
    from sustainml.board.errors import BoardError
    from sustainml.board.sim.clock import SimClock

    if args.no_hold:
        paused = SimClock.paused
        SimClock.paused = lambda self, hold=False: paused(self, False)  # type: ignore[method-assign]
    stamps = {}
    start, wait = control.ApCtrl.start, control.ApCtrl.wait
    control.ApCtrl.start = lambda self, *a, **k: stamps.__setitem__("start", start(self, *a, **k)) or stamps["start"]
    control.ApCtrl.wait = lambda self, *a, **k: stamps.__setitem__("done", wait(self, *a, **k)) or stamps["done"]
    print("| bundle | batch | Verilator host time (ms) | start lag (µs) | done lag (µs) "
          "| invalidate after the call (µs) |")
    print("|---|---|---|---|---|---|")
    for path in args.bundles:
        try:
            dnnu = Dnnu.load(path, max_batch=8)
        except BoardError as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
        core = dnnu.device.dnnu
        for batch in (1, 8):
            inp, out = dnnu.input_buffer[:batch], dnnu.output_buffer[:batch]
            sim_ms: List[float] = []
            lag_s: List[float] = []
            lag_d: List[float] = []
            inval: List[float] = []
            for _ in range(args.calls):
                inp.flush()
                t0 = time.perf_counter_ns()
                dnnu.ctrl.start(inp.physical_address, out.physical_address, batch)
                stolen = time.perf_counter_ns() - t0  # host time of the write (the simulation inside it)
                dnnu.ctrl.wait(10.0)
                t1 = time.perf_counter_ns()
                out.invalidate()
                inval.append((time.perf_counter_ns() - t1) / 1e3)
                sim_ms.append(stolen / 1e6)
                circuit_start = core.done_at - core.last_hw_ns
                lag_s.append((stamps["start"] - circuit_start) / 1e3)
                lag_d.append((stamps["done"] - core.done_at) / 1e3)
            print(f"| {path.name} | {batch} | {np.median(sim_ms):.2f} | {np.median(lag_s):.1f} "
                  f"| {np.median(lag_d):.1f} | {np.median(inval):.1f} |")
        dnnu.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
