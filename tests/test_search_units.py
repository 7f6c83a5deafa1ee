"""NAS building blocks: requirements, search space and mutations, Pareto/density/hypervolume,
journal, cost-model sources. No training here (see test_search_run.py)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sustainml import REPO_ROOT
from sustainml.nas.cost_sources import ENV_DIR, resolve
from sustainml.nas.costmodel import CostModelError, estimate, load_coefficients
from sustainml.nas.search import pareto
from sustainml.nas.search.journal import Journal, JournalError, Record
from sustainml.nas.search.metrics import Costing
from sustainml.nas.search.requirements import RequirementsError, load_requirements, parse
from sustainml.nas.search.space import MUTATIONS, Block, Genotype, SearchSpace, SpaceError, from_topology, mutate
from sustainml.nas.topology import Topology, TopologyError

EXAMPLE = REPO_ROOT / "nas" / "examples" / "ecg5000_pynq-z2.yaml"
BASE = {"dataset": "ECG5000", "board": "pynq-z2", "objectives": {"accuracy": "max", "energy_uj": "min"}}


# ---------------------------------------------------------------------------------- requirements
def test_example_requirements_parse():
    req = load_requirements(EXAMPLE)
    assert req.board == "pynq-z2" and req.budget.evaluations == 40
    assert set(req.objectives) == {"accuracy", "energy_uj", "latency_us"}
    assert req.cheap_limits["dsp"] == 110 and req.min_accuracy == 0.85


@pytest.mark.parametrize("patch, field", [
    ({"board": "pynq-z9"}, "board"),
    ({"dataset": 3}, "dataset"),
    ({"objectives": {"accuracy": "max", "energy_uj": "max"}}, "objectives.energy_uj"),
    ({"objectives": {"accuracy": "max", "watts": "min"}}, "objectives.watts"),
    ({"objectives": {"energy_uj": "min"}}, "objectives"),
    ({"constraints": {"max_dsp": -3}}, "constraints.max_dsp"),
    ({"constraints": {"min_accuracy": 1.5}}, "constraints.min_accuracy"),
    ({"constraints": {"max_accuracy": 0.9}}, "constraints.max_accuracy"),
    ({"budget": {"population": 0}}, "budget.population"),
    ({"budget": {"evaluations": "many"}}, "budget.evaluations"),
    ({"budget": {"generation": 3}}, "budget"),
    ({"budget": {"evaluations": 4, "initial": 8}}, "budget.initial"),
    ({"training": {"schedule": "long"}}, "training.schedule"),
    ({"space": {"weight_bits": [1, 4]}}, "space.weight_bits"),
    ({"space": {"layer_types": ["LSTM"]}}, "space.layer_types"),
    ({"space": {"blocks": [3, 1]}}, "space.blocks"),
    ({"parallelization": "fastest"}, "parallelization"),
    ({"colour": "red"}, "colour"),
])
def test_bad_requirements_name_the_field(tmp_path, patch, field):
    path = tmp_path / "req.yaml"
    path.write_text(yaml.safe_dump({**BASE, **patch}))
    with pytest.raises(RequirementsError) as exc:
        load_requirements(path)
    msg = str(exc.value)
    assert str(path) in msg and field in msg and "\n" not in msg


def test_cli_bad_requirements_one_line_error(tmp_path):
    path = tmp_path / "req.yaml"
    path.write_text(yaml.safe_dump({**BASE, "budget": {"population": -1}}))
    proc = subprocess.run([sys.executable, "-m", "sustainml.host.cli", "search", str(path), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "budget.population" in lines[0] and "Traceback" not in proc.stderr


def test_fingerprint_ignores_budget_only():
    a = parse(BASE)
    b = parse({**BASE, "budget": {"evaluations": 99}})
    c = parse({**BASE, "seed": 1})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


# ---------------------------------------------------------------------------------- space
SPACE = SearchSpace()


def _topo(g: Genotype) -> Topology:
    return g.topology("t", 140, 1, 5)


def test_reference_model_is_in_the_space(reference_topology):
    g = from_topology(reference_topology)
    assert SPACE.check(g) is None
    assert _topo(g).to_dict()["layers"] == reference_topology.to_dict()["layers"]


def test_from_topology_rejects_other_grammar():
    t = Topology.from_dict({"name": "x", "input": {"length": 32, "channels": 1, "bits": 8}, "classes": 2, "layers": [
        {"type": "Conv1D", "filters": 4, "kernel": 3, "padding": 0}, {"type": "GlobalAvgPool1D"},
        {"type": "Dense", "units": 2}]})
    with pytest.raises(SpaceError, match="padding"):
        from_topology(t)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_mutants_stay_in_space_and_differ(seed):
    rng = np.random.default_rng(seed)
    g = SPACE.sample(rng)
    out = mutate(SPACE, g, rng)
    assert out is not None
    child, desc = out
    assert child != g and isinstance(desc, str)
    assert SPACE.check(child) is None
    try:  # the IR either accepts it or says why (e.g. a kernel longer than its pooled input)
        topo = _topo(child)
    except TopologyError as exc:
        assert "layer" in str(exc)
    else:
        assert topo.classes == 5


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutation_changes_what_it_says(name):
    rng = np.random.default_rng(1)
    g = Genotype((Block("Conv1D", 8, 5, 1, 2, 6, 6), Block("Conv1D", 16, 5, 1, 0, 6, 6)), 8, 16, 8)
    for _ in range(20):
        out = MUTATIONS[name](SPACE, g, rng)
        assert out is not None
        child, _ = out
        diff = [(a, b) for a, b in zip(g.blocks, child.blocks) if a != b]
        if name == "insert":
            assert len(child.blocks) == 3
        elif name == "remove":
            assert len(child.blocks) == 1
        elif name == "bits":
            assert child.clf_w_bits != g.clf_w_bits or [
                k for a, b in diff for k in ("w_bits", "a_bits") if getattr(a, k) != getattr(b, k)]
        else:
            gene = {"filters": "filters", "kernel": "kernel", "stride": "stride", "swap_op": "op",
                    "pooling": "pool"}[name]
            assert len(diff) == 1 and getattr(diff[0][0], gene) != getattr(diff[0][1], gene)
            assert all(getattr(diff[0][0], k) == getattr(diff[0][1], k)
                       for k in ("op", "filters", "kernel", "stride", "pool", "w_bits", "a_bits") if k != gene)


def test_fixed_length_encoding_round_trip():
    rng = np.random.default_rng(3)
    params = SPACE.params()
    for _ in range(50):
        values = {k: v[int(rng.integers(len(v)))] for k, v in params.items()}
        g = SPACE.decode(values)
        assert len(g.blocks) == values["blocks"] and SPACE.check(g) is None


def test_space_yaml_rejects_bad_values():
    with pytest.raises(SpaceError, match="pools"):
        SearchSpace.from_dict({"pools": [0, 1]})
    assert SearchSpace.from_dict({"filters": [8, 4, 8]}).filters == (4, 8)


# ---------------------------------------------------------------------------------- pareto
def _brute_front(loss):
    return np.array([not any(np.all(o <= p) and np.any(o < p) for o in loss) for p in loss])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25))
def test_nondominated_matches_definition(points):
    loss = np.array(points, dtype=float)
    assert np.array_equal(pareto.nondominated(loss), _brute_front(loss))


def test_losses_flip_maximised_metrics():
    recs = [{"accuracy": 0.9, "energy_uj": 3.0}, {"accuracy": 0.8, "energy_uj": 1.0}, {"accuracy": 0.7, "energy_uj": 2.0}]
    loss = pareto.losses(recs, ["accuracy", "energy_uj"])
    assert loss[0, 0] < loss[1, 0]
    assert pareto.nondominated(loss).tolist() == [True, True, False]


def test_isolated_front_point_is_sampled_most():
    front = np.array([[1.0, 10.0], [1.1, 10.5], [1.05, 9.8], [50.0, 900.0]])
    p = pareto.inverse_density_probs(front, front)
    assert p.argmax() == 3 and np.isclose(p.sum(), 1.0)
    assert np.allclose(pareto.inverse_density_probs(front[:1], front[:1]), 1.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=12))
def test_hypervolume_2d_matches_union_of_boxes(points):
    loss = np.array(points)
    ref = (1.0, 1.0)
    # exact area of the union of boxes [x, 1] x [y, 1] by sweeping the sorted x coordinates
    xs = sorted(set(loss[:, 0]) | {1.0})
    area = 0.0
    for a, b in zip(xs, xs[1:]):
        ys = [y for x, y in loss if x <= a]
        area += (b - a) * (1.0 - min(ys)) if ys else 0.0
    assert np.isclose(pareto.hypervolume(loss, ref), area, atol=1e-9)
    # a dominated extra point adds nothing; points beyond the reference are ignored
    worst = loss.max(axis=0)
    assert np.isclose(pareto.hypervolume(np.vstack([loss, worst, [2.0, 0.5]]), ref), area, atol=1e-9)


# ---------------------------------------------------------------------------------- journal
def _rec(i, key, parent=None):
    g = Genotype((Block("Conv1D", 4 * i, 3, 1, 0, 4, 4),), 8, 16, 8)
    return Record(i, key, 0, parent, "test", g, {"energy_uj": float(i)}, "pending")


def test_journal_round_trip_and_resume_rules(tmp_path):
    j = Journal(tmp_path, create=True)
    rng = np.random.default_rng(5)
    rng.random(3)
    j.add_pending([_rec(1, "a"), _rec(2, "b", parent=1)], generation=0, rng=rng.bit_generator.state)
    j.finish(1, {"val_acc_int": 0.9, "test_acc": 0.88})
    with pytest.raises(JournalError, match="not pending"):
        j.finish(1, {"val_acc_int": 0.1})
    j.close()
    with pytest.raises(JournalError, match="--resume"):
        Journal(tmp_path, create=True)
    j = Journal(tmp_path, create=False)
    done, pending = j.records("done"), j.records("pending")
    assert [r.id for r in done] == [1] and done[0].values["accuracy"] == 0.9
    assert [r.id for r in pending] == [2] and pending[0].parent == 1
    assert pending[0].genotype == _rec(2, "b").genotype
    restored = np.random.default_rng(0)
    restored.bit_generator.state = j.get("rng")
    assert restored.random() == rng.random()
    with pytest.raises(JournalError, match="no journal"):
        Journal(tmp_path / "other", create=False)


# ---------------------------------------------------------------------------------- costs
def test_refined_cost_model_is_preferred_and_explicit_wins(tmp_path, monkeypatch):
    prior = load_coefficients("pynq-z2")
    refined = prior.replace("power", {"static_w": prior.get("power", "static_w") * 3}, source="refined test")
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve("pynq-z2").kind == "prior"
    refined.save(tmp_path / "pynq-z2.yaml")
    src = resolve("pynq-z2")
    assert src.kind == "refined" and src.path == tmp_path / "pynq-z2.yaml" and "refined" in src.describe()
    topo = _topo(Genotype((Block("Conv1D", 8, 5, 1, 2, 8, 8),), 8, 16, 8))
    e_prior, e_ref = estimate(topo, "pynq-z2", prior), Costing(src).cheap(topo)[0]
    assert e_ref["power_w"] > e_prior.power["pl"]
    other = tmp_path / "mine.yaml"
    prior.save(other)
    assert resolve("pynq-z2", other).kind == "explicit"
    with pytest.raises(CostModelError, match="not found"):
        resolve("pynq-z2", tmp_path / "missing.yaml")
    with pytest.raises(CostModelError, match="not 'pynq-z2'"):
        resolve("pynq-z2", REPO_ROOT / "nas" / "cost_coefficients" / "zcu104.yaml")


def test_generator_parallelization_costs_more_dsp_than_folded(reference_topology):
    c = Costing(resolve("pynq-z2"))
    folded = c.cheap(reference_topology)[0]
    fast = c.estimate(reference_topology, "latency")
    assert fast.dsp > folded["dsp"] and fast.latency_s * 1e6 < folded["latency_us"]



@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(*[st.floats(0.0, 1.2)] * 3), min_size=0, max_size=8),
       st.tuples(*[st.floats(0.0, 1.2)] * 3))
def test_hv_gain_is_the_hypervolume_a_point_adds(front, point):
    from sustainml.nas.search.acquisition import hv_gain

    f, p = np.array(front, dtype=float).reshape(-1, 3), np.array(point)
    ref = np.ones(3)
    expected = pareto.hypervolume(np.vstack([f, p]), ref) - pareto.hypervolume(f, ref)
    assert hv_gain(f, p) == pytest.approx(expected, abs=1e-9)


def test_accuracy_delta_uses_the_prior_until_measured():
    from sustainml.nas.search.acquisition import MAX_SIGMA, MIN_DELTAS, PRIOR_SIGMA, accuracy_delta

    assert accuracy_delta([(0.9, 0.8)] * (MIN_DELTAS - 1)) == (0.0, PRIOR_SIGMA)
    mid, sd = accuracy_delta([(0.9, 0.88), (0.9, 0.86), (0.92, 0.90), (0.91, 0.89), (0.9, 0.5)])
    assert mid == pytest.approx(-0.02) and 0 < sd <= MAX_SIGMA  # the collapse at 0.5 barely moves it


def test_success_probability_follows_nearby_outcomes():
    from sustainml.nas.search.acquisition import success_probability

    trained = np.array([[1.0, 2.0], [1.1, 2.1], [5.0, 8.0], [5.1, 8.2]])
    ok = np.array([False, False, True, True])
    p = success_probability(trained, ok, np.array([[1.05, 2.05], [5.05, 8.1], [3.0, 5.0]]))
    assert p[0] < 0.4 < 0.6 < p[1] and 0.0 < p[0] and p[1] < 1.0
    assert p[0] < p[2] < p[1]
    assert success_probability(trained[:0], ok[:0], trained).tolist() == [1.0] * 4


def test_ehvi_trains_front_extenders_first_and_spreads_a_batch():
    from sustainml.nas.search.acquisition import EHVI

    front = [{"accuracy": 0.95, "energy_uj": 40.0}, {"accuracy": 0.90, "energy_uj": 10.0}]
    ehvi = EHVI(["accuracy", "energy_uj"], front, 0.85, {"energy_uj": 100.0}, (0.0, 0.01))
    children = [({"energy_uj": 60.0}, 0.95),   # worse than its parent at the parent's accuracy
                ({"energy_uj": 20.0}, 0.95),   # fills the gap between the two front points
                ({"energy_uj": 21.0}, 0.95),   # nearly the same gain, but redundant once 1 is picked
                ({"energy_uj": 2.0}, 0.90)]    # extends the front towards low energy
    gains = [ehvi.expected_gain(ehvi.front, *c) for c in children]
    assert gains[1] > gains[2] > gains[0] >= 0.0 and gains[3] > 0.0
    picks, picked_gains = ehvi.select(children, 2, np.random.default_rng(0))
    assert set(picks) == {1, 3}  # the greedy batch does not take the near-duplicate of child 1
    assert picked_gains == sorted(picked_gains, reverse=True)
    # once nothing is expected to gain, the rest are drawn (inversely to density), not dropped
    picks, _ = ehvi.select(children, 4, np.random.default_rng(0),
                           density_front=np.array([[40.0], [10.0]]), density_cols=["energy_uj"])
    assert sorted(picks) == [0, 1, 2, 3]
