"""``sustainml search REQUIREMENTS.yaml --out RUN_DIR``: hardware-aware multi-objective NAS.

Trains candidates that pass the cheap (cost-model) constraints, journals every evaluation in
``RUN_DIR/journal.sqlite`` (``--resume`` continues a killed search), and writes the Pareto set
(``RUN_DIR/pareto/<point>/``: model.yaml + weights.npz + costs.yaml), ``pareto.md`` and
``front.png``. Requirements format: ``nas/search/requirements.py``; example:
``nas/examples/ecg5000_pynq-z2.yaml``.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, Dict

from sustainml.nas.search import STRATEGIES, load_requirements, run_search

from ..errors import UserError
from ..progress import console, make_progress, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="hardware-aware multi-objective NAS: requirements -> Pareto set of trained models",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("requirements", type=Path, help="requirements YAML (e.g. nas/examples/ecg5000_pynq-z2.yaml)")
    p.add_argument("--out", type=Path, required=True, help="run directory (journal, trained candidates, Pareto set)")
    p.add_argument("--resume", action="store_true", help="continue the search journaled in --out")
    p.add_argument("--executor", choices=("process", "ray"), default="process",
                   help="where trainings run: local process pool (default) or a Ray cluster")
    p.add_argument("--address", default=None, help="Ray cluster address HOST:PORT, or 'local' (default)")
    p.add_argument("--ray-token-file", type=Path, default=None,
                   help="the Ray cluster's auth token (default: $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)")
    p.add_argument("--workers", type=int, default=None, help="parallel trainings (default: CPU count)")
    p.add_argument("--cost-model", type=Path, default=None,
                   help="cost-model coefficient file (default: the board's refined file if one exists, else the prior)")
    p.add_argument("--strategy", choices=STRATEGIES, default="lemonade",
                   help="lemonade (default) or a baseline for comparison: random, nsga2")
    p.add_argument("--evaluations", type=int, default=None, help="override budget.evaluations")
    p.set_defaults(func=run)


class _Display:
    """Rich progress: evaluations bar, one line per generation, the front so far."""

    def __init__(self, progress: Any, total: int):
        self.p = progress
        self.task = progress.add_task("evaluations", total=total, info="")

    def __call__(self, event: str, info: Dict[str, Any]) -> None:
        log = self.p.console.log
        if event == "start":
            log(f"cost model: {info['cost_model']}")
            log(f"parallelization for cheap objectives: {info['parallelization']}; executor: {info['executor']}")
            if info["resume"]:
                log(f"resuming: {info['done']} evaluations already done")
            self.p.update(self.task, completed=info["done"], total=info["budget"])
        elif event == "resume":
            log(f"re-training {info['pending']} candidate(s) a previous run left unfinished")
        elif event == "generation":
            extra = ""
            if "mutants" in info and info.get("mutants"):
                extra = (f" from {info['mutants']} mutants ({info['invalid']} invalid, {info['infeasible']} over "
                         f"constraints, {info['duplicates']} duplicates; cost model {info['cheap_ms']:.3f} ms each)")
            log(f"generation {info['generation']}: training {info['selected']}{extra}")
        elif event == "evaluated":
            rec = info["record"]
            what = (f"{rec.name} val {rec.metrics['val_acc_int']:.3f} test {rec.metrics['test_acc']:.3f}"
                    if rec.status == "done" else f"{rec.name} failed: {rec.error}")
            self.p.update(self.task, completed=info["done"], info=what)
        elif event == "front":
            front = info["front"]
            if front:
                best = max(front, key=lambda r: r.values["accuracy"])
                log(f"front after generation {info['generation']}: {len(front)} points, best val acc "
                    f"{best.values['accuracy']:.3f} ({best.name})")
        elif event == "stalled":
            log(f"no new feasible mutant for several generations; stopping at generation {info['generation']}")


def run(args: argparse.Namespace) -> int:
    req = load_requirements(args.requirements)
    if args.evaluations is not None:
        if args.evaluations < 1:
            raise UserError(f"--evaluations {args.evaluations} must be >= 1")
        req = req.replace(budget=dataclasses.replace(req.budget, evaluations=args.evaluations,
                                                     initial=min(req.budget.initial, args.evaluations)))
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers} must be >= 1")
    if args.executor != "ray" and args.address:
        raise UserError("--address needs --executor ray")
    if args.executor != "ray" and args.ray_token_file:
        raise UserError("--ray-token-file needs --executor ray")
    with make_progress() as progress:
        result = run_search(req, args.out, resume=args.resume, executor=args.executor, address=args.address,
                            workers=args.workers, cost_model=args.cost_model, strategy=args.strategy,
                            ray_token_file=args.ray_token_file,
                            observer=_Display(progress, req.budget.evaluations))
    if not result.front:
        console.print(f"no trained candidate met the constraints (min_accuracy {req.min_accuracy}); "
                      f"see {args.out}/journal.sqlite")
        return 1
    table(f"Pareto set: {len(result.table)} of {result.evaluations} trained candidates "
          f"({result.elapsed_s / 60:.1f} min, cost model {result.cheap_ms:.3f} ms per candidate)",
          result.columns[:-1], [row[:-1] for row in result.table])  # architectures: see pareto.md
    console.print(f"cost model: {result.cost_model}")
    console.print(f"Pareto set: {args.out}/pareto/  table: {args.out}/pareto.md  plot: {args.out}/front.png")
    if result.selection:
        sel = result.selection
        pick = next(c for c in sel["candidates"] if c["name"] == sel["pick"])
        console.print(f"cross-validated pick: {sel['pick']} (cv accuracy {pick['cv_acc']:.4f}, "
                      f"{'refit on the whole training file' if sel['refit'] else 'search model kept'}): "
                      f"{args.out}/selected/model/")
    return 0

