"""The search's deliverable: the Pareto set on disk, a table and a plot of the front.

``RUN_DIR/pareto/<cNNNN>/`` holds one model directory per front point (``model.yaml`` +
``weights.npz``, the :class:`QuantizedModel` format) plus ``costs.yaml``: the cost-model
estimate at the search's parallelization and at the generator's default one (``fold``,
objective ``latency``), and the coefficient file used. ``RUN_DIR/pareto.yaml`` lists the
points, ``RUN_DIR/pareto.md`` is the table, ``RUN_DIR/front.png`` the plot.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Sequence

import yaml

from ..folding import FoldingError
from .evaluate import MODEL_FILES
from .journal import Record
from .metrics import METRICS, metrics_of
from .runner import Runner

GENERATOR_OBJECTIVE = "latency"  # host/generate.py default


def point_summary(runner: Runner, rec: Record) -> Dict[str, Any]:
    """Metrics of one front point: accuracies, cheap objectives, generator-parallelized costs."""
    topo = runner.topology(rec.genotype, rec.name)
    row: Dict[str, Any] = {"name": rec.name, "generation": rec.generation, "parent": rec.parent,
                           "origin": rec.origin, "architecture": rec.genotype.describe(),
                           "val_acc": rec.metrics.get("val_acc_int"), "test_acc": rec.metrics.get("test_acc"),
                           "train_time_s": rec.metrics.get("train_time_s"),
                           "search": {k: round(float(v), 6) for k, v in rec.cheap.items()}}
    try:
        est = runner.costing.estimate(topo, GENERATOR_OBJECTIVE)
        row["generator"] = {k: round(float(v), 6) for k, v in metrics_of(est, topo).items()}
        row["generator"]["dsp"] = int(est.dsp)
    except FoldingError as exc:
        row["generator"] = {"error": str(exc)}
    return row


def export_front(runner: Runner, front: Sequence[Record]) -> List[Dict[str, Any]]:
    """Write the Pareto set, ``pareto.yaml``, ``pareto.md`` and ``front.png``; returns the rows."""
    out = runner.run_dir / "pareto"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    key = "accuracy"
    rows = []
    for rec in sorted(front, key=lambda r: -r.values.get(key, 0.0)):
        src = runner.eval_dir(rec)
        dst = out / rec.name
        dst.mkdir()
        for f in MODEL_FILES:
            shutil.copyfile(src / f, dst / f)
        row = point_summary(runner, rec)
        (dst / "costs.yaml").write_text(yaml.safe_dump({
            "cost_model": runner.costing.source.describe(),
            "search": {"parallelization": runner.costing.parallelization,
                       "estimate": runner.costing.estimate(runner.topology(rec.genotype, rec.name)).to_dict()},
            "generator": {"parallelization": GENERATOR_OBJECTIVE, "metrics": row["generator"]},
        }, sort_keys=False))
        rows.append(row)
    (runner.run_dir / "pareto.yaml").write_text(yaml.safe_dump(
        {"requirements": runner.req.to_dict(), "cost_model": runner.costing.source.describe(),
         "evaluations": runner.journal.count(), "points": rows}, sort_keys=False))
    cols, table = markdown(runner, rows)
    (runner.run_dir / "pareto.md").write_text(_md(cols, table) + "\n")
    plot_front(runner, front, runner.run_dir / "front.png")
    return rows


def columns(runner: Runner) -> List[str]:
    cheap = [o for o in runner.req.objectives if o != "accuracy"]
    return ["point", "val acc", "test acc"] + [f"{o} [{METRICS[o].unit}]" if METRICS[o].unit else o for o in cheap] + \
        [f"DSP ({runner.costing.parallelization})", f"DSP ({GENERATOR_OBJECTIVE})", "params", "architecture"]


def markdown(runner: Runner, rows: Sequence[Dict[str, Any]]):
    cheap = [o for o in runner.req.objectives if o != "accuracy"]
    table = []
    for r in rows:
        table.append([r["name"], f"{r['val_acc']:.4f}", f"{r['test_acc']:.4f}"]
                     + [f"{r['search'][o]:.4g}" for o in cheap]
                     + [int(r["search"]["dsp"]), r["generator"].get("dsp", "n/a"), int(r["search"]["params"]),
                        r["architecture"]])
    return columns(runner), table


def _md(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def plot_front(runner: Runner, front: Sequence[Record], path: Path) -> Path:
    """Accuracy against the first cheap objective: every trained candidate, the front highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cheap = [o for o in runner.req.objectives if o != "accuracy"][0]
    done = runner.journal.records("done")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.scatter([r.values[cheap] for r in done], [r.metrics.get("test_acc", 0) for r in done], s=14, c="0.7",
               label=f"trained ({len(done)})")
    pts = sorted(front, key=lambda r: r.values[cheap])
    ax.plot([r.values[cheap] for r in pts], [r.metrics.get("test_acc", 0) for r in pts], "o-", c="C3",
            label=f"Pareto set ({len(pts)})")
    unit = METRICS[cheap].unit
    ax.set_xscale("log")
    ax.set_xlabel(f"{cheap} [{unit}] ({runner.costing.parallelization}, {runner.req.board})" if unit else cheap)
    ax.set_ylabel("test accuracy (integer model)")
    ax.set_title(f"{runner.dataset_name} on {runner.req.board}: {runner.journal.count()} trainings")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
