"""Saturating accumulators (nas/quantized.py, "Accumulator overflow"): the golden model equals a
plain per-output loop written from the contract; the HLS library's C-simulation equals the golden
model bit for bit on hypothesis-drawn narrow accumulators at every legal unrolling; the result
depends on SIMD/KP (documented) and never on PE."""
from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings

from hls_cases import golden_stage, stage_cases
from sustainml.host.hlsgen import StageCase, compile_stages
from sustainml.nas import golden
from sustainml.nas.costmodel import unroll_dims
from sustainml.nas.folding import divisors
from sustainml.nas.quantized import Stage

COMPUTE = ("conv1d", "dwconv1d", "pwconv1d", "dense")
SETTINGS = dict(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))


def _contract_acc(s: Stage, x: np.ndarray, w: np.ndarray, b) -> np.ndarray:
    """Saturating accumulators by the contract's loops, one output at a time, in Python ints."""
    lo, hi = -(1 << (s.acc_bits - 1)), (1 << (s.acc_bits - 1)) - 1
    sat = lambda v: min(max(v, lo), hi)  # noqa: E731
    n = x.shape[0]
    xp = np.pad(x, ((0, 0), (s.padding, s.padding), (0, 0))) if s.kind in ("conv1d", "dwconv1d") else x
    out = np.zeros((n, s.out_len, s.out_ch), dtype=np.int64)
    for i in range(n):
        for t in range(s.out_len):
            for o in range(s.out_ch):
                acc = sat(0 if b is None else int(b[o]))
                if s.kind == "conv1d":
                    win = xp[i, t * s.stride:t * s.stride + s.kernel]
                    steps = [[(win[k, c], w[k, c, o]) for k in range(kf * s.kp, (kf + 1) * s.kp)
                              for c in range(cf * s.simd, (cf + 1) * s.simd)]
                             for cf in range(s.in_ch // s.simd) for kf in range(s.kernel // s.kp)]
                elif s.kind == "dwconv1d":
                    win = xp[i, t * s.stride:t * s.stride + s.kernel]
                    steps = [[(win[k, o], w[k, o]) for k in range(kf * s.kp, (kf + 1) * s.kp)]
                             for kf in range(s.kernel // s.kp)]
                else:
                    v = x[i, t] if s.kind == "pwconv1d" else x[i].reshape(-1)
                    steps = [[(v[c], w[c, o]) for c in range(cf * s.simd, (cf + 1) * s.simd)]
                             for cf in range(len(v) // s.simd)]
                for step in steps:
                    acc = sat(acc + sum(int(a) * int(c) for a, c in step))
                out[i, t, o] = acc
    return out


def _saturating(case: StageCase) -> StageCase:
    return StageCase(dataclasses.replace(case.stage, acc_overflow="saturate"), case.w, case.b)


@settings(max_examples=60, **SETTINGS)
@given(stage_cases(kinds=COMPUTE, batch=2))
def test_golden_saturation_follows_the_contract_loops(drawn):
    case, x = drawn
    s = _saturating(case).stage
    assert np.array_equal(golden.accumulate_saturating(s, x, case.w, case.b), _contract_acc(s, x, case.w, case.b))


def test_hls_saturation_matches_golden_bit_for_bit():
    drawn = []

    @settings(max_examples=40, **SETTINGS)
    @given(stage_cases(kinds=COMPUTE))
    def collect(c):
        drawn.append((_saturating(c[0]), c[1]))

    collect()
    bench = compile_stages([c for c, _ in drawn])
    clipped = 0
    for i, (case, x) in enumerate(drawn):
        got, want = bench.run(i, x), golden_stage(case.stage, x, case.w, case.b)
        assert np.array_equal(got, want), f"case {i} {case.stage}: C-sim {got.ravel()[:8]} != golden {want.ravel()[:8]}"
        wrapped = golden_stage(dataclasses.replace(case.stage, acc_overflow="wrap"), x, case.w, case.b)
        clipped += not np.array_equal(want, wrapped)
    assert clipped >= len(drawn) // 3, f"only {clipped} of {len(drawn)} cases saturate: the test would miss a bug"


def test_saturation_depends_on_simd_and_kp_never_on_pe():
    rng = np.random.default_rng(0)
    s = Stage("conv1d", 0, in_len=12, in_ch=4, in_bits=8, in_signed=True, out_len=12, out_ch=4, out_bits=8,
              out_signed=True, kernel=3, padding=1, w_bits=8, shift=4, acc_bits=12, acc_overflow="saturate")
    w = rng.integers(-128, 128, size=s.weight_shape)
    b = rng.integers(-500, 500, size=s.out_ch)
    x = rng.choice([-128, 127], size=(16, 12, 4))
    results = {}
    for pe, simd, kp in ((p, q, r) for p in divisors(4) for q in divisors(4) for r in divisors(3)):
        st_ = dataclasses.replace(s, pe=pe, simd=simd, kp=kp)
        results[(pe, simd, kp)] = golden.accumulate_saturating(st_, x, w, b)
    for (pe, simd, kp), acc in results.items():
        assert np.array_equal(acc, results[(1, simd, kp)])  # PE never matters
    assert len({results[(1, q, r)].tobytes() for q in divisors(4) for r in divisors(3)}) > 1
    assert unroll_dims(s) == (4, 4, 3)
