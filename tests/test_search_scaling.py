"""Search space derived from the input length, screening on long inputs, and the multi-fidelity
expensive step (Optuna's successive halving) driving which candidates train longer."""
from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from sustainml.nas.cost_sources import resolve
from sustainml.nas.search.evaluate import MODEL_FILES, NET_FILE
from sustainml.nas.search.fidelity import MultiFidelity, score
from sustainml.nas.search.metrics import Costing
from sustainml.nas.search.requirements import parse
from sustainml.nas.search.runner import Runner
from sustainml.nas.search.space import Block, Genotype, SearchSpace, from_topology, mutate


def test_short_inputs_keep_the_default_space():
    assert SearchSpace.for_input(140) == SearchSpace()


def test_long_inputs_get_strided_first_blocks_and_a_receptive_field_floor():
    s = SearchSpace.for_input(1639)
    assert s.first_strides == (4,) and 4 in s.strides and s.blocks == (2, 6) and s.min_receptive_field == 205
    assert SearchSpace.for_input(750).first_strides == (2, 4) and SearchSpace.for_input(750).blocks == (2, 5)
    # what the requirements set wins over the derivation
    mine = SearchSpace.for_input(1639, {"blocks": [1, 3], "min_receptive_field": 0})
    assert mine.blocks == (1, 3) and mine.min_receptive_field == 0 and mine.first_strides == (4,)
    rng = np.random.default_rng(0)
    kept = [g for g in (s.sample(rng) for _ in range(400)) if s.check(g) is None]
    assert len(kept) > 20
    for g in kept:
        assert g.blocks[0].stride == 4 and g.receptive_field() >= 205
    for g in kept[:20]:
        m = mutate(s, g, rng)
        assert m is None or s.check(m[0]) is None


def test_receptive_field_of_the_reference(reference_topology):
    g = from_topology(reference_topology)  # k7, pool 2, k5, pool 2, k5
    assert g.receptive_field() == 1 + 6 + 1 + 4 * 2 + 1 * 2 + 4 * 4


def _npz(path: Path, length: int) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.normal(size=(40, length)), y_train=np.arange(40) % 2,
             x_test=rng.normal(size=(10, length)), y_test=np.arange(10) % 2)
    return path


def _runner(tmp_path: Path, length: int, executor: Any = None, **over: Any) -> Runner:
    doc = {"dataset": str(_npz(tmp_path / "long.npz", length)), "board": "pynq-z2",
           "objectives": {"accuracy": "max", "energy_uj": "min"}, **over}
    req = parse(doc)
    return Runner(req, tmp_path / "run", executor, Costing(resolve("pynq-z2", None), "folded"))


def test_long_input_screening_covers_the_signal_and_still_rejects_what_does_not_fit(tmp_path):
    r = _runner(tmp_path, 2000, constraints={"max_dsp": 110, "max_energy_uj": 200})
    assert r.req.space.first_strides == (4,) and r.req.space.min_receptive_field == 250
    seen: set = set()
    ok = r.sample_random(np.random.default_rng(1), 5, seen)
    assert len(ok) == 5 and all(s.genotype.receptive_field() >= 250 for s in ok)
    big = Genotype(tuple(Block("Conv1D", 32, 9, 4 if i == 0 else 1, 2, 8, 8) for i in range(6)), 8, 16, 8)
    assert r.screen(big).status == "infeasible"  # 32-filter k9 stack over 500 positions: over the energy cap
    short = Genotype((Block("Conv1D", 4, 3, 4, 0, 8, 8), Block("Conv1D", 4, 3, 1, 0, 8, 8)), 8, 16, 8)
    s = r.screen(short)
    assert s.status == "invalid" and "receptive field" in s.reason


def test_successive_halving_promotes_the_top_third():
    mf = MultiFidelity(1 / 9, 3)
    assert mf.fractions == [1 / 9, 1 / 3, 1.0] and mf.steps == [11, 33, 100]
    first = [mf.report(i, 0, v) for i, v in enumerate([0.5, 0.7, 0.4, 0.6, 0.9, 0.3])]
    # the first eta-1 trials go on only when best so far; later ones when in the top 1/eta
    assert first == [True, True, False, False, True, False]
    assert mf.report(1, 1, 0.8) is True and mf.report(4, 1, 0.7) is False
    assert mf.report(1, 2, 0.85) is False  # the last rung ends the trial
    assert mf.metrics(1, 2) == {"fidelity": 1.0, "pruned": False, "rungs": {"11": 0.7, "33": 0.8, "100": 0.85}}
    assert mf.metrics(4, 1)["pruned"] is True and mf.metrics(4, 1)["fidelity"] == pytest.approx(1 / 3)


def test_pruner_score_breaks_accuracy_ties_by_validation_loss_only():
    tie = [score({"val_acc_int": 0.75, "val_loss_int": v}) for v in (0.2, 0.9, 5e6)]
    assert tie[0] > tie[1] > tie[2] >= 0.75 - 1e-3  # ties ordered by loss, huge losses capped
    # a sliver: one more hit out of 999 validation samples always wins, whatever the losses
    assert score({"val_acc_int": 500 / 999, "val_loss_int": 1e9}) > score({"val_acc_int": 499 / 999,
                                                                            "val_loss_int": 0.0})
    assert score({"val_acc_int": 0.5}) == 0.5  # journals from before the loss was recorded
    mf = MultiFidelity(1 / 3, 3)
    assert mf.report(0, 0, tie[1]) is True and mf.report(1, 0, tie[0]) is True  # same accuracy, lower loss: on


class _Trainer:
    """An executor whose 'training' returns a validation accuracy that grows with the fidelity
    and differs per candidate; it records every job so the test sees what was trained at which fidelity."""

    def __init__(self):
        self.jobs: List[Dict[str, Any]] = []

    def submit(self, job) -> Future:
        self.jobs.append({"id": job.id, "fidelity": job.config["fidelity"]})
        quality = (job.id * 7919 % 13) / 13.0
        fut: Future = Future()
        fut.set_result({"id": job.id, "metrics": {"val_acc_int": round(0.3 + 0.5 * quality * job.config["fidelity"]
                                                                        ** 0.25, 6), "test_acc": 0.0},
                        "files": {f: b"x" for f in MODEL_FILES + (NET_FILE,)}})
        return fut


def test_runner_trains_longer_only_what_the_pruner_promotes(tmp_path):
    trainer = _Trainer()
    r = _runner(tmp_path, 128, trainer, training={"short_fraction": 0.25, "reduction_factor": 2})
    rng = np.random.default_rng(0)
    items = [(s, None, "random") for s in r.sample_random(rng, 8, set())]
    recs = r.new_records(items, 0)
    r.commit(recs, generation=0)
    r.evaluate(recs)
    done = {x.id: x for x in r.journal.records("done")}
    assert len(done) == 8
    by_fid: Dict[float, int] = {}
    for j in trainer.jobs:
        by_fid[j["fidelity"]] = by_fid.get(j["fidelity"], 0) + 1
    assert by_fid[0.25] == 8 and by_fid.get(1.0, 0) < 8  # fewer full trainings than candidates
    for rec in done.values():
        m = rec.metrics
        assert m["pruned"] == (m["fidelity"] < 1.0) and float(list(m["rungs"].values())[-1]) == m["val_acc_int"]
    # resume: the rebuilt study makes the same decision for a replayed candidate
    r2 = Runner(r.req, tmp_path / "run", trainer, r.costing, resume=True)
    assert r2.fidelity is not None and len(r2.fidelity.study.trials) == 8
    assert dataclasses.asdict(r2.req.training) == dataclasses.asdict(r.req.training)
