"""Hardware-aware multi-objective evolutionary search (LEMONADE-style).

Generation 0 trains ``budget.initial`` candidates: the requirements' ``initial_topologies``
plus random genotypes that pass screening. Every later generation

1. takes the Pareto front of the trained candidates that meet ``min_accuracy``;
2. samples ``budget.mutants`` parents from the front with probability inversely proportional
   to the front's density over its cheap objectives (:func:`pareto.inverse_density_probs`);
3. mutates each (:func:`space.mutate`) and screens the mutant on cheap objectives (closed-form
   cost model, validated against the IR and the space, cheap constraints applied);
4. picks ``budget.population`` of the surviving mutants, again with probability inversely
   proportional to the front's density at their cheap objectives, down-weighted for children
   the front would dominate even if they matched their parent's accuracy, and trains them
   (QAT, optionally starting from the parent's weights);
5. journals every result; the front is recomputed from the journal.

The generation counter and RNG state are journaled with each generation's candidates, so a
resumed search continues where it stopped instead of starting again.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..topology import load_topology
from .pareto import inverse_density_probs, losses
from .requirements import RequirementsError
from .runner import Runner, Screened
from .space import SpaceError, from_topology, mutate

STALL_LIMIT = 3  # generations in a row without a single new feasible mutant end the search
DOMINATED_WEIGHT = 0.1  # selection weight of a child the front dominates even at its parent's accuracy


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
        child_x = np.array([[s.cheap[o] for o in cheap] for s, _, _ in kept])
        p_child = inverse_density_probs(front_x, child_x) * self._promise(front, kept)
        p_child = p_child / p_child.sum()
        pick = rng.choice(len(kept), size=n, replace=False, p=p_child)
        return [kept[int(i)] for i in pick], stats

    def _promise(self, front: List[Any], kept: List[Tuple[Screened, Optional[int], str]]) -> np.ndarray:
        """Weight per child: 1 if, credited with its parent's accuracy, it would not be dominated
        by the current front (an optimistic surrogate), else :data:`DOMINATED_WEIGHT`."""
        objectives = list(self.req.objectives)
        acc = {f.id: f.values["accuracy"] for f in front}
        front_loss = losses([f.values for f in front], objectives)
        out = np.ones(len(kept))
        for i, (s, parent, _) in enumerate(kept):
            guess = losses([{**s.cheap, "accuracy": acc.get(parent, 0.0)}], objectives)[0]
            if np.any(np.all(front_loss <= guess, axis=1) & np.any(front_loss < guess, axis=1)):
                out[i] = DOMINATED_WEIGHT
        return out
