"""Saturating accumulators in the Verilog library (``ACC_SAT``, nas/quantized.py "Accumulator
overflow"), simulated cycle by cycle in Verilator:

* every compute module with ``acc_overflow="saturate"`` equals the golden model's saturated
  result bit for bit (hypothesis-drawn narrow accumulators at random unrollings, and every
  unrolling of a fixed conv1d on full-scale input, whose golden results differ between SIMD/KP
  choices: a fold order other than the contract's would show), under random stalls;
* the DNNU that ``generate --backend rtl --acc-width observed --acc-overflow saturate`` writes for
  the trained reference model, and random models with conv1d folded at SIMD < IN_CH and KP > 1,
  give the golden saturated logits on full-scale, alternating full-scale and random inputs, where
  accumulators demonstrably leave their range and wrap-around gives other logits.
"""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from hls_cases import fixed_stage, golden_stage, stage_cases
from random_models import random_model, stress_inputs
from rtl_bench import compile_bench
from rtl_models import KIND_MODELS, container
from sustainml.host.generate import generate
from sustainml.host.hlsgen import StageCase
from sustainml.host.rtlgen.rtlsim import open_project
from sustainml.host.rtlgen.top import RtlProject, TopIO, write_project
from sustainml.nas import accumulators, golden
from sustainml.nas.costmodel import unroll_dims
from sustainml.nas.folding import divisors
from sustainml.nas.quantized import QuantizedModel, Stage

COMPUTE = ("conv1d", "dwconv1d", "pwconv1d", "dense")
Case = Tuple[StageCase, np.ndarray]


def _saturating(stage: Stage) -> Stage:
    return dataclasses.replace(stage, acc_overflow="saturate")


def _drawn_cases(n: int) -> List[Case]:
    drawn: List[Case] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(stage_cases(kinds=COMPUTE))
    def collect(c):
        drawn.append((StageCase(_saturating(c[0].stage), c[0].w, c[0].b), c[1]))

    collect()
    return drawn


def _full_scale_conv_cases() -> List[Case]:
    """A fixed narrow conv1d (4 -> 6 channels, K=3) at every legal (pe, simd, kp), on rail inputs."""
    rng = np.random.default_rng(21)
    stage, w, b = fixed_stage("conv1d", rng)
    stage = _saturating(dataclasses.replace(stage, acc_bits=9))
    x = rng.choice([-32, 31], size=(4, stage.in_len, stage.in_ch))
    x[0] = 31
    x[1] = np.where(np.arange(stage.in_len)[:, None] % 2 == 0, 31, -32)
    return [(StageCase(dataclasses.replace(stage, pe=pe, simd=simd, kp=kp), w, b), x)
            for pe, simd, kp in itertools.product(*(divisors(d) for d in unroll_dims(stage)))]


@pytest.fixture(scope="module")
def sat_bench():
    drawn, conv = _drawn_cases(24), _full_scale_conv_cases()
    return compile_bench([c for c, _ in drawn + conv]), drawn, conv


def test_saturating_modules_match_golden_bit_for_bit(sat_bench):
    bench, drawn, _ = sat_bench
    clipped = 0
    for i, (case, x) in enumerate(drawn):
        got = bench.run(i, x, seed=i, stall_in=(0, 30, 60)[i % 3], stall_out=(0, 40, 10)[i % 3]).y
        want = golden_stage(case.stage, x, case.w, case.b)
        assert np.array_equal(got, want), f"case {i} {case.stage}: RTL {got.ravel()[:8]} != golden {want.ravel()[:8]}"
        clipped += not np.array_equal(want, golden_stage(dataclasses.replace(case.stage, acc_overflow="wrap"),
                                                         x, case.w, case.b))
    assert clipped >= len(drawn) // 3, f"only {clipped} of {len(drawn)} cases saturate: the test would miss a bug"


@pytest.mark.slow
def test_saturating_modules_sweep():
    """160 hypothesis-drawn saturating compute stages in one bench (scripts/bench_rtl_modules.py)."""
    drawn = _drawn_cases(160)
    bench = compile_bench([c for c, _ in drawn])
    for i, (case, x) in enumerate(drawn):
        got = bench.run(i, x, seed=i, stall_in=(0, 30, 60)[i % 3], stall_out=(0, 40, 10)[i % 3]).y
        assert np.array_equal(got, golden_stage(case.stage, x, case.w, case.b)), f"case {i} {case.stage}"


