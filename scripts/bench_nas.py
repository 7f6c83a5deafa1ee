#!/usr/bin/env python
"""Benchmark the NAS against random search and Optuna NSGA-II at equal budget.

Same requirements (dataset, board, space, constraints, training schedule), same number of
expensive evaluations, same seeds, same process pool for every strategy. Reports the
hypervolume of each final front on the requirements' objectives, with the accuracy axis
taken from the **test** accuracy of the exported integer models (fronts are selected on
validation accuracy). Axes are normalised between a fixed ideal point (accuracy 1, hardware
metrics 0) and a fixed reference point (accuracy = ``min_accuracy``; each hardware metric =
its ``max_<metric>`` constraint, else twice the reference model's value), so HV is in [0, 1].

Also checks the issue's acceptance numbers for the NAS runs: best test accuracy on the front
and the DSPs of the lowest-energy point against the reference model (nas/examples/ecg_baseline.yaml),
both costed with the same coefficients and the generator's parallelization (fold, latency).

    .venv/bin/python scripts/bench_nas.py --evaluations 40 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from sustainml import REPO_ROOT
from sustainml.nas.cost_sources import resolve
from sustainml.nas.search import STRATEGIES, load_requirements, run_search
from sustainml.nas.search.evaluate import ProcessExecutor
from sustainml.nas.search.metrics import METRICS, Costing
from sustainml.nas.search.pareto import hypervolume, losses
from sustainml.nas.topology import load_topology

EXAMPLE = REPO_ROOT / "nas" / "examples" / "ecg5000_pynq-z2.yaml"
REFERENCE = REPO_ROOT / "nas" / "examples" / "ecg_baseline.yaml"


def md(cols, rows) -> str:
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def bounds(req, costing: Costing):
    """(ideal, reference) in loss space for the requirements' objectives."""
    ref_topo = load_topology(REFERENCE)
    ref_cheap, _ = costing.cheap(ref_topo)
    ideal, worst = [], []
    for o in req.objectives:
        if o == "accuracy":
            ideal.append(-1.0)
            worst.append(-req.min_accuracy)
        else:
            ideal.append(0.0)
            worst.append(req.cheap_limits.get(o, 2.0 * ref_cheap[o]))
    return np.array(ideal), np.array(worst)


def normalised_hv(front, req, ideal, worst, accuracy_key: str) -> float:
    if not front:
        return 0.0
    recs = [{**r.values, "accuracy": float(r.metrics[accuracy_key])} for r in front]
    loss = (losses(recs, list(req.objectives)) - ideal) / (worst - ideal)
    return hypervolume(loss, np.ones(len(ideal)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requirements", type=Path, default=EXAMPLE)
    ap.add_argument("--evaluations", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_nas"))
    args = ap.parse_args(argv)

    base = load_requirements(args.requirements)
    base = base.replace(budget=dataclasses.replace(base.budget, evaluations=args.evaluations,
                                                   initial=min(base.budget.initial, args.evaluations),
                                                   wall_time_min=1e9))
    costing = Costing(resolve(base.board), base.parallelization)
    ideal, worst = bounds(base, costing)
    ref_topo = load_topology(REFERENCE)
    ref_dsp = costing.estimate(ref_topo, "latency").dsp
    pool = ProcessExecutor(args.workers)
    results: Dict[str, List[dict]] = {s: [] for s in args.strategies}
    try:
        for seed in args.seeds:
            for strategy in args.strategies:
                run_dir = args.out / strategy / f"seed{seed}"
                if run_dir.exists():
                    shutil.rmtree(run_dir)
                req = base.replace(seed=seed)
                t0 = time.perf_counter()
                res = run_search(req, run_dir, executor=pool, strategy=strategy)
                wall = time.perf_counter() - t0
                best = max(res.front, key=lambda r: r.values["accuracy"]) if res.front else None
                low = min(res.front, key=lambda r: r.values["energy_uj"]) if res.front else None
                low_dsp = next((p["generator"].get("dsp") for p in res.rows if low and p["name"] == low.name), None)
                row = {"seed": seed, "hv_test": normalised_hv(res.front, req, ideal, worst, "test_acc"),
                       "hv_val": normalised_hv(res.front, req, ideal, worst, "val_acc_int"),
                       "front": len(res.front), "evaluations": res.evaluations, "wall_s": wall,
                       "best_test": float(best.metrics["test_acc"]) if best else float("nan"),
                       "low_energy_uj": low.values["energy_uj"] if low else float("nan"),
                       "low_dsp": low_dsp, "cheap_ms": res.cheap_ms}
                results[strategy].append(row)
                print(f"[{strategy} seed {seed}] HV(test) {row['hv_test']:.4f} front {row['front']} "
                      f"best test acc {row['best_test']:.4f} wall {wall / 60:.1f} min", file=sys.stderr, flush=True)
    finally:
        pool.shutdown()

    def ms(xs):
        xs = [x for x in xs if x is not None]
        return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"

    objectives = ", ".join(f"{METRICS[o].goal} {o}" for o in base.objectives)
    print(f"### NAS benchmark: {base.dataset} on {base.board}, {args.evaluations} trainings per run, "
          f"seeds {' '.join(map(str, args.seeds))}\n")
    print(f"Objectives: {objectives}; HV normalised between ideal {ideal.tolist()} and reference "
          f"{worst.tolist()} (loss space); cost model {costing.source.describe()}.\n")
    rows = []
    for s, rs in results.items():
        rows.append([s, len(rs), ms([r["hv_test"] for r in rs]), ms([r["hv_val"] for r in rs]),
                     ms([r["best_test"] for r in rs]), f"{statistics.mean(r['front'] for r in rs):.1f}",
                     f"{statistics.mean(r['wall_s'] for r in rs) / 60:.1f}"])
    print(md(["strategy", "runs", "HV (test acc)", "HV (val acc)", "best test acc", "front size", "wall time (min)"],
             rows))
    print()
    per = [[s, r["seed"], f"{r['hv_test']:.4f}", f"{r['best_test']:.4f}", f"{r['low_energy_uj']:.3g}",
            r["low_dsp"], ref_dsp, f"{r['wall_s'] / 60:.1f}", f"{r['cheap_ms']:.3f}"]
           for s, rs in results.items() for r in rs]
    print(md(["strategy", "seed", "HV (test)", "best test acc", "lowest energy [uJ]",
              "its DSP (generator)", "reference DSP (generator)", "wall (min)", "cost model ms/candidate"], per))
    return 0



if __name__ == "__main__":
    sys.exit(main())
