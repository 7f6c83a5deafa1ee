"""Hardware-aware multi-objective evolutionary search (LEMONADE-style).

Generation 0 trains ``budget.initial`` candidates: the requirements' ``initial_topologies``
plus random genotypes that pass screening. Every later generation

1. takes the Pareto front of the trained candidates that meet ``min_accuracy``;
2. samples ``budget.mutants`` parents from the front with probability inversely proportional
   to the front's density over its cheap objectives (:func:`pareto.inverse_density_probs`);
3. mutates each (:func:`space.mutate`) and screens the mutant on cheap objectives (closed-form
   cost model, validated against the IR and the space, cheap constraints applied);
4. picks the ``budget.population`` surviving mutants with the largest expected hypervolume
   improvement (:mod:`.acquisition`: exact cheap objectives; accuracy predicted from the
   parent's and the run's measured child - parent changes, times the probability, fitted on
   the journal, that training reaches ``min_accuracy`` at all), greedily, each pick joining the
   front at its predicted accuracy; if fewer have any expected gain, the rest are drawn
   inversely to the front's density at their cheap objectives; trains them (QAT, optionally
   starting from the parent's weights);
5. journals every result; the front is recomputed from the journal.

The generation counter and RNG state are journaled with each generation's candidates, so a
resumed search continues where it stopped instead of starting again.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..topology import load_topology
from .acquisition import EHVI, accuracy_delta, genotype_features, success_probability
from .pareto import inverse_density_probs
from .requirements import RequirementsError
from .runner import Runner, Screened
from .space import SpaceError, from_topology, mutate

STALL_LIMIT = 3  # generations in a row without a single new feasible mutant end the search


def _rng_state(rng: np.random.Generator) -> Dict[str, Any]:
    return rng.bit_generator.state


def _rng(state: Optional[Dict[str, Any]], seed: int) -> np.random.Generator:
    rng = np.random.default_rng(seed)
    if state:
        rng.bit_generator.state = state
    return rng


class Lemonade:
    """The evolutionary search over a :class:`Runner`."""

    strategy = "lemonade"

    def __init__(self, runner: Runner):
        self.r = runner
        self.req = runner.req

    @property
    def cheap_objectives(self) -> List[str]:
        return [o for o in self.req.objectives if o != "accuracy"]

    def run(self) -> None:
        r, b = self.r, self.req.budget
        r.resume_pending()
        gen = int(r.journal.get("generation", -1))
        rng = _rng(r.journal.get("rng"), self.req.seed)
        stalls = 0
        while r.evaluations_left() > 0 and gen < b.generations and not r.out_of_time():
            gen += 1
            if gen == 0:
                items, stats = self.initial(rng)
            else:
                items, stats = self.offspring(rng, gen)
            records = r.new_records(items, gen)
            r.commit(records, generation=gen, rng=_rng_state(rng))
            r.journal.screening(gen, selected=len(records), cheap_ms=r.costing.mean_ms, **stats)
            r.observer("generation", {"generation": gen, "selected": len(records), **stats,
                                      "cheap_ms": r.costing.mean_ms})
            stalls = stalls + 1 if not records else 0
            if stalls >= STALL_LIMIT:
                r.observer("stalled", {"generation": gen})
                break
            r.evaluate(records)
            r.save_elapsed()
            r.observer("front", {"generation": gen, "front": r.front()})
        r.save_elapsed()

    # ------------------------------------------------------------------ generation 0
    def initial(self, rng: np.random.Generator) -> Tuple[List[Tuple[Screened, Optional[int], str]], Dict[str, int]]:
        r = self.r
        n = min(self.req.budget.initial, r.evaluations_left())
        seen: set = set()
        items: List[Tuple[Screened, Optional[int], str]] = []
        for path in self.req.initial_topologies:
            try:
                g = from_topology(load_topology(path))
            except SpaceError as exc:
                raise RequirementsError(f"{self.req.source}: initial_topologies: {path}: {exc}") from None
            s = r.screen(g, seen)
            if s.status != "ok":
                raise RequirementsError(f"{self.req.source}: initial_topologies: {path}: {s.status} ({s.reason})")
            items.append((s, None, f"seed {path}"))
            seen.add(g.key())
        items += [(s, None, "random") for s in r.sample_random(rng, max(0, n - len(items)), seen)]
        return items[:n], {"mutants": 0, "invalid": 0, "infeasible": 0, "duplicates": 0}

    # ------------------------------------------------------------------ later generations
    def offspring(self, rng: np.random.Generator, gen: int) -> Tuple[List[Tuple[Screened, Optional[int], str]], Dict[str, int]]:
        r = self.r
        front = r.front() or r.front(r.journal.records("done"))
        if not front:  # nothing trained yet (all failed): sample instead
            return [(s, None, "random") for s in r.sample_random(rng, self.req.budget.population, set())], \
                {"mutants": 0, "invalid": 0, "infeasible": 0, "duplicates": 0}
        cheap = self.cheap_objectives
        front_x = np.array([[f.values[o] for o in cheap] for f in front])
        p_parent = inverse_density_probs(front_x, front_x)
        stats = {"mutants": 0, "invalid": 0, "infeasible": 0, "duplicates": 0}
        seen: set = set()
        kept: List[Tuple[Screened, Optional[int], str]] = []
        parent_acc = {f.id: f.values.get("accuracy", 0.0) for f in front}
        for _ in range(self.req.budget.mutants):
            parent = front[int(rng.choice(len(front), p=p_parent))]
            m = mutate(self.req.space, parent.genotype, rng)
            if m is None:
                continue
            stats["mutants"] += 1
            s = r.screen(m[0], seen)
            if s.status == "ok":
                kept.append((s, parent.id, m[1]))
                seen.add(m[0].key())
            else:
                stats[{"invalid": "invalid", "infeasible": "infeasible", "duplicate": "duplicates"}[s.status]] += 1
        n = min(self.req.budget.population, r.evaluations_left(), len(kept))
        if n == 0:
            return [], stats
        ehvi, p_ok = self._acquisition(front, kept)
        pick, _ = ehvi.select([(s.cheap, parent_acc[parent], p) for (s, parent, _), p in zip(kept, p_ok)], n, rng,
                              density_front=front_x, density_cols=cheap)
        return [kept[i] for i in pick], stats

    def _acquisition(self, front: List[Any], kept: List[Tuple[Screened, Optional[int], str]]) -> Tuple[EHVI, np.ndarray]:
        """Expected-hypervolume-improvement scorer against ``front``, and P(success) of ``kept``."""
        floor = self.req.min_accuracy
        done = {r.id: r for r in self.r.journal.records("done") if "accuracy" in r.values}
        pairs = [(done[r.parent].values["accuracy"], r.values["accuracy"]) for r in done.values()
                 if r.parent in done and r.values["accuracy"] >= floor]
        ehvi = EHVI(self.req.objectives, [f.values for f in front], floor, self.req.cheap_limits,
                    accuracy_delta(pairs))
        trained = np.array([genotype_features(r.genotype, r.cheap) for r in done.values()]).reshape(-1, 6)
        ok = np.array([r.values["accuracy"] >= floor for r in done.values()], dtype=bool)
        at = np.array([genotype_features(s.genotype, s.cheap) for s, _, _ in kept]).reshape(-1, 6)
        return ehvi, success_probability(trained, ok, at)
