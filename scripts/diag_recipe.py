#!/usr/bin/env python
"""Where accuracy is lost: one fixed topology per dataset trained with training-recipe variants.

Prints, per dataset and variant, the torch test accuracy at the end of each phase (float, QAT,
QAT with BatchNorm folded) and the exported integer model's test accuracy (golden), mean over
``--seeds``. A diagnostic of the training recipe (test accuracy is looked at, so it guides the
defaults only together with the cross-validated search results of bench_datasets.py).

    nice -n 5 .venv/bin/python scripts/diag_recipe.py --datasets ECG200 ArrowHead --seeds 0 1 \\
        --variants base ema ls mixup --workers 2
    nice -n 5 .venv/bin/python scripts/diag_recipe.py --datasets ECG5000 --variants auto --seeds 0 1 2 3 \
        --model runs/bench_datasets/ECG5000/selected/model/model.yaml
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from sustainml.nas.search.space import Block, Genotype

#: the bench's schedule (scripts/bench_datasets.py requirements)
BASE = {"float_epochs": 40, "qat_epochs": 20, "folded_epochs": 10, "patience": 10, "threads": 1}
OFF = {"ema": 0.0, "label_smoothing": 0.0}
VARIANTS: Dict[str, Dict[str, Any]] = {
    "base": OFF,  # the recipe before weight averaging and label smoothing
    "auto": {},  # TrainConfig's defaults (ema / label smoothing from the training-set size)
    "ema": {**OFF, "ema": 0.99},
    "ls": {**OFF, "label_smoothing": 0.1},
    "mixup": {**OFF, "mixup": 0.2},
    "noaug": {**OFF, "augment": False},
    "long": {**OFF, "float_epochs": 80, "qat_epochs": 40, "folded_epochs": 20},
    "qatlr": {"qat_lr_scale": 0.2},  # auto regularization, QAT phases at a fifth of the learning rate
    "ema+ls": {"ema": 0.99, "label_smoothing": 0.1},
    "all": {"ema": 0.99, "label_smoothing": 0.1, "mixup": 0.2},
    # the validation split pooled back into training, fixed schedule (what a refit on the whole training file does)
    "refit": {"pool": True},
    "refit+ema": {"pool": True, "ema": 0.99},
    "refit+ema+ls": {"pool": True, "ema": 0.99, "label_smoothing": 0.1},
    "refit+ema+qatlr": {"pool": True, "ema": 0.99, "qat_lr_scale": 0.3},
    "refit+ema+nobal": {"pool": True, "ema": 0.99, "class_balance": False},
    "nobal": {"class_balance": False},
}


def genotype(length: int) -> Genotype:
    """A mid-sized 6-bit candidate of the derived space for inputs of ``length`` samples."""
    b = lambda f, k, s, p: Block("Conv1D", f, k, s, p, 6, 6)  # noqa: E731
    if length <= 256:
        blocks = (b(16, 7, 1, 2), b(16, 5, 1, 2), b(16, 5, 1, 0))
    elif length <= 1024:
        blocks = (b(16, 7, 2, 2), b(16, 5, 1, 2), b(16, 5, 1, 2), b(16, 5, 1, 0))
    else:
        blocks = (b(16, 7, 4, 2), b(16, 5, 1, 2), b(16, 5, 1, 2), b(16, 5, 1, 2), b(16, 5, 1, 0))
    return Genotype(blocks, 8, 16, 8)


def job(args: Tuple[str, str, int, str]) -> Dict[str, Any]:
    import torch
    import yaml

    from sustainml.nas.search.evaluate import _dataset
    from sustainml.nas.topology import Topology
    from sustainml.nas.train import TrainConfig, train

    torch.set_num_threads(1)
    name, variant, seed, model = args
    data = _dataset(name)
    if model:  # a trained candidate's topology (model.yaml), e.g. a search's pick
        topo = Topology.from_dict(yaml.safe_load(Path(model).read_text())["topology"], "diag")
    else:
        topo = genotype(data.length).topology("diag", data.length, data.channels, data.classes)
    opts = dict(VARIANTS[variant])
    if opts.pop("pool", False):
        from sustainml.nas.search.select import nothing_held_out
        data = nothing_held_out(data)
    t0 = time.perf_counter()
    res = train(topo, data, TrainConfig(**{**BASE, **opts, "seed": seed}))
    m = res.metrics
    return {"dataset": name, "variant": variant, "seed": seed, **m["phase_test_acc"], "int": m["test_acc"],
            "val": m["val_acc"], "s": round(time.perf_counter() - t0, 1), "params": m["params"]}


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["ECG200", "ArrowHead"])
    ap.add_argument("--variants", nargs="+", default=["base", "ema"], choices=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="", help="train this model.yaml's topology instead of the fixed one "
                                                "(one dataset)")
    ap.add_argument("--out", type=Path, default=Path("runs/diag_recipe.json"))
    args = ap.parse_args(argv)
    jobs = [(d, v, s, args.model) for d in args.datasets for v in args.variants for s in args.seeds]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows: List[Dict[str, Any]] = []
        for r in pool.map(job, jobs):
            rows.append(r)
            print(json.dumps(r), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print("\n| dataset | variant | float | qat | qat_folded | int | s/training |\n|---|---|---|---|---|---|---|")
    for d in args.datasets:
        for v in args.variants:
            rs = [r for r in rows if r["dataset"] == d and r["variant"] == v]
            mean = lambda k: np.mean([r[k] for r in rs])  # noqa: E731
            print(f"| {d} | {v} | {mean('float'):.4f} | {mean('qat'):.4f} | {mean('qat_folded'):.4f} | "
                  f"{mean('int'):.4f} | {mean('s'):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