def test_conv1d_follows_the_contract_fold_order_at_every_unrolling(sat_bench):
    """Every (pe, simd, kp) of one conv1d on full-scale input: RTL == golden; the golden results
    differ between SIMD/KP choices (so the fold order is tested), never between PE."""
    bench, drawn, conv = sat_bench
    results = {}
    for k, (case, x) in enumerate(conv):
        i = len(drawn) + k
        got = bench.run(i, x, seed=i, stall_in=20 * (k % 2), stall_out=30 * (k % 3 == 0)).y
        s = case.stage
        want = golden_stage(s, x, case.w, case.b)
        assert np.array_equal(got, want), f"pe {s.pe} simd {s.simd} kp {s.kp}: RTL {got.ravel()[:8]} != {want.ravel()[:8]}"
        results.setdefault((s.simd, s.kp), set()).add(want.tobytes())
    assert all(len(v) == 1 for v in results.values())  # PE never matters
    assert {(1, 3), (2, 3), (2, 1)} <= set(results)  # SIMD < IN_CH with KP > 1, and KP = 1
    assert len({next(iter(v)) for v in results.values()}) >= 3
    s, x = conv[0][0], conv[0][1]
    wrapped = golden_stage(dataclasses.replace(s.stage, acc_overflow="wrap"), x, s.w, s.b)
    assert not np.array_equal(wrapped, golden_stage(s.stage, x, s.w, s.b))


# ------------------------------------------------------------------ whole DNNUs
def _overflowed(model: QuantizedModel, x: np.ndarray) -> int:
    """How many exact accumulator values of ``model`` on ``x`` fall outside their stage's range."""
    outside = []

    def observe(i: int, acc: np.ndarray) -> None:
        a = model.stages[i].acc_bits
        outside.append(int(((acc < -(1 << (a - 1))) | (acc > (1 << (a - 1)) - 1)).sum()))

    golden.run(model, x, observe=observe)
    return sum(outside)


def _run_rtl(proj: RtlProject, model: QuantizedModel, x: np.ndarray, stalls: bool) -> np.ndarray:
    sim, _ = open_project(proj, model.topology.name, stalls=stalls)
    io = proj.io
    y, _ = sim.run(x.astype(container(io.in_bits)), (io.out_len * io.out_ch,), container(io.out_bits))
    return y.astype(np.int64)


def _check_saturating_design(model: QuantizedModel, proj: RtlProject, x: np.ndarray, stalls: bool = False) -> None:
    assert all(s.acc_overflow == "saturate" for s in model.stages if s.is_compute)
    want = golden.run(model, x)
    got = _run_rtl(proj, model, x, stalls)
    bad = np.argwhere((got != want).any(axis=1))
    assert not len(bad), f"{len(bad)} of {len(x)} samples differ; sample {bad[0][0]}: rtl {got[bad[0][0]].tolist()} " \
                         f"golden {want[bad[0][0]].tolist()}"
    assert _overflowed(model, x) > 0  # the accumulators do leave their range on these inputs ...
    wrapped = golden.run(accumulators.apply(model, [], "wrap"), x)
    assert (wrapped != got).any(axis=1).sum() > 0  # ... and wrap-around would give other logits


@pytest.mark.parametrize("objective", ["latency", "dsp"])
def test_reference_observed_saturate_design_is_bit_exact(tmp_path, reference_model_dir, objective):
    """The generated Verilog (files as ``generate --backend rtl`` wrote them) of the trained
    reference model, fastest and fully folded (SIMD = 1 < IN_CH on the inner convs)."""
    g = generate(reference_model_dir, tmp_path / "build", "pynq-z2", objective=objective, acc_width="observed",
                 margin_bits=1, acc_overflow="saturate", backend="rtl")
    rec = g.record["rtl"]
    proj = RtlProject(g.build_dir / rec["dir"], rec["sources"], TopIO.of_model(g.model))
    assert "ACC_SAT(1)" in (proj.folder / "dnnu.v").read_text()
    _check_saturating_design(g.model, proj, stress_inputs(g.model))


def _fold_conv_partially(model: QuantizedModel, seed: int) -> QuantizedModel:
    """Every conv1d at the largest SIMD < IN_CH and KP > 1 where its shape allows; others random."""
    rng = np.random.default_rng(seed)
    stages = []
    for s in model.stages:
        dp, ds, dk = (divisors(d) for d in unroll_dims(s))
        pe, simd, kp = (int(rng.choice(d)) for d in (dp, ds, dk))
        if s.kind == "conv1d":
            simd = max([d for d in ds if d < s.in_ch] or [1])
            kp = min([d for d in dk if d > 1] or [1])
        stages.append(dataclasses.replace(s, pe=pe, simd=simd, kp=kp))
    return dataclasses.replace(model, stages=stages)


@pytest.mark.parametrize("name", list(KIND_MODELS))
def test_random_models_with_partly_folded_convs_are_bit_exact(tmp_path, name):
    m = random_model(KIND_MODELS[name], seed=5)
    t = m.topology.input
    rng = np.random.default_rng(5)
    x_cal = rng.integers(-(1 << (t.bits - 3)), 1 << (t.bits - 3), size=(32, t.length, t.channels))
    m = accumulators.apply(m, accumulators.profile(m, x_cal, 1, "observed"), "saturate")
    m = _fold_conv_partially(m, 5)
    assert any(s.kind == "conv1d" and s.simd < s.in_ch and s.kp > 1 for s in m.stages)
    proj = write_project(m, Path(tmp_path) / "rtl")
    _check_saturating_design(m, proj, stress_inputs(m, seed=5, n_random=16), stalls=True)
