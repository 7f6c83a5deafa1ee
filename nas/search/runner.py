"""What every search strategy shares: screening on cheap objectives and journaled training.

:class:`Runner` owns the run directory, the journal, the cost model and the executor.
:meth:`Runner.screen` turns a genotype into a topology (validated by the IR), checks it
against the space, costs it in closed form and applies the cheap constraints;
:meth:`Runner.evaluate` trains a batch of candidates in parallel and journals each result as
it arrives (model files first, then the ``done`` row). Strategies (the LEMONADE-style search in
:mod:`.engine`, random search and NSGA-II in :mod:`.baselines`) only decide what to train.
"""
from __future__ import annotations

import shutil
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..costmodel import CostModelError
from ..data import load_dataset
from ..topology import Topology, TopologyError
from . import fidelity
from .evaluate import MODEL_FILES, NET_FILE, TrainJob
from .journal import Journal, JournalError, Record
from .metrics import Costing
from .pareto import losses, nondominated
from .requirements import Requirements
from .space import Genotype

Observer = Callable[[str, Dict[str, Any]], None]


@dataclass
class Screened:
    """Outcome of a cheap evaluation: ``status`` is ok | invalid | infeasible | duplicate."""

    genotype: Genotype
    status: str
    reason: str = ""
    cheap: Optional[Dict[str, float]] = None


