#!/usr/bin/env python3
"""Power from the circuit's activity on the simulated boards: a markdown table for the README.

    .venv/bin/python scripts/bench_power.py [--bundle DIR ...] [--batch 8] [--calls 100]

For each rtlsim bundle (default: three small generated designs, each unrolled for speed and for
fewest DSPs, for the PYNQ-Z2 and the ZCU104; built with the Verilator cache) it runs the board
runtime's benchmark with power measurement (a simulated external meter on the PYNQ-Z2, the
simulated PMBus rails on the ZCU104) and prints the circuit's cycles per call, the dynamic energy
per inference the board charged by event class (logic, ROM reads, DDR beats: board/sim/power.py,
a model from published energies per event), what the averaging sensors measured, and the
resulting dynamic power. Everything here is simulated: cycles by Verilator, energy by the model.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_bundles(root: Path) -> list:
    sys.path.insert(0, str(ROOT / "tests"))
    from rtl_bundles import SMALL, small_rtlsim
    from test_measure import CONV, DSC

    return [small_rtlsim(root, board, 100.0, topology=t, objective=obj)
            for board in ("pynq-z2", "zcu104") for t in (SMALL, CONV, DSC) for obj in ("latency", "dsp")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, action="append", help="rtlsim bundle (repeatable)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--calls", type=int, default=100)
    args = ap.parse_args(argv)

    from sustainml.board import sim
    from sustainml.board.bundle import read_manifest
    from sustainml.board.dnnu import Dnnu
    from sustainml.board.power import PowerMonitor
    from sustainml.board.sim.device import SimMeter

    tmp = tempfile.TemporaryDirectory()
    bundles = args.bundle or _default_bundles(Path(tmp.name))
    print(f"Power from activity (simulated; batch {args.batch}, {args.calls} calls per design, PL clock from the "
          "bundle): cycles by Verilator, energy by board/sim/power.py\n")
    print("| board | design | cycles / call | logic nJ/inf | ROM nJ/inf | DDR nJ/inf | model nJ/inf | "
          "measured nJ/inf | dynamic mW |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for b in bundles:
        board = read_manifest(b)["board"]
        dev = sim.activate(board)
        try:
            dnnu = Dnnu.load(b, max_batch=args.batch)
            meters = [] if dev.power.rails else [SimMeter(dev)]
            res = dnnu.benchmark(n=args.calls, batch=args.batch, warmup=2,
                                 power=PowerMonitor(dev, meters=meters, interval_s=0.002, idle_s=0.05))
            e = {k: v / args.batch * 1e9 for k, v in dev.dnnu.last_energy_j.items()}
            p = res.power or {}
            measured = (p.get("energy_per_inference_j") or 0.0) * 1e9
            hw_s = dev.dnnu.last_cycles / dnnu.clock_mhz * 1e-6
            dyn_mw = sum(dev.dnnu.last_energy_j.values()) / hw_s * 1e3
            print(f"| {board} | {dnnu.bundle.name} | {dev.dnnu.last_cycles} | {e['logic']:.2f} | {e['bram']:.2f} | "
                  f"{e['dram']:.2f} | {sum(e.values()):.2f} | {measured:.2f} | {dyn_mw:.2f} |")
            dnnu.close()
        finally:
            sim.deactivate()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
