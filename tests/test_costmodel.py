"""Cost model: linear in its coefficients, consistent with the unrolling, refinable by least squares."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sustainml.nas.catalogue import boards
from sustainml.nas.costmodel import (FF_REFINEMENT, FF_TERMS, LATENCY_TERMS, LUT_REFINEMENT, LUT_TERMS, POWER_TERMS,
                                     CostModelError, estimate, ff_features, latency_features, load_coefficients, lut_features, objectives,
                                     power_features, predict, stage_cost)
from sustainml.nas.folding import fold
from sustainml.nas.quantized import plan_stages
from sustainml.nas.topology import Topology

DSCNN = Topology.from_dict({
    "name": "dscnn", "input": {"length": 64, "channels": 2, "bits": 8}, "classes": 4,
    "layers": [{"type": "DepthwiseSeparableConv1D", "filters": 8, "kernel": 5, "padding": 2},
               {"type": "ReLU"}, {"type": "AvgPool1D", "pool": 2},
               {"type": "Conv1D", "filters": 8, "kernel": 3, "weight_bits": 4, "act_bits": 4}, {"type": "ReLU"},
               {"type": "GlobalAvgPool1D"}, {"type": "Dense", "units": 4, "act_bits": 16}]})


@pytest.mark.parametrize("board", boards())
def test_estimates_are_dot_products_of_features_and_coefficients(reference_topology, board):
    c = load_coefficients(board)
    for topo in (reference_topology, DSCNN):
        stages = fold(plan_stages(topo), board).stages  # unrolled, so every feature is exercised
        for batch in (1, 7):
            e = estimate(stages, board, batch=batch)
            assert predict(c, "latency", latency_features(e)) == pytest.approx(e.latency_s, rel=1e-12)
            assert predict(c, "power", power_features(e)) == pytest.approx(e.power["pl"], rel=1e-12)
            assert predict(c, "lut", lut_features(e)) == pytest.approx(e.lut, rel=1e-12)
            assert predict(c, "ff", ff_features(e)) == pytest.approx(e.ff, rel=1e-12)
            assert set(latency_features(e)) == set(LATENCY_TERMS) and set(power_features(e)) == set(POWER_TERMS)
            assert set(lut_features(e)) == set(LUT_TERMS) | set(LUT_REFINEMENT)  # + terms a Yosys fit adds
            assert set(ff_features(e)) == set(FF_TERMS) | set(FF_REFINEMENT)


def test_least_squares_recovers_perturbed_coefficients(reference_topology):
    """What `refine` will do: fit latency and power coefficients from designs' features."""
    c = load_coefficients("pynq-z2")
    rng = np.random.default_rng(0)
    true_lat = {k: v * rng.uniform(0.5, 2.0) for k, v in c.latency}
    true_pow = {k: v * rng.uniform(0.5, 2.0) for k, v in c.power}
    designs = []
    for fps in (2500, 5000, 10000, 20000, 40000, 70000):
        stages = fold(plan_stages(reference_topology), "pynq-z2", target_fps=fps).stages
        for batch in (1, 16, 128):
            designs.append(estimate(stages, "pynq-z2", batch=batch, clock_mhz=float(rng.choice([50, 100, 125]))))
    for terms, fx, truth in ((LATENCY_TERMS, latency_features, true_lat), (POWER_TERMS, power_features, true_pow)):
        X = np.array([[fx(e)[t] for t in terms] for e in designs])
        y = X @ np.array([truth[t] for t in terms])
        scale = np.abs(X).max(axis=0)
        fit = np.linalg.lstsq(X / scale, y, rcond=None)[0] / scale
        assert fit == pytest.approx([truth[t] for t in terms], rel=1e-6)


def test_unrolling_trades_cycles_for_resources():
    c = load_coefficients("pynq-z2")
    conv = plan_stages(Topology.from_dict({
        "name": "c", "input": {"length": 32, "channels": 4, "bits": 8}, "classes": 2,
        "layers": [{"type": "Conv1D", "filters": 8, "kernel": 3, "padding": 1}, {"type": "GlobalAvgPool1D"},
                   {"type": "Dense", "units": 2, "act_bits": 16}]}))[0]
    base = stage_cost(conv, c)
    assert base.folds == 8 * 4 * 3 and base.dsp == 1
    for pe, simd, kp in ((2, 1, 1), (1, 4, 1), (1, 1, 3), (8, 4, 1)):
        u = stage_cost(conv, c, pe=pe, simd=simd, kp=kp)
        assert u.folds == base.folds // (pe * simd * kp)
        assert u.interval < base.interval and u.dsp == pe * simd * kp and u.lut > base.lut
    # fully unrolled: every weight lane is one constant, a constant multiply in LUTs (BIND_OP impl=fabric)
    full = stage_cost(conv, c, pe=8, simd=4, kp=3)
    assert full.folds == 1 and full.dsp == 0 and full.lut_x["lut_mult_bit2"] == 96 * 8 * 8
    narrow = dataclasses.replace(conv, w_bits=2, in_bits=4)  # 2x4-bit products go to LUTs
    n = stage_cost(narrow, c, pe=8)
    assert n.dsp == 0 and n.lut_x["lut_mult_bit2"] == 8 * 2 * 4


def test_batch_amortises_the_pipeline_fill(reference_topology):
    e1, e64 = estimate(reference_topology, batch=1), estimate(reference_topology, batch=64)
    assert e64.latency_cycles == e1.latency_cycles + 63 * e1.interval
    assert e1.latency_cycles > e1.interval  # one sample pays the fill of every stage


def test_objectives_cover_what_the_nas_needs(reference_topology):
    o = objectives(reference_topology, "zcu104")
    assert {"latency_s", "dsp", "lut", "bram36", "energy_j", "fits"} <= set(o)
    bigger = Topology.from_dict({**reference_topology.to_dict(), "name": "wide"})
    bigger.layers[4].filters = 64
    assert objectives(bigger, "zcu104")["latency_s"] > o["latency_s"]


def test_invalid_unrolling_and_coefficients_are_named(tmp_path, reference_topology):
    stages = plan_stages(reference_topology)
    stages[2].pe = 3  # 16 filters
    with pytest.raises(CostModelError, match=r"stage 2 \(conv1d\): pe=3 must divide 16"):
        estimate(stages)
    bad = tmp_path / "bad.yaml"
    bad.write_text("latency: {c_fixed_s: 1}\n")
    with pytest.raises(CostModelError, match="bad.yaml"):
        load_coefficients("pynq-z2", bad)
