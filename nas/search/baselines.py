"""Baseline strategies at equal budget: random search and Optuna's NSGA-II.

Both run through the same :class:`Runner` as the evolutionary search (same space, screening,
cheap constraints, training schedule, executor and journal), so a benchmark compares only
how candidates are chosen. Random search samples the space uniformly and trains what passes
screening. NSGA-II (``optuna.samplers.NSGAIISampler``) sees the space as the fixed-length
categorical encoding :meth:`SearchSpace.params`; candidates that fail the cheap constraints
are told to Optuna as constraint violations (``Trial.set_constraint``) without training,
invalid ones as failed trials, so only trained candidates count against the budget.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from .engine import _rng, _rng_state
from .journal import JournalError
from .metrics import METRICS
from .runner import Runner, Screened


class RandomSearch:
    strategy = "random"

    def __init__(self, runner: Runner):
        self.r = runner

    def run(self) -> None:
        r = self.r
        r.resume_pending()
        gen = int(r.journal.get("generation", -1))
        rng = _rng(r.journal.get("rng"), r.req.seed)
        while r.evaluations_left() > 0 and not r.out_of_time():
            gen += 1
            batch = r.sample_random(rng, min(r.req.budget.population, r.evaluations_left()), set())
            if not batch:
                break
            records = r.new_records([(s, None, "random") for s in batch], gen)
            r.commit(records, generation=gen, rng=_rng_state(rng))
            r.observer("generation", {"generation": gen, "selected": len(records)})
            r.evaluate(records)
            r.save_elapsed()
            r.observer("front", {"generation": gen, "front": r.front()})
        r.save_elapsed()


class NSGA2:
    strategy = "nsga2"
    MAX_ASKS = 5000  # per batch: asks of invalid/infeasible/duplicate points before giving up

    def __init__(self, runner: Runner):
        self.r = runner

    def run(self) -> None:
        import optuna
        from optuna.distributions import CategoricalDistribution
        from optuna.trial import TrialState

        r, req = self.r, self.r.req
        if r.journal.count():
            raise JournalError(f"{r.journal.path}: the NSGA-II baseline keeps its population in memory and cannot resume")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        objectives = list(req.objectives)
        sampler = optuna.samplers.NSGAIISampler(population_size=max(4, req.budget.initial), seed=req.seed)
        study = optuna.create_study(directions=["maximize" if METRICS[o].goal == "max" else "minimize"
                                                for o in objectives], sampler=sampler)
        dists = {k: CategoricalDistribution(list(v)) for k, v in req.space.params().items()}
        known: Dict[str, Any] = {}
        gen = -1
        while r.evaluations_left() > 0 and not r.out_of_time():
            gen += 1
            want = min(req.budget.population, r.evaluations_left())
            batch: List[Tuple[Any, Screened]] = []
            seen: set = set()
            for _ in range(self.MAX_ASKS):
                if len(batch) >= want:
                    break
                trial = study.ask(fixed_distributions=dists)
                g = req.space.decode(trial.params)
                s = r.screen(g, seen)
                if s.status == "ok":
                    batch.append((trial, s))
                    seen.add(g.key())
                elif s.status == "duplicate" and g.key() in known:
                    trial.set_constraint("violation", known[g.key()][1])
                    study.tell(trial, known[g.key()][0])
                elif s.status == "infeasible":
                    values = [0.0 if o == "accuracy" else s.cheap[o] for o in objectives]
                    trial.set_constraint("violation", 1.0)
                    study.tell(trial, values)
                else:
                    study.tell(trial, state=TrialState.FAIL)
            if not batch:
                break
            records = r.new_records([(s, None, "nsga2") for _, s in batch], gen)
            r.commit(records, generation=gen)
            r.observer("generation", {"generation": gen, "selected": len(records)})
            r.evaluate(records)
            done = {x.id: x for x in r.journal.records()}
            for (trial, _), rec in zip(batch, records):
                x = done[rec.id]
                if x.status != "done":
                    study.tell(trial, state=TrialState.FAIL)
                    continue
                values = [x.values[o] for o in objectives]
                violation = max(0.0, req.min_accuracy - x.values["accuracy"])
                known[x.key] = (values, violation)
                trial.set_constraint("violation", violation)
                study.tell(trial, values)
            r.save_elapsed()
            r.observer("front", {"generation": gen, "front": r.front()})
        r.save_elapsed()
