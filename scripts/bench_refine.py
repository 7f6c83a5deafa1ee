#!/usr/bin/env python
"""Measurements → refined cost model → better NAS choices, on simulated boards. Markdown tables.

The simulated boards' timing and power ("silicon") parameters are hidden from the host and differ
from the cost model's priors (board/sim/params.yaml; nothing here reads it). Every number below
is measured on those simulated boards through pynq and the board runtime: simulated measurements.

1. Campaign: ``--designs`` calibration designs (random topologies, random-weight models, varied
   unrolling and PL clock; generated with the RTL backend and built as rtlsim overlays, so the
   hardware time of a call is the Verilator cycle count of the circuit at the PL clock) per board
   on the simulated PYNQ-Z2 (no rails: simulated external meter) and ZCU104 (PMBus rails), both
   boards in parallel, batches 1 and 8, two repetitions of ``--calls`` calls (the circuit's cycle
   count is deterministic; the calls only matter for the driver's host time). Board power is
   the simulated board's power model (board/sim: from the circuit's activity on main since the
   power branch; a parametric model before), never read by the host side.
   Then Yosys ``synth_xilinx`` (xc7 for PYNQ-Z2, xcup for ZCU104) of every measured design's
   Verilog within ``--synth-minutes`` (cached by content hash; minutes per design on 2 cores).
2. ``refine`` per board: prediction error of the prior and of the refined model on held-out
   designs (4-fold by design): latency per call, hardware time, dynamic PL power, board power, energy,
   LUT, FF, DSP, BRAM18 (MAPE, max, share within +-10%; DSP/BRAM18 also exact / off by one; resource
   rows only for designs with Yosys counts); then both judged on ``--fresh`` random designs of
   another seed, built and measured after the fit.
3. NAS with the prior vs the refined PYNQ-Z2 model: two ``sustainml search`` runs (same seed,
   budget, accuracy constraint; cost-model-driven ``energy`` parallelization). Each run's pick is
   its lowest-predicted-energy Pareto point that meets the accuracy constraint, generated with the
   same cost model and built as an rtlsim overlay; both picks are then measured on the simulated
   PYNQ-Z2 (measured energy per inference: circuit time x the simulated board's power).

    .venv/bin/python scripts/bench_refine.py [--designs 24] [--evaluations 24] [--work DIR] [--skip-nas] [--calls 20]
        [--synth-minutes 60] [--fresh 24]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import yaml

from sustainml.host.deploy_cli import main as deploy
from sustainml.host.measure.db import MeasurementDB
from sustainml.host.measure.refine import METRICS, load_observations, refine
from sustainml.host.measure.report import ERROR_COLUMNS, error_row
from sustainml.host.progress import markdown_table
from sustainml.nas.costmodel import COEFF_DIR

BOARDS = ("sim:pynq-z2", "sim:zcu104")
MIN_ACCURACY = 0.88


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


CALLS = [200]


def campaign(path: Path, boards, overlays, **extra) -> Path:
    doc = {"name": path.stem, "boards": list(boards), "overlays": overlays, "batches": [1, 8], "calls": CALLS[0],
           "repetitions": 2, "warmup": 5, "power": {"interval_s": 0.005, "idle_s": 0.15, "meter": "sim"}, **extra}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    t0 = time.time()
    rc = deploy(["measure", str(path), "--resume"])  # --resume: a rerun on the same --work measures nothing twice
    if rc != 0:
        raise SystemExit(f"campaign {path} failed (exit {rc})")
    log(f"campaign {path.name}: {time.time() - t0:.0f} s")
    return path.parent / "measurements.sqlite" if "db" not in extra else path.parent / extra["db"]


def synthesize(db_path: Path, minutes: float, workers: int = 2) -> None:
    """Yosys counts of the measured rtlsim designs (cached by content hash), at most ``minutes`` of
    wall time; designs not synthesized by then are left out of the resource rows."""
    from concurrent.futures import ThreadPoolExecutor

    from sustainml.host.measure.resources import yosys_counts

    with MeasurementDB(db_path) as db:
        jobs = []
        for board in BOARDS:
            if board in db.boards():
                cat, obs = load_observations(db, board, synth="off")
                jobs += [(o.design.path, cat) for o in obs]
    t_end = time.time() + minutes * 60
    done = [0]

    def one(job) -> None:
        r = yosys_counts(job[0], job[1], run=time.time() < t_end)  # past the budget: cached results only
        done[0] += r is not None
        if r and not r["cached"]:
            log(f"  Yosys {Path(job[0]).name}: {r['seconds']:.0f} s")

    t0 = time.time()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, jobs))
    log(f"Yosys: {done[0]}/{len(jobs)} designs have counts (synthesized or cached), {time.time() - t0:.0f} s")


def _rows(board: str, designs: int, before: Dict[str, Any], after: Dict[str, Any]) -> List[List[Any]]:
    return [[board, designs, *error_row(m, before[m], after[m])] for m in METRICS if before.get(m) and after.get(m)]


def _synthesized(obs) -> str:
    return f"{sum(o.resources is not None for o in obs)}/{len(obs)}"


def refinement_tables(db_path: Path, out_dir: Path) -> Dict[str, Any]:
    rows, results = [], {}
    with MeasurementDB(db_path) as db:
        for board in BOARDS:
            t0 = time.time()
            r = refine(db, board, folds=4)
            log(f"refine {board}: {time.time() - t0:.1f} s; Yosys counts for {_synthesized(r.observations)} designs")
            results[board] = r
            r.refined.save(out_dir / f"{r.board.name}.yaml")
            rows += _rows(board, len(r.observations), r.errors["before"], r.errors["after"])
    print("\n### Prediction error on held-out designs (4-fold by design), simulated boards\n")
    print(markdown_table(["board", "designs", *ERROR_COLUMNS], rows))
    return results


def fresh_table(db_path: Path, models: Path, boards=BOARDS) -> None:
    """The refined models (fitted on the calibration designs) and the priors judged on fresh random
    designs drawn after the fit (another seed; never part of any fit)."""
    from sustainml.host.measure.refine import error_table, predict
    from sustainml.nas.costmodel import load_coefficients

    rows = []
    with MeasurementDB(db_path) as db:
        for board in boards:
            if board not in db.boards():
                continue
            cat, obs = load_observations(db, board)
            refined = load_coefficients(cat, models / f"{cat.name}.yaml")
            prior = load_coefficients(cat, COEFF_DIR / f"{cat.name}.yaml")
            before = error_table(obs, [predict(o, cat, prior) for o in obs])
            after = error_table(obs, [predict(o, cat, refined) for o in obs])
            log(f"fresh {board}: Yosys counts for {_synthesized(obs)} designs")
            rows += _rows(board, len(obs), before, after)
    print("\n### Fresh random designs drawn after the fit (never fitted on), simulated boards\n")
    print(markdown_table(["board", "fresh designs", *ERROR_COLUMNS], rows))


def nas_comparison(work: Path, refined_file: Path, evaluations: int) -> None:
    from sustainml.host.rtlgen.bundle import build_rtlsim
    from sustainml.host.generate import generate
    from sustainml.nas.search import load_requirements, run_search
    from sustainml.nas.search.evaluate import ProcessExecutor

    req_doc = {
        "dataset": "ECG5000", "board": "pynq-z2", "seed": 0, "parallelization": "energy",
        "constraints": {"min_accuracy": MIN_ACCURACY, "max_dsp": 110},
        "objectives": {"accuracy": "max", "energy_uj": "min"},
        "budget": {"evaluations": evaluations, "initial": max(2, evaluations // 3), "population": 4, "mutants": 48,
                   "generations": 20, "wall_time_min": 60},
        "training": {"schedule": "default"},
        "space": {"blocks": [1, 3], "filters": [4, 8, 12, 16], "kernels": [3, 5, 7], "strides": [1, 2],
                  "pools": [0, 2, 4]},
    }
    req_path = work / "requirements.yaml"
    req_path.write_text(yaml.safe_dump(req_doc, sort_keys=False))
    req = load_requirements(req_path)
    models = {"prior": COEFF_DIR / "pynq-z2.yaml", "refined": refined_file}
    picks: Dict[str, Dict[str, Any]] = {}
    pool = ProcessExecutor(2)
    try:
        for tag, coeff_file in models.items():
            t0 = time.time()
            shutil.rmtree(work / f"search-{tag}", ignore_errors=True)
            res = run_search(req, work / f"search-{tag}", executor=pool, cost_model=coeff_file)
            ok = [r for r in res.front if r.values["accuracy"] >= MIN_ACCURACY]
            log(f"search with the {tag} model: {res.evaluations} trained, front {len(res.front)}, "
                f"{time.time() - t0:.0f} s")
            if not ok:
                raise SystemExit(f"the {tag} search found no model with val accuracy >= {MIN_ACCURACY}")
            pick = min(ok, key=lambda r: r.values["energy_uj"])
            point = work / f"search-{tag}" / "pareto" / pick.name
            gen = generate(point, work / "builds" / tag, "pynq-z2", objective="energy", cost_model=coeff_file,
                           name=f"nas_{tag}_{pick.name}", backend="rtl")
            bundle = build_rtlsim(work / "builds" / tag, work / "overlays", echo=lambda _: None)
            picks[tag] = {"record": pick, "bundle": bundle, "folding": gen.folding, "front": len(res.front)}
    finally:
        pool.shutdown()
    db = campaign(work / "nas.yaml", ["sim:pynq-z2"], [str(p["bundle"]) for p in picks.values()], db="nas.sqlite")
    with MeasurementDB(db) as mdb:
        _, obs = load_observations(mdb, "sim:pynq-z2")
    by_name = {o.design.name: o for o in obs}
    rows = []
    for tag, p in picks.items():
        o = by_name[p["bundle"].name]
        rec, fold = p["record"], p["folding"]
        unroll = " ".join(f"{s.kind}:{s.pe}/{s.simd}/{s.kp}" for s in fold.stages)
        rows.append([tag, rec.name, rec.genotype.describe(), f"{rec.values['accuracy']:.3f}",
                     f"{rec.metrics.get('test_acc', float('nan')):.3f}", unroll, f"{rec.values['energy_uj']:.2f}",
                     f"{o.per_inference_s * 1e6:.1f}", f"{o.board_power_w:.3f}", f"**{o.energy_j * 1e6:.2f}**",
                     f"{o.dyn_energy_j[max(o.dyn_energy_j)] * 1e6:.3f}" if o.dyn_energy_j else "-"])
    print(f"\n### NAS picks with the prior vs the refined cost model (PYNQ-Z2, val accuracy >= {MIN_ACCURACY}, "
          f"{evaluations} trainings each), measured on the simulated board\n")
    print(markdown_table(["cost model", "pick", "architecture", "val acc", "test acc", "unrolling (pe/simd/kp)",
                          "predicted PL energy (µJ)", "measured time / inference (µs)", "measured board power (W)",
                          "measured board energy / inference (µJ)",
                          "measured dynamic energy / inference, largest batch (µJ)"], rows))
    e = {tag: by_name[p["bundle"].name].energy_j for tag, p in picks.items()}
    print(f"\nMeasured energy per inference of the refined model's pick vs the prior's: "
          f"{(e['refined'] / e['prior'] - 1) * 100:+.1f}%")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", type=int, default=24, help="calibration designs per board (default 24)")
    ap.add_argument("--evaluations", type=int, default=24, help="trainings per NAS run (default 24)")
    ap.add_argument("--work", type=Path, default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--skip-nas", action="store_true", help="only the campaign and the refinement")
    ap.add_argument("--calls", type=int, default=20, help="timed calls per unit (default 20)")
    ap.add_argument("--synth-minutes", type=float, default=60.0,
                    help="wall-time budget for Yosys synth_xilinx of the measured designs before each table (default "
                         "60; designs already in the cache cost nothing; 0: only cached ones)")
    ap.add_argument("--fresh", type=int, default=24, help="fresh random designs per board judged after the fit "
                    "(default 24; 0: none)")
    args = ap.parse_args()
    CALLS[0] = args.calls
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_refine-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"work directory: {work}")
    t0 = time.time()
    db = campaign(work / "calibration.yaml", BOARDS, [{"calibration": args.designs, "seed": 1}])
    models = work / "cost-models"
    models.mkdir(exist_ok=True)
    synthesize(db, args.synth_minutes)
    refinement_tables(db, models)
    if args.fresh:
        fresh = campaign(work / "fresh.yaml", BOARDS, [{"calibration": args.fresh, "seed": 2}], db="fresh.sqlite")
        synthesize(fresh, args.synth_minutes)
        fresh_table(fresh, models)
    if not args.skip_nas:
        nas_comparison(work, models / "pynq-z2.yaml", args.evaluations)
    log(f"total {time.time() - t0:.0f} s")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
