#!/usr/bin/env python3
"""Loop iterations per sample of every stage of a design, counted in C simulation.

    .venv/bin/python scripts/bench_hls_schedule.py [--topology nas/examples/ecg_baseline.yaml] [--batch 8]

Each stage of the design (random weights: counts do not depend on values) is compiled as a
single-module bench (host/hlsgen/harness.py, SML_COUNT_ITERATION in the modules' pipelined
loop) at two unrollings, fully folded (pe=simd=kp=1) and fully unrolled, and run on batches of
1 and ``--batch`` samples. Printed per stage: the fold count FOLD, the iterations one sample
costs in steady state ((it(B) - it(1)) / (B - 1)), the template's bound (max(IN_LEN,
OUT_LEN*FOLD) windowed, IN_LEN*FOLD pwconv1d, max(IN_LEN, FOLD) dense/gap1d) and the
once-per-call fill, beside the interval the cost model gives for the same stage
(``nas/costmodel.py stage_cost``, board pynq-z2 priors), whose cycle formulas still describe
the previous templates' loop nest (a non-pipelined position loop around a pipelined fold
loop). These are C-simulation loop iterations, not RTL cycles (no pipeline depth,
no back-pressure); the design was never synthesized by Vitis HLS here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def bound(s, fold: int) -> int:
    if s.kind == "pwconv1d":
        return s.in_len * fold
    if s.kind in ("dense", "gap1d"):
        return max(s.in_len, fold)
    return max(s.in_len, s.out_len * fold)


def main(argv=None) -> int:
    from sustainml.host.hlsgen import StageCase, compile_stages
    from sustainml.host.hlsgen.cpp import folds
    from sustainml.nas.costmodel import load_coefficients, stage_cost, unroll_dims
    from sustainml.nas.quantized import Stage
    from sustainml.nas.synthetic import random_quantized_model
    from sustainml.nas.topology import load_topology

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--topology", type=Path, default=ROOT / "nas" / "examples" / "ecg_baseline.yaml")
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    model = random_quantized_model(load_topology(args.topology), seed=0)
    cases, labels = [], []
    for i, s in enumerate(model.stages):
        for name, unroll in (("folded", (1, 1, 1)), ("unrolled", unroll_dims(s))):
            st = Stage(**{**s.to_dict(), "pe": unroll[0], "simd": unroll[1], "kp": unroll[2]})
            cases.append(StageCase(st, model.w(i) if st.is_compute else None, model.b(i) if st.is_compute else None))
            labels.append((i, name))
    bench = compile_stages(cases)
    rng = np.random.default_rng(0)
    print(f"{args.topology.name}: C-simulated loop iterations per sample (batch 1 and {args.batch})\n")
    coeffs = load_coefficients("pynq-z2")
    print("| stage | kind | in_len x ch | out_len | unrolling | FOLD | iterations/sample | bound | fill "
          "| previous loop nest (cost model cycles) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for (i, name), case in zip(labels, cases):
        s = case.stage
        counts = []
        for b in (1, args.batch):
            bench.run(labels.index((i, name)),
                      rng.integers(0, 2, size=(b, s.in_len, s.in_ch)))
            counts.append(bench.iterations)
        per = (counts[1] - counts[0]) / (args.batch - 1)
        want = bound(s, folds(s))
        ok &= per == want
        print(f"| {i} | {s.kind} | {s.in_len} x {s.in_ch} | {s.out_len} | {name} ({s.pe},{s.simd},{s.kp}) | "
              f"{folds(s)} | {per:g} | {want} | {counts[0] - want:g} | {stage_cost(s, coeffs).interval} |")
    print(f"\nevery stage at its bound: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