class Runner:
    """Run directory + journal + cost model + executor of one search."""

    def __init__(self, req: Requirements, run_dir: Path, executor: Any, costing: Costing, resume: bool = False,
                 observer: Optional[Observer] = None, strategy: str = "lemonade"):
        self.run_dir, self.executor, self.costing = Path(run_dir), executor, costing
        self.observer = observer or (lambda event, info: None)
        data = load_dataset(req.dataset)  # fails early on a bad dataset; workers load their own copy
        self.dataset_name = data.name
        self.length, self.channels, self.classes = data.length, data.channels, data.classes
        self.req = req = req.for_input(self.length)  # space fields the file leaves unset follow the input length
        self.journal = Journal(self.run_dir, create=not resume)
        if resume:
            stored = self.journal.get("fingerprint")
            if stored != req.fingerprint():
                old = self.journal.get("requirements") or {}
                new = req.to_dict()
                diff = sorted(k for k in set(old) | set(new) if k != "budget" and old.get(k) != new.get(k))
                raise JournalError(f"{self.journal.path}: the run was started with different requirements "
                                   f"(differs in: {', '.join(diff) or 'unknown'})")
            if self.journal.get("strategy") != strategy:
                raise JournalError(f"{self.journal.path}: the run used strategy {self.journal.get('strategy')!r}")
        else:
            self.journal.set(requirements=req.to_dict(), fingerprint=req.fingerprint(), strategy=strategy,
                             generation=-1, elapsed_s=0.0, cost_model=costing.source.describe())
        self.keys = self.journal.keys()
        self.fidelity = fidelity.from_training(req.training, req.seed)
        if self.fidelity is not None:
            self.fidelity.replay([r.metrics for r in sorted(self.journal.records("done"), key=lambda r: r.id)])
        self.t_start = time.time()
        self.elapsed0 = float(self.journal.get("elapsed_s", 0.0))

    # ------------------------------------------------------------------ bookkeeping
    @property
    def elapsed_s(self) -> float:
        return self.elapsed0 + time.time() - self.t_start

    def save_elapsed(self) -> None:
        self.journal.set(elapsed_s=self.elapsed_s)

    def evaluations_left(self) -> int:
        return self.req.budget.evaluations - self.journal.count()

    def out_of_time(self) -> bool:
        return self.elapsed_s > 60.0 * self.req.budget.wall_time_min

    def topology(self, g: Genotype, name: str = "candidate") -> Topology:
        return g.topology(name, self.length, self.channels, self.classes)

    def eval_dir(self, rec: Record) -> Path:
        return self.run_dir / "evals" / rec.name

    # ------------------------------------------------------------------ cheap evaluation
    def screen(self, g: Genotype, seen: Optional[set] = None) -> Screened:
        """Validate ``g`` (space, IR, library), cost it and apply the cheap constraints."""
        key = g.key()
        if key in self.keys or (seen is not None and key in seen):
            return Screened(g, "duplicate")
        why = self.req.space.check(g)
        if why:
            return Screened(g, "invalid", why)
        try:
            topo = self.topology(g)
            cheap, fits = self.costing.cheap(topo)
        except (TopologyError, CostModelError) as exc:
            return Screened(g, "invalid", str(exc))
        if not fits:
            return Screened(g, "infeasible", "does not fit the board", cheap)
        for metric, limit in self.req.cheap_limits.items():
            if cheap[metric] > limit:
                return Screened(g, "infeasible", f"{metric}={cheap[metric]:.4g} > {limit:g}", cheap)
        return Screened(g, "ok", "", cheap)

    # ------------------------------------------------------------------ expensive evaluation
    def new_records(self, items: Sequence[Tuple[Screened, Optional[int], str]], generation: int) -> List[Record]:
        first = self.journal.next_id()
        return [Record(first + i, s.genotype.key(), generation, parent, origin, s.genotype, dict(s.cheap or {}),
                       "pending") for i, (s, parent, origin) in enumerate(items)]

    def commit(self, records: Sequence[Record], **meta: Any) -> None:
        """Journal ``records`` as pending (with ``meta``, e.g. generation and RNG state)."""
        self.journal.add_pending(records, **meta)
        self.keys.update(r.key for r in records)

    def _job(self, rec: Record, inherit: bool, rung: int = 0) -> TrainJob:
        topo = self.topology(rec.genotype, rec.name)
        cfg = self.req.training.config(seed=self.req.seed * 100_003 + rec.id)
        if self.fidelity is not None:
            cfg.fidelity = self.fidelity.fractions[rung]
        job = TrainJob(rec.id, rec.name, topo.to_dict(), self.req.dataset, cfg.__dict__.copy())
        if inherit and rec.parent is not None:
            parent_dir = self.run_dir / "evals" / f"c{rec.parent:04d}"
            if (parent_dir / NET_FILE).is_file():
                parents = {r.id: r for r in self.journal.records("done")}
                if rec.parent in parents:
                    job.parent_topology = self.topology(parents[rec.parent].genotype, "parent").to_dict()
                    job.parent_state = (parent_dir / NET_FILE).read_bytes()
        return job

    def evaluate(self, records: Sequence[Record]) -> List[Record]:
        """Train pending ``records`` in parallel; journal each as it finishes. Returns them updated.

        With multi-fidelity (:mod:`.fidelity`) a record is trained rung after rung while the
        pruner promotes it; it is journaled once, with its last training."""
        inherit = self.req.training.inherit
        mf = self.fidelity
        futures: Dict[Any, Tuple[Record, int]] = {}
        pending: set = set()

        def submit(rec: Record, rung: int) -> None:
            fut = self.executor.submit(self._job(rec, inherit, rung))
            futures[fut] = (rec, rung)
            pending.add(fut)

        for r in records:
            submit(r, 0)
        self.observer("submitted", {"records": list(records)})
        out: List[Record] = []
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.discard(fut)
                    rec, rung = futures.pop(fut)
                    try:
                        result = fut.result()
                    except Exception as exc:  # a failed training is journaled, the search goes on
                        if type(exc).__name__ in ("BrokenProcessPool",):
                            raise
                        rec.status, rec.error = "failed", f"{type(exc).__name__}: {exc}"
                        self.journal.fail(rec.id, rec.error)
                        if mf is not None:
                            mf.fail(rec.id)
                    else:
                        metrics = result["metrics"]
                        if mf is not None:
                            if mf.report(rec.id, rung, fidelity.score(metrics)):
                                self.observer("promoted", {"record": rec, "rung": rung + 1})
                                submit(rec, rung + 1)
                                continue
                            metrics = {**metrics, **mf.metrics(rec.id, rung)}
                        self._store(rec, result["files"])
                        self.journal.finish(rec.id, metrics)
                        rec.status, rec.metrics = "done", metrics
                    out.append(rec)
                    self.observer("evaluated", {"record": rec, "done": self.journal.count("done"),
                                                "total": self.req.budget.evaluations})
        except BaseException:
            for f in list(futures):
                f.cancel()
            raise
        return out

    def _store(self, rec: Record, files: Dict[str, bytes]) -> None:
        d = self.eval_dir(rec)
        tmp = d.with_name(d.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for name in MODEL_FILES + (NET_FILE,):
            (tmp / name).write_bytes(files[name])
        if d.exists():
            shutil.rmtree(d)
        tmp.rename(d)

    def resume_pending(self) -> None:
        """Train the candidates a killed run left pending."""
        pending = self.journal.records("pending")
        if pending:
            self.observer("resume", {"pending": len(pending), "done": self.journal.count("done")})
            self.evaluate(pending)

    # ------------------------------------------------------------------ fronts
    def feasible(self) -> List[Record]:
        """Trained candidates that meet the accuracy constraint."""
        return [r for r in self.journal.records("done") if r.values.get("accuracy", 0.0) >= self.req.min_accuracy]

    def front(self, records: Optional[List[Record]] = None) -> List[Record]:
        """The Pareto front (on the requirements' objectives) of ``records`` (default: feasible)."""
        recs = self.feasible() if records is None else records
        if not recs:
            return []
        mask = nondominated(losses([r.values for r in recs], list(self.req.objectives)))
        return [r for r, m in zip(recs, mask) if m]

    def sample_random(self, rng: np.random.Generator, n: int, seen: set, tries_per: int = 200) -> List[Screened]:
        """Up to ``n`` random genotypes that pass screening."""
        out: List[Screened] = []
        for _ in range(n * tries_per):
            if len(out) >= n:
                break
            s = self.screen(self.req.space.sample(rng), seen)
            if s.status == "ok":
                out.append(s)
                seen.add(s.genotype.key())
        return out
