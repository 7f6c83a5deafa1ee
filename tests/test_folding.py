"""Parallelization: the chosen bottleneck equals a brute-force optimum on small designs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from random_models import random_topology
from sustainml.nas.catalogue import get_board
from sustainml.nas.costmodel import estimate, load_coefficients, unroll_dims
from sustainml.nas.folding import RES, Folder, FoldingError, fold, stage_options
from sustainml.nas.quantized import plan_stages

BRUTE_LIMIT = 3_000_000
BIG = 1e12


def brute_force(stages, coeffs, budget, limit=None):
    """Every combination of every stage's options, vectorised, among those within ``budget``
    (and with every interval <= ``limit`` when given): (best interval, least cost)."""
    folder = Folder(stages, "pynq-z2", coeffs, budget)
    interval = np.array([folder.io_floor], dtype=np.int64)
    res = np.zeros((1, len(RES)))
    for opts in folder.options:
        iv = np.array([c.interval for c in opts])
        rv = np.array([[c.dsp, c.lut, c.ff, c.bram18] for c in opts], dtype=float)
        interval = np.maximum.outer(interval, iv).ravel()
        res = (res[:, None, :] + rv[None, :, :]).reshape(-1, len(RES))
        ok = np.all(res <= np.array([budget[r] for r in RES]) + 1e-9, axis=1)
        if limit is not None:
            ok &= interval <= limit
        interval, res = interval[ok], res[ok]
    if not len(interval):
        return None, None
    cost = (res / np.array([budget[r] for r in RES])).sum(axis=1)
    return int(interval.min()), float(cost.min())


def combos(stages, coeffs):
    return math.prod(len(stage_options(s, coeffs)) for s in stages)


def small_cases(n_cases, seed):
    rng = np.random.default_rng(seed)
    coeffs = load_coefficients("pynq-z2")
    out = []
    while len(out) < n_cases:
        topo = random_topology(rng, n_compute=int(rng.integers(3, 6)))
        stages = plan_stages(topo)
        if combos(stages, coeffs) <= BRUTE_LIMIT:
            out.append((topo, stages))
    return out


@pytest.mark.parametrize("case", range(12))
def test_bottleneck_equals_brute_force_optimum_under_dsp_budgets(case):
    coeffs = load_coefficients("pynq-z2")
    topo, stages = small_cases(12, 1)[case]
    full = sum(max(c.dsp for c in stage_options(s, coeffs)) for s in stages)
    n = len(stages)
    for dsp in sorted({n, n + 2, n + 5, n + 12, max(n, full // 8), max(n, full // 2), full}):
        budget = {"dsp": float(dsp), "lut": BIG, "ff": BIG, "bram18": BIG}
        want, _ = brute_force(stages, coeffs, budget)
        if want is None:
            with pytest.raises(FoldingError):
                fold(stages, "pynq-z2", coeffs=coeffs, budget=budget)
            continue
        got = fold(stages, "pynq-z2", coeffs=coeffs, budget=budget)
        assert got.interval == want, (topo.to_dict(), dsp)
        assert got.estimate.dsp <= dsp
        for s in got.stages:  # every factor divides its dimension
            assert all(d % f == 0 for d, f in zip(unroll_dims(s), (s.pe, s.simd, s.kp)))


@pytest.mark.parametrize("case", range(6))
def test_multi_resource_budgets_and_target_fps_match_brute_force(case):
    """LUT-bound designs (2-bit weights multiply in LUTs) and the cheapest design for a rate."""
    coeffs = load_coefficients("pynq-z2")
    topo, stages = small_cases(6, 2)[case]
    for s in stages:
        if s.is_compute and s.kind != "dense":
            s.w_bits, s.in_bits = 2, min(s.in_bits, 4)  # LUT multipliers
    base = estimate(stages, "pynq-z2", coeffs)
    budget = {"dsp": 8.0, "lut": base.lut * 1.6, "ff": BIG, "bram18": BIG}
    want, _ = brute_force(stages, coeffs, budget)
    got = fold(stages, "pynq-z2", coeffs=coeffs, budget=budget)
    assert got.interval == want
    # cheapest design meeting a rate between the fastest and the fully folded one
    limit = (want + base.interval) // 2
    fps = 100e6 / limit
    target = fold(stages, "pynq-z2", target_fps=fps, coeffs=coeffs, budget=budget)
    assert target.interval <= limit
    _, want_cost = brute_force(stages, coeffs, budget, limit=limit)
    used = [sum(getattr(c, r) for c in target.estimate.stages) for r in RES]  # stage resources (no shell)
    assert sum(u / budget[r] for r, u in zip(RES, used)) == pytest.approx(want_cost, rel=1e-9)


def test_reference_design_fills_the_part_and_objectives_order(reference_topology):
    stages = plan_stages(reference_topology)
    lat = fold(stages, "pynq-z2", "latency")
    cheap = fold(stages, "pynq-z2", "dsp")
    energy = fold(stages, "pynq-z2", "energy")
    dsp_total = get_board("pynq-z2").resource("dsp")
    assert lat.estimate.dsp <= dsp_total and lat.estimate.fits
    assert lat.interval < cheap.interval and cheap.estimate.dsp < lat.estimate.dsp
    assert all((s.pe, s.simd, s.kp) == (1, 1, 1) for s in cheap.stages)
    assert energy.estimate.energy_j <= min(lat.estimate.energy_j, cheap.estimate.energy_j) + 1e-15
    big = fold(stages, "zcu104", "latency")
    assert big.interval <= lat.interval  # a larger part is never slower


def test_unreachable_rate_is_one_clear_error(reference_topology):
    with pytest.raises(FoldingError, match=r"cannot reach 1e\+07 fps on pynq-z2 .* best within the budget is \d+ cycles"):
        fold(plan_stages(reference_topology), "pynq-z2", target_fps=1e7)
    with pytest.raises(FoldingError, match="does not fit pynq-z2 even fully folded"):
        fold(plan_stages(reference_topology), "pynq-z2", budget={"dsp": 0, "lut": 1e9, "ff": 1e9, "bram18": 1e9})
