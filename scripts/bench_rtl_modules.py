#!/usr/bin/env python3
"""Cycles of the Verilog stage modules (hls/rtl/) in Verilator, and their bit-exactness sweep.

    .venv/bin/python scripts/bench_rtl_modules.py [--no-sweep] [--batch 8]

1. Streams a batch through each timing case of tests/test_rtl_modules.py (strided, padded,
   pooled, folded and fully unrolled stages; no stalls) and prints a markdown table: fold count
   F, ideal cycles per sample (``stages.ideal_cycles``), measured cycles per sample (steady state:
   between the last output beats of consecutive samples), cycles between output positions, and
   the first-output latency (cycles from the first input beat offered). Verilator cycle-accurate
   simulation of the RTL; no FPGA involved.
2. Unless --no-sweep: runs the slow tests of tests/test_rtl_modules.py (>= 200 hypothesis-drawn
   configurations against nas/golden.py with random stalls; concurrent cached builds) and of
   tests/test_rtl_saturation.py (160 saturating configurations).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _config(s) -> str:
    geo = f"L{s.in_len} C{s.in_ch}->{s.out_ch}"
    if s.kind in ("conv1d", "dwconv1d", "maxpool1d", "avgpool1d"):
        geo += f" K{s.kernel} S{s.stride}" + (f" P{s.padding}" if s.padding else "")
    return f"{geo} PE{s.pe} SIMD{s.simd} KP{s.kp}"


def timing_table(batch: int) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_rtl_modules as t
    from rtl_bench import compile_bench

    from sustainml.host.hlsgen import StageCase
    from sustainml.host.rtlgen import stages as rtl

    rng = np.random.default_rng(3)
    cases = []
    for s in t.TIMING:
        w = rng.integers(-4, 4, size=s.weight_shape) if s.is_compute else None
        b = rng.integers(-20, 20, size=s.out_ch) if s.is_compute else None
        cases.append((StageCase(s, w, b), rng.integers(-8, 8, size=(batch, s.in_len, s.in_ch))))
    t0 = time.perf_counter()
    bench = compile_bench([c for c, _ in cases])
    print(f"Verilator model of {len(cases)} stage modules: {'cached' if bench.cached else 'built'} "
          f"in {time.perf_counter() - t0:.1f} s\n")
    print("| stage | configuration | F | ideal cycles/sample | measured cycles/sample | cycles between outputs "
          "| first-output latency | bit-exact |")
    print("|---|---|---|---|---|---|---|---|")
    bad = 0
    for i, (case, x) in enumerate(cases):
        s = case.stage
        run = bench.run(i, x)
        exact = np.array_equal(run.y, t.golden_stage(s, x, case.w, case.b))
        periods = t.sample_periods(run.cycles, s.out_len)[1:]
        per = np.unique(periods)
        gaps = np.unique(np.diff(run.cycles.reshape(batch, s.out_len), axis=1)) if s.out_len > 1 else []
        ideal = rtl.ideal_cycles(s)
        bad += int(not exact or per.tolist() != [ideal])
        print(f"| {s.kind} | {_config(s)} | {rtl.fold_count(s)} | {ideal} | {'/'.join(map(str, per))} | "
              f"{'/'.join(map(str, gaps)) or '-'} | {int(run.cycles[0])} | {'yes' if exact else 'NO'} |")
    print(f"\n{len(cases) - bad}/{len(cases)} cases at exactly the ideal cycles per sample and bit-exact "
          f"(batch {batch}, steady state = samples 2..{batch}).")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-sweep", action="store_true", help="only the timing table")
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    bad = timing_table(args.batch)
    if args.no_sweep:
        return 1 if bad else 0
    print("\nSlow sweep: python -m pytest -m slow tests/test_rtl_modules.py tests/test_rtl_saturation.py")
    t0 = time.perf_counter()
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-m", "slow", "tests/test_rtl_modules.py",
                          "tests/test_rtl_saturation.py"], cwd=ROOT)
    print(f"sweep {'passed' if rc == 0 else 'FAILED'} in {time.perf_counter() - t0:.0f} s")
    return 1 if bad or rc else 0


if __name__ == "__main__":
    sys.exit(main())
