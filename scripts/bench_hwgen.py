#!/usr/bin/env python3
"""Hardware generator benchmarks: markdown tables for the README.

    .venv/bin/python scripts/bench_hwgen.py [--candidates 200] [--folding-cases 40] [--model DIR]

1. Cost model as the NAS's cheap objective: wall time per candidate (plan_stages + estimate)
   over random topologies and the reference one, per board (target: well under 1 ms).
2. Parallelizer optimality: chosen bottleneck vs a vectorised brute force over every unrolling
   combination of random 3-5 compute-layer designs under random DSP budgets.
3. Reference design per board: chosen unrolling's interval/latency/resources (cost model).
4. With --model (a trained model dir): generate + `build --sim` wall time, and the sim
   overlay vs the golden model on the dataset's test split (bit-exact count, accuracy).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def bench_objectives(n: int) -> str:
    from random_models import random_topology
    from sustainml.nas.catalogue import boards
    from sustainml.nas.costmodel import objectives
    from sustainml.nas.topology import load_topology

    rng = np.random.default_rng(0)
    topos = [random_topology(rng, length=int(rng.choice([64, 140, 256]))) for _ in range(n)]
    ref = load_topology(ROOT / "nas" / "examples" / "ecg_baseline.yaml")
    rows = []
    for board in boards():
        objectives(ref, board)  # warm the coefficient cache
        t0 = time.process_time()
        for t in topos:
            objectives(t, board)
        per = (time.process_time() - t0) / n
        t0 = time.process_time()
        for _ in range(200):
            objectives(ref, board)
        per_ref = (time.process_time() - t0) / 200
        rows.append([board, n, f"{per * 1e6:.0f}", f"{per_ref * 1e6:.0f}"])
    return table(["board", "random candidates", "CPU us / candidate (random)", "CPU us / candidate (ecg_baseline)"], rows)


def bench_folding(n: int) -> str:
    from random_models import random_topology
    from test_folding import BIG, brute_force, combos
    from sustainml.nas.costmodel import load_coefficients
    from sustainml.nas.folding import FoldingError, fold, stage_options
    from sustainml.nas.quantized import plan_stages

    coeffs = load_coefficients("pynq-z2")
    rng = np.random.default_rng(42)
    equal = total = infeasible = 0
    worst = 1.0
    sizes, t_fold, t_brute = [], 0.0, 0.0
    while total < n:
        stages = plan_stages(random_topology(rng, n_compute=int(rng.integers(3, 6)), length=int(rng.choice([24, 48]))))
        size = combos(stages, coeffs)
        if size > 3_000_000:
            continue
        full = sum(max(c.dsp for c in stage_options(s, coeffs)) for s in stages)
        dsp = int(rng.integers(len(stages), max(len(stages) + 1, full // 2)))
        budget = {"dsp": float(dsp), "lut": BIG, "ff": BIG, "bram18": BIG}
        t0 = time.perf_counter()
        want, _ = brute_force(stages, coeffs, budget)
        t_brute += time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            got = fold(stages, "pynq-z2", coeffs=coeffs, budget=budget).interval
        except FoldingError:
            got = None
        t_fold += time.perf_counter() - t0
        total += 1
        sizes.append(size)
        if want is None:
            infeasible += 1
            equal += got is None
            continue
        equal += got == want
        worst = max(worst, (got or math.inf) / want)
    return table(["designs", "combinations (median / max)", "equal to brute force", "worst ratio", "infeasible",
                  "fold ms / design", "brute force ms / design"],
                 [[total, f"{int(np.median(sizes))} / {max(sizes)}", f"{equal}/{total}", f"{worst:.3f}", infeasible,
                   f"{t_fold / total * 1e3:.1f}", f"{t_brute / total * 1e3:.0f}"]])


def bench_reference() -> str:
    from sustainml.nas.catalogue import boards
    from sustainml.nas.folding import fold
    from sustainml.nas.quantized import plan_stages
    from sustainml.nas.topology import load_topology

    stages = plan_stages(load_topology(ROOT / "nas" / "examples" / "ecg_baseline.yaml"))
    rows = []
    for board in boards():
        for objective in ("latency", "energy", "dsp"):
            t0 = time.perf_counter()
            f = fold(stages, board, objective)
            dt = time.perf_counter() - t0
            e = f.estimate
            rows.append([board, objective, " ".join(f"{s.pe}/{s.simd}/{s.kp}" for s in f.stages if s.is_compute),
                         e.interval, f"{e.latency_s * 1e6:.1f}", f"{e.throughput_fps:.0f}", e.dsp, round(e.lut),
                         e.bram36, f"{e.energy_j * 1e6:.2f}", f"{dt * 1e3:.0f}"])
    return table(["board", "objective", "pe/simd/kp (compute stages)", "interval (cycles)", "latency b=1 (us)",
                  "inferences/s", "DSP", "LUT", "BRAM36", "PL uJ/inference", "fold ms"], rows)


def bench_sim(model_dir: Path) -> str:
    from sustainml.board.bundle import load_bundle
    from sustainml.host.build import build
    from sustainml.host.generate import generate
    from sustainml.host.hlsgen import csim
    from sustainml.nas import golden
    from sustainml.nas.data import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        g = generate(model_dir, Path(tmp) / "build", "pynq-z2")
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = load_bundle(build(Path(tmp) / "build", Path(tmp) / "overlays", sim=True, echo=lambda _: None))
        t_build = time.perf_counter() - t0
        data = load_dataset(g.model.metrics.get("dataset", "ECG5000"))
        x = g.model.quantize_input(data.test.x)
        t0 = time.perf_counter()
        hw = csim.run_dnnu(b.bitfile, b.manifest["io"], x)
        t_run = time.perf_counter() - t0
        gold = golden.run(g.model, x)
        same = int((hw == gold).all(axis=1).sum())
        acc = float((hw.argmax(axis=1) == data.test.y).mean())
        return table(["model", "generate s", "build --sim s", "test samples", "bit-identical to golden",
                      "sim accuracy", "model's recorded accuracy", "C-sim samples/s"],
                     [[g.model.topology.name, f"{t_gen:.1f}", f"{t_build:.1f}", len(x), f"{same}/{len(x)}", f"{acc:.4f}",
                       g.model.metrics.get("test_acc", "-"), f"{len(x) / t_run:.0f}"]])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--folding-cases", type=int, default=40)
    ap.add_argument("--model", type=Path, default=None, help="trained model dir for the sim-overlay benchmark")
    args = ap.parse_args(argv)
    print("### Cost model as a NAS objective\n\n" + bench_objectives(args.candidates) + "\n")
    print("### Parallelizer vs brute force (pynq-z2 coefficients, random DSP budgets)\n\n"
          + bench_folding(args.folding_cases) + "\n")
    print("### ecg_baseline per board (cost-model estimates, not synthesis)\n\n" + bench_reference() + "\n")
    if args.model:
        print("### Sim overlay vs golden model\n\n" + bench_sim(args.model) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
