"""The final pick by cross-validation on the whole training file (nas/search/select.py): folds are
stratified and cover every sample once per repeat, the pick is the best cross-validated candidate,
small sets are refit on all their training samples, and the whole thing is deterministic."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from sustainml.nas import golden
from sustainml.nas.data import load_dataset
from sustainml.nas.quantized import QuantizedModel
from sustainml.nas.search import load_requirements, run_search
from sustainml.nas.search.select import candidates, pooled, select, stratified_folds


def test_stratified_folds_hold_out_every_sample_once_per_repeat_and_keep_class_shares():
    y = np.array([0] * 30 + [1] * 12 + [2] * 5)
    splits = stratified_folds(y, folds=4, repeats=2, seed=1)
    assert len(splits) == 8
    for r in range(2):
        held = np.concatenate([va for _, va in splits[4 * r:4 * r + 4]])
        assert sorted(held.tolist()) == list(range(len(y)))  # a partition of the training file
    for tr, va in splits:
        assert not set(tr) & set(va) and len(tr) + len(va) == len(y)
        assert abs(len(va) - len(y) / 4) <= 1  # fold sizes balanced
        for c, n in ((0, 30), (1, 12)):
            assert abs((y[va] == c).sum() - n / 4) <= 1  # each class dealt evenly
    assert [va.tolist() for _, va in splits[:4]] != [va.tolist() for _, va in splits[4:]]  # repeats reshuffle
    with pytest.raises(ValueError, match="2 folds"):
        stratified_folds(y, 1, 1, 0)


TINY = {
    "dataset": "ECG200", "board": "pynq-z2", "seed": 1,
    "objectives": {"accuracy": "max", "energy_uj": "min"},
    "budget": {"evaluations": 3, "initial": 3, "population": 2, "mutants": 24, "generations": 1},
    "training": {"schedule": "quick", "float_epochs": 2, "qat_epochs": 1, "folded_epochs": 1},
    "space": {"blocks": [1, 2], "filters": [4, 8], "strides": [1, 2], "pools": [0, 4]},
}


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory):
    d = tmp_path_factory.mktemp("select")
    (d / "req.yaml").write_text(yaml.safe_dump({**TINY, "selection": {"top": 2, "folds": 3}}))
    req = load_requirements(d / "req.yaml")
    res = run_search(req, d / "run", executor="process", workers=2, observer=None)
    return d, req, load_dataset("ECG200"), res.selection


def test_cross_validated_pick_is_refit_on_the_whole_small_training_file(tiny_search):
    d, req, data, sel = tiny_search  # the search ran the selection its requirements ask for
    cands = candidates(d / "run")
    assert len(cands) >= 2 and [c.val_acc for c in cands] == sorted((c.val_acc for c in cands), reverse=True)
    # accuracy ties are broken by the integer model's validation cross-entropy, recomputed here from its logits
    ranked = [(-c.val_acc, c.val_loss) for c in cands]
    assert ranked == sorted(ranked) and all(np.isfinite(c.val_loss) and c.val_loss > 0 for c in cands)
    m = QuantizedModel.load(cands[0].model_dir)
    z = golden.run(m, m.quantize_input(data.val.x)) * 2.0 ** -m.output_frac
    z = z - z.max(1, keepdims=True)
    nll = np.log(np.exp(z).sum(1)) - z[np.arange(len(z)), data.val.y]
    assert np.isclose(nll.mean(), cands[0].val_loss) and np.isclose((z.argmax(1) == data.val.y).mean(),
                                                                     cands[0].val_acc)
    assert [c["name"] for c in sel["candidates"]] == [c.name for c in cands[:2]]
    n = len(pooled(data).y)
    assert n == 100 and sel["refit"] is True
    for c in sel["candidates"]:  # hit counts on the 3 held-out folds, each at most the fold's size
        assert len(c["fold_hits"]) == 3 and all(0 <= h <= 34 for h in c["fold_hits"])
        assert c["cv_acc"] == pytest.approx(sum(c["fold_hits"]) / n, abs=1e-6)
    best = max(sel["candidates"], key=lambda c: (c["cv_acc"], c["val_acc"], -c["energy_uj"]))
    assert sel["pick"] == best["name"]
    model = QuantizedModel.load(d / "run" / "selected" / "model")
    training = model.metrics["training"]
    assert training["train_samples"] == 100 and training["val_samples"] == 0  # all of the training file
    assert training["protocol"] == "fixed-schedule"
    assert model.metrics["selection"]["pick"] == sel["pick"] and model.metrics["selection"]["refit"] is True
    # the refit model is an ordinary exported model: its golden test accuracy is what was reported
    acc = float((golden.predict(model, data.test.x) == data.test.y).mean())
    assert acc == pytest.approx(sel["test_acc"]) and model.metrics["golden_torch_agreement"] == 1.0
    assert yaml.safe_load((d / "run" / "selected" / "selection.yaml").read_text())["pick"] == sel["pick"]


def test_selection_is_deterministic_and_can_keep_the_search_model(tiny_search):
    d, req, data, sel = tiny_search
    again = select(d / "run", req, data, d / "again", top=2, folds=3, workers=1)  # the search used 2 processes
    assert again["candidates"] == sel["candidates"] and again["pick"] == sel["pick"]
    wa, wb = np.load(d / "run" / "selected" / "model" / "weights.npz"), np.load(d / "again" / "model" / "weights.npz")
    assert sorted(wa.files) == sorted(wb.files) and all(np.array_equal(wa[k], wb[k]) for k in wa.files)
    kept = select(d / "run", req, data, d / "kept", top=1, folds=2, workers=1, refit="never")
    assert kept["refit"] is False and kept["pick"] == candidates(d / "run")[0].name
    assert (d / "kept" / "model" / "weights.npz").read_bytes() == (d / "run" / "evals" / kept["pick"] /
                                                                   "weights.npz").read_bytes()


def test_no_candidate_is_a_clear_error(tmp_path: Path, tiny_search):
    _, req, data, _ = tiny_search
    from sustainml.nas.search.journal import Journal

    Journal(tmp_path / "empty", create=True).close()
    with pytest.raises(ValueError, match="no candidate trained at full fidelity"):
        select(tmp_path / "empty", req, data, tmp_path / "out")


def test_requirements_selection_section(tmp_path: Path):
    from sustainml.nas.search.requirements import RequirementsError, parse

    assert parse(dict(TINY)).selection.top == 0  # absent: no selection step
    assert parse({**TINY, "selection": {}}).selection.top == 3
    sel = parse({**TINY, "selection": {"top": 2, "folds": 4, "repeats": 2, "refit": "always"}}).selection
    assert (sel.top, sel.folds, sel.repeats, sel.refit) == (2, 4, 2, "always")
    with pytest.raises(RequirementsError, match="selection.refit"):
        parse({**TINY, "selection": {"refit": "yes"}}, "req.yaml")
    with pytest.raises(RequirementsError, match="selection.folds"):
        parse({**TINY, "selection": {"folds": 1}}, "req.yaml")
    with pytest.raises(RequirementsError, match="selection: unknown field"):
        parse({**TINY, "selection": {"k": 3}}, "req.yaml")
    # it runs after the search: a resumed search may add it without changing what the search computes
    assert parse(dict(TINY)).fingerprint() == parse({**TINY, "selection": {"top": 2}}).fingerprint()
