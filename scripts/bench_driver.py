#!/usr/bin/env python3
"""Driver overhead of the board runtime on the simulated board: a markdown table for the README.

    .venv/bin/python scripts/bench_driver.py [--bundle overlays/NAME] [--board pynq-z2] [--n 500]

Runs ``Dnnu.benchmark`` (pynq's Overlay/allocate/MMIO over the simulated device) for several
batch sizes and reports the simulated hardware time (an rtlsim bundle: the circuit's Verilator
cycle count at the PL clock; a C-simulation bundle has none: no circuit), the
end-to-end time per call and the driver's overhead beyond the hardware time (cache maintenance,
register I/O, polling, copies; host time on this machine). Without --bundle it uses
overlays/ecg_baseline if present, else a sim bundle around the protocol test kernel
(tests/sim_bundles.py): the overhead does not depend on the kernel.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--n", type=int, default=500, help="timed calls per batch size")
    ap.add_argument("--batches", default="1,8,64")
    args = ap.parse_args(argv)

    from sustainml.board import sim
    from sustainml.board.dnnu import Dnnu
    from sustainml.board.identity import lookup

    bundle = args.bundle or (ROOT / "overlays" / "ecg_baseline")
    tmp = None
    if not (bundle / "manifest.yaml").exists() or args.bundle is None and "sim" not in (bundle / "manifest.yaml").read_text():
        sys.path.insert(0, str(ROOT / "tests"))
        from sim_bundles import protocol_bundle

        tmp = tempfile.TemporaryDirectory()
        info = lookup(args.board)
        bundle = protocol_bundle(Path(tmp.name) / "proto", board=info.name, part=info.part)
    sim.activate(args.board)
    batches = [int(b) for b in args.batches.split(",")]
    dnnu = Dnnu.load(bundle, max_batch=max(batches))
    print(f"Driver overhead on the simulated {args.board} (bundle `{dnnu.bundle.name}`, PL clock "
          f"{dnnu.clock_mhz:g} MHz, {args.n} calls each; hardware time simulated: "
          f"{'Verilator cycles of the RTL' if dnnu.timed else 'none (C-simulation, no circuit)'})\n")
    print("| batch | hw p50 (µs, simulated) | end-to-end p50 (µs) | end-to-end p99 (µs) | driver overhead p50 (µs) "
          "| overhead p95 (µs) | throughput (samples/s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for b in batches:
        r = dnnu.benchmark(n=args.n, batch=b)
        hw, over = r.hw_us or {}, r.overhead_us or {}
        cell = lambda d, k: f"{d[k]:.1f}" if d else "none"  # noqa: E731
        print(f"| {b} | {cell(hw, 'p50')} | {r.latency_us['p50']:.1f} | {r.latency_us['p99']:.1f} | "
              f"{cell(over, 'p50')} | {cell(over, 'p95')} | {r.throughput_sps:,.0f} |")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
