"""The modules' pipelined loops make no bubbles: counted in C simulation (SML_COUNT_ITERATION),
a sample costs exactly its fold count -- max(input beats, output beats x fold steps) for windowed
stages, input beats x fold steps for pwconv1d, max(input beats, fold steps) for dense and gap1d --
with no extra iteration per position (strided, padded, pooled) or per sample, plus a fill paid
once per call. Fully unrolled stages take one input beat per iteration."""
from __future__ import annotations

import numpy as np
import pytest

from hls_cases import act_range, golden_stage
from sustainml.host.hlsgen import StageCase, compile_stages
from sustainml.host.hlsgen.cpp import folds
from sustainml.nas.quantized import Stage

# (kind, in_len, in_ch, out_ch, kernel, stride, padding, [(pe, simd, kp), ...]); the first
# unrolling is the full one (fold 1), the others fold.
GEOMETRIES = [
    ("conv1d", 12, 2, 4, 3, 2, 1, [(4, 2, 3), (2, 1, 3), (1, 1, 1)]),   # strided + padded
    ("conv1d", 10, 3, 2, 5, 1, 2, [(2, 3, 5), (1, 3, 1)]),              # "same" padding
    ("conv1d", 9, 2, 2, 3, 3, 0, [(2, 2, 3), (1, 2, 1)]),               # stride == kernel
    ("dwconv1d", 11, 4, 4, 3, 1, 1, [(4, 1, 3), (2, 1, 1)]),
    ("dwconv1d", 12, 2, 2, 4, 2, 1, [(2, 1, 4), (1, 1, 2)]),
    ("pwconv1d", 7, 4, 6, 1, 1, 0, [(6, 4, 1), (3, 2, 1)]),
    ("dense", 6, 2, 5, 1, 1, 0, [(5, 12, 1), (5, 3, 1), (1, 2, 1)]),
    ("maxpool1d", 12, 4, 4, 2, 2, 0, [(4, 1, 1), (1, 1, 1)]),           # pooled
    ("avgpool1d", 12, 3, 3, 3, 3, 0, [(3, 1, 1), (1, 1, 1)]),
    ("avgpool1d", 10, 2, 2, 3, 1, 0, [(2, 1, 1), (1, 1, 1)]),
    ("gap1d", 8, 4, 4, 1, 1, 0, [(4, 1, 1), (1, 1, 1)]),
    ("gap1d", 3, 6, 6, 1, 1, 0, [(1, 1, 1)]),                           # more channel folds than beats
]


def _stage(kind, in_len, in_ch, out_ch, kernel, stride, padding, unroll) -> Stage:
    compute = kind in ("conv1d", "dwconv1d", "pwconv1d", "dense")
    windowed = (in_len + 2 * padding - kernel) // stride + 1
    out_len = {"conv1d": windowed, "dwconv1d": windowed, "maxpool1d": windowed, "avgpool1d": windowed,
               "pwconv1d": in_len}.get(kind, 1)
    pe, simd, kp = unroll
    return Stage(kind, 0, in_len=in_len, in_ch=in_ch, in_bits=5, in_signed=True, out_len=out_len, out_ch=out_ch,
                 out_bits=6 if compute else 5, out_signed=not compute, relu=compute, w_bits=4, shift=2,
                 acc_bits=14, kernel=kernel, stride=stride, padding=padding, pe=pe, simd=simd, kp=kp)


def _per_sample(s: Stage) -> int:
    """Iterations one sample costs in steady state: the stage's fold count, nothing more."""
    fold = folds(s)
    if s.kind == "pwconv1d":
        return s.in_len * fold
    if s.kind in ("dense", "gap1d"):
        return max(s.in_len, fold)
    return max(s.in_len, s.out_len * fold)


CASES = [_stage(*g[:7], u) for g in GEOMETRIES for u in g[7]]


@pytest.fixture(scope="module")
def bench():
    rng = np.random.default_rng(3)
    cases = []
    for s in CASES:
        w = b = None
        if s.is_compute:
            w = rng.integers(-8, 8, size=s.weight_shape)
            b = rng.integers(-30, 30, size=s.out_ch)
        cases.append(StageCase(s, w, b))
    return compile_stages(cases)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{s.kind}-L{s.in_len}k{s.kernel}s{s.stride}p{s.padding}"
                                                       f"-pe{s.pe}simd{s.simd}kp{s.kp}" for s in CASES])
def test_iterations_per_sample_equal_the_fold_count(bench, i):
    s, case = CASES[i], bench.cases[i]
    rng = np.random.default_rng(i)
    counts = {}
    for batch in (1, 2, 5):
        x = rng.integers(*act_range(s.in_bits, True), size=(batch, s.in_len, s.in_ch), endpoint=True)
        y = bench.run(i, x)
        assert np.array_equal(y, golden_stage(s, x, case.w, case.b))
        counts[batch] = bench.iterations
    per = _per_sample(s)
    assert counts[5] - counts[2] == 3 * per, f"{s.kind}: {counts} iterations for batches 1/2/5, fold count {per}"
    assert counts[2] - counts[1] == per
    fill = counts[1] - per  # paid once per call: the first window / the first sample's input
    if s.kind == "pwconv1d":
        assert fill == 0
    elif s.kind in ("dense", "gap1d"):
        assert 0 <= fill <= s.in_len
    else:
        assert 0 <= fill <= s.kernel
    if folds(s) == 1 and s.stride == 1 and s.out_len <= s.in_len:
        assert per == s.in_len  # fully unrolled: one input beat per iteration


def test_every_kind_and_fold_regime_is_covered():
    kinds = {s.kind for s in CASES}
    assert kinds == {"conv1d", "dwconv1d", "pwconv1d", "dense", "maxpool1d", "avgpool1d", "gap1d"}
    assert any(s.stride > 1 for s in CASES) and any(s.padding > 0 for s in CASES)
    for kind in kinds:  # read-bound (fully unrolled) and compute-bound (folded) per kind
        per = [(_per_sample(s), s.in_len) for s in CASES if s.kind == kind]
        assert any(p == n for p, n in per) and any(p > n for p, n in per), kind
