"""Hardware-aware multi-objective NAS (``sustainml search``).

Modules: :mod:`.requirements` (the YAML the user writes), :mod:`.space` (search space,
genotypes, mutations), :mod:`.metrics` (cheap objectives from the cost model),
:mod:`.pareto` (fronts, density sampling, hypervolume), :mod:`.journal` (SQLite journal,
resume), :mod:`.evaluate` (training jobs, process pool / Ray executors), :mod:`.runner`
(screening + journaled evaluation shared by all strategies), :mod:`.engine` (the
LEMONADE-style search), :mod:`.baselines` (random search, Optuna NSGA-II), :mod:`.export`
(Pareto set on disk, table, plot).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..cost_sources import resolve
from .engine import Lemonade
from .evaluate import make_executor
from .journal import Record
from .metrics import Costing
from .requirements import Requirements, RequirementsError, load_requirements
from .runner import Observer, Runner

__all__ = ["Requirements", "RequirementsError", "load_requirements", "run_search", "SearchResult", "STRATEGIES"]


@dataclass
class SearchResult:
    run_dir: Path
    front: List[Record]
    rows: List[Dict[str, Any]]
    evaluations: int
    elapsed_s: float
    cheap_ms: float
    cost_model: str
    columns: List[str]
    table: List[List[Any]]
    selection: Optional[Dict[str, Any]] = None  # RUN/selected/selection.yaml when the requirements ask for it


def strategies() -> Dict[str, Any]:
    from .baselines import NSGA2, RandomSearch

    return {"lemonade": Lemonade, "random": RandomSearch, "nsga2": NSGA2}


STRATEGIES = ("lemonade", "random", "nsga2")


def run_search(req: Requirements, run_dir: Union[str, Path], *, resume: bool = False, executor: Any = "process",
               address: Optional[str] = None, workers: Optional[int] = None, cost_model: Union[str, Path, None] = None,
               observer: Optional[Observer] = None, strategy: str = "lemonade", export: bool = True,
               ray_token_file: Optional[Path] = None) -> SearchResult:
    """Run (or resume) a search into ``run_dir`` and export its Pareto set.

    ``executor``: ``"process"``, ``"ray"`` (with ``address``) or an executor object from
    :func:`.evaluate.make_executor` that the caller owns (reused across searches);
    ``ray_token_file``: the cluster's token for ``executor="ray"`` (default: found as Ray's CLI does).
    """
    from .export import export_front, markdown

    source = resolve(req.board, cost_model)
    costing = Costing(source, req.parallelization)
    n = workers or max(1, os.cpu_count() or 1)
    owned = isinstance(executor, str)
    ex = make_executor(executor, n, address, ray_token_file) if owned else executor
    try:
        runner = Runner(req, Path(run_dir), ex, costing, resume=resume, observer=observer, strategy=strategy)
        if observer:
            observer("start", {"cost_model": source.describe(), "executor": ex.describe(),
                               "parallelization": req.parallelization, "resume": resume,
                               "done": runner.journal.count("done"), "budget": req.budget.evaluations})
        strategies()[strategy](runner).run()
    except BaseException:
        if owned:
            ex.shutdown(cancel=True)
        raise
    if owned:
        ex.shutdown()
    front = runner.front()
    rows = export_front(runner, front) if export and front else []
    cols, table = markdown(runner, rows)
    selection = None
    if export and front and req.selection.top > 0:
        from ..data import load_dataset
        from .select import select

        sel = req.selection
        selection = select(Path(run_dir), req, load_dataset(req.dataset), Path(run_dir) / "selected", top=sel.top,
                           folds=sel.folds, repeats=sel.repeats, workers=n, refit=sel.refit)
    return SearchResult(Path(run_dir), front, rows, runner.journal.count(), runner.elapsed_s, costing.mean_ms,
                        source.describe(), cols, table, selection)
