"""Each DNNU library module, C-simulated through g++/ctypes, equals the numpy golden model bit
for bit: random shapes, widths 2..8 and 16, shifts, narrow (wrapping) accumulators and every
legal unrolling. Cases are batched 40 to a translation unit to amortize the ap_int compile."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hls_cases import KINDS, act_range, fixed_stage, check_requant, golden_stage, requant_cases, stage_cases
from sustainml.host.hlsgen import HlsGenError, StageCase, compile_stages
from sustainml.nas.costmodel import unroll_dims
from sustainml.nas.folding import divisors
from sustainml.nas.quantized import Stage

CASES_PER_EXAMPLE = 40


def _assert_bench_matches(cases):
    bench = compile_stages([c for c, _ in cases])
    for i, (case, x) in enumerate(cases):
        got = bench.run(i, x)
        want = golden_stage(case.stage, x, case.w, case.b)
        assert np.array_equal(got, want), f"case {i} {case.stage}: C-sim {got.ravel()[:8]} != golden {want.ravel()[:8]}"


# 6 examples x 40 cases: the first is hypothesis' minimal example, the other 200 are random.
@settings(max_examples=6, derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(st.lists(stage_cases(), min_size=CASES_PER_EXAMPLE, max_size=CASES_PER_EXAMPLE))
def test_modules_match_golden(cases):
    _assert_bench_matches(cases)
    # the cases exercise what they claim to: outputs vary, so a wrong bit would show
    varying = [c for c, x in cases if np.unique(golden_stage(c.stage, x, c.w, c.b)).size > 1]
    assert len(varying) >= CASES_PER_EXAMPLE // 2 or len({c.stage.kind for c, _ in cases}) == 1


def test_result_independent_of_unrolling():
    """Every legal (pe, simd, kp) of a fixed stage of each kind gives the golden bits."""
    rng = np.random.default_rng(7)
    cases = []
    for kind in KINDS:
        stage, w, b = fixed_stage(kind, rng)
        x = rng.integers(*act_range(6, True), size=(4, stage.in_len, stage.in_ch), endpoint=True)
        for pe, simd, kp in itertools.product(*(divisors(d) for d in unroll_dims(stage))):
            s = Stage(**{**stage.to_dict(), "pe": pe, "simd": simd, "kp": kp})
            cases.append((StageCase(s, w, b), x))
    assert len(cases) >= 50
    _assert_bench_matches(cases)


def test_requantize_rounds_half_to_even_and_wraps():
    """Accumulator = bias + x (1x1 conv, weight 1): ties round to even; left shifts; the
    accumulator wraps at acc_bits before requantization; ReLU and clipping."""
    stages, x, w = requant_cases()
    bench = compile_stages([StageCase(s, w, np.array([0])) for s in stages])
    ys = [bench.run(i, x).ravel() for i in range(len(stages))]
    check_requant(ys, stages, x, w)


@pytest.mark.parametrize("field, value, message", [
    ("pe", 4, "pe=4 must divide 6"),
    ("kp", 2, "kp=2 must divide 3"),
    ("w_bits", 9, "w_bits=9 is not a legal width"),
    ("acc_bits", 65, "acc_bits=65 is outside 2..64"),
])
def test_bad_stage_is_a_one_line_error(field, value, message):
    stage, w, b = fixed_stage("conv1d", np.random.default_rng(0))
    setattr(stage, field, value)
    with pytest.raises(HlsGenError, match=message) as info:
        compile_stages([StageCase(stage, w, b)])
    assert "case 0" in str(info.value) and "\n" not in str(info.value)


def test_weight_outside_its_width_is_rejected():
    stage, w, b = fixed_stage("dense", np.random.default_rng(0))
    w = w.copy()
    w[2, 1] = 8  # 4-bit weights hold -8..7
    with pytest.raises(HlsGenError, match=r"weight 8 does not fit w_bits=4"):
        compile_stages([StageCase(stage, w, b)])


def test_inconsistent_geometry_is_rejected():
    stage, w, b = fixed_stage("dwconv1d", np.random.default_rng(0))
    stage.out_len = 9  # (9 + 2*2 - 4) // 1 + 1 = 10
    with pytest.raises(HlsGenError, match=r"output \(len, ch\)=\(9, 6\) but the module makes \(10, 6\)"):
        compile_stages([StageCase(stage, w, b)])
