"""Hypothesis strategies and golden references for single HLS module tests.

A case is one :class:`Stage` of any library module with random shape, widths (2..8, 16),
shift, accumulator width (sometimes narrow enough to wrap) and a legal unrolling, plus
random weights and inputs; :func:`fixed_stage` is one mid-size stage per kind (the unrolling
sweeps of both backends). :func:`golden_stage` is the reference: nas/golden.py's
``bounded``/``requantize`` for compute stages (wrap or saturate as the stage says) and
``pool`` for pooling.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from hypothesis import strategies as st

from sustainml.host.hlsgen import StageCase
from sustainml.nas import golden
from sustainml.nas.costmodel import unroll_dims
from sustainml.nas.folding import divisors
from sustainml.nas.quantized import Stage
from sustainml.nas.topology import LEGAL_BITS

KINDS = ("conv1d", "dwconv1d", "pwconv1d", "dense", "maxpool1d", "avgpool1d", "gap1d")


def act_range(bits: int, signed: bool) -> tuple:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def golden_stage(stage: Stage, x: np.ndarray, w: Optional[np.ndarray], b: Optional[np.ndarray]) -> np.ndarray:
    if not stage.is_compute:
        return golden.pool(stage, x)
    return golden.requantize(stage, golden.bounded(stage, x, w, b))


def _bits_for_bound(bound: int) -> int:
    return int(bound).bit_length() + 1


@st.composite
def stage_cases(draw, kinds=KINDS, batch: int = 3):
    """(StageCase, x) with x of shape (batch, in_len, in_ch)."""
    kind = draw(st.sampled_from(kinds))
    bits = st.sampled_from(LEGAL_BITS)
    in_bits, in_signed = draw(bits), draw(st.booleans())
    in_len, in_ch = draw(st.integers(1, 12)), draw(st.integers(1, 8))
    common = dict(kind=kind, layer=0, in_len=in_len, in_ch=in_ch, in_bits=in_bits, in_signed=in_signed)
    if kind in ("conv1d", "dwconv1d"):
        padding = draw(st.integers(0, 2))
        kernel = draw(st.integers(1, min(5, in_len + 2 * padding)))
        stride = draw(st.integers(1, 3))
        out_len = (in_len + 2 * padding - kernel) // stride + 1
        out_ch = in_ch if kind == "dwconv1d" else draw(st.integers(1, 8))
        geo = dict(out_len=out_len, out_ch=out_ch, kernel=kernel, stride=stride, padding=padding)
    elif kind in ("pwconv1d", "dense"):
        geo = dict(out_len=in_len if kind == "pwconv1d" else 1, out_ch=draw(st.integers(1, 8)))
    elif kind == "gap1d":
        geo = dict(out_len=1, out_ch=in_ch)
    else:
        kernel = draw(st.integers(1, min(4, in_len)))
        stride = draw(st.integers(1, 3))
        geo = dict(out_len=(in_len - kernel) // stride + 1, out_ch=in_ch, kernel=kernel, stride=stride)
    if kind in ("maxpool1d", "avgpool1d", "gap1d"):
        stage = Stage(out_bits=in_bits, out_signed=in_signed, **common, **geo)
        w = b = None
    else:
        relu = draw(st.booleans())
        stage = Stage(out_bits=draw(bits), out_signed=not relu, relu=relu, w_bits=draw(bits), **common, **geo)
        wlo, whi = act_range(stage.w_bits, True)
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        w = rng.integers(wlo, whi + 1, size=stage.weight_shape)
        xlo, xhi = act_range(in_bits, in_signed)
        bound = stage.reduction * max(abs(xlo), xhi) * (whi + 1)
        typical = max(1.0, np.sqrt(stage.reduction) * max(abs(xlo), xhi) * (whi + 1) / 3)
        b = None if kind == "dwconv1d" and draw(st.booleans()) else rng.integers(-int(typical), int(typical) + 1, size=stage.out_ch)
        full = _bits_for_bound(bound + (0 if b is None else int(np.abs(b).max(initial=0))))
        stage.acc_bits = draw(st.integers(max(2, full - 6), min(64, full + 2)))  # below `full`: wraps
        stage.shift = max(-4, int(np.log2(typical)) - stage.out_bits + 2 + draw(st.integers(-3, 3)))
    dp, ds, dk = unroll_dims(stage)
    stage.pe, stage.simd, stage.kp = (draw(st.sampled_from(divisors(d))) for d in (dp, ds, dk))
    xlo, xhi = act_range(in_bits, in_signed)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(xlo, xhi + 1, size=(batch, in_len, in_ch))
    return StageCase(stage, w, b), x


def fixed_stage(kind: str, rng: np.random.Generator):
    """One mid-size stage of ``kind`` (signed 6-bit in, ReLU 5-bit out, narrow accumulator)."""
    geo = {"conv1d": dict(in_len=9, in_ch=4, out_len=5, out_ch=6, kernel=3, stride=2, padding=1),
           "dwconv1d": dict(in_len=9, in_ch=6, out_len=10, out_ch=6, kernel=4, stride=1, padding=2),
           "pwconv1d": dict(in_len=5, in_ch=4, out_len=5, out_ch=6),
           "dense": dict(in_len=3, in_ch=4, out_len=1, out_ch=6),
           "maxpool1d": dict(in_len=9, in_ch=6, out_len=4, out_ch=6, kernel=3, stride=2),
           "avgpool1d": dict(in_len=9, in_ch=6, out_len=3, out_ch=6, kernel=3, stride=3),
           "gap1d": dict(in_len=9, in_ch=6, out_len=1, out_ch=6)}[kind]
    compute = kind in ("conv1d", "dwconv1d", "pwconv1d", "dense")
    stage = Stage(kind, 0, in_bits=6, in_signed=True, out_bits=5 if compute else 6, out_signed=not compute,
                  relu=compute, w_bits=4, shift=3, acc_bits=10, **geo)
    w = b = None
    if compute:
        w = rng.integers(-8, 8, size=stage.weight_shape)
        b = rng.integers(-40, 40, size=stage.out_ch)
    return stage, w, b


def requant_cases():
    """(stages, x, w) isolating requantization: 1x1 convs with weight 1 and bias 0, so the
    accumulator is the input: /4 with ties to even, *8 clipped, a 4-bit wrapping accumulator,
    ReLU to 2 unsigned bits."""
    x = np.arange(-12, 13).reshape(1, -1, 1)
    base = dict(in_len=x.shape[1], in_ch=1, in_bits=8, in_signed=True, out_len=x.shape[1], out_ch=1, w_bits=2)
    w = np.ones((1, 1), dtype=np.int64)
    stages = [Stage("pwconv1d", 0, out_bits=8, out_signed=True, shift=2, acc_bits=16, **base),   # /4, ties to even
              Stage("pwconv1d", 0, out_bits=8, out_signed=True, shift=-3, acc_bits=8, **base),  # *8, clipped
              Stage("pwconv1d", 0, out_bits=8, out_signed=True, shift=0, acc_bits=4, **base),   # wraps at 4 bits
              Stage("pwconv1d", 0, out_bits=2, out_signed=False, relu=True, shift=1, acc_bits=16, **base)]
    return stages, x, w


def check_requant(ys, stages, x, w) -> None:
    """Assert the outputs ``ys`` of :func:`requant_cases` (one flat array per stage)."""
    v = x.ravel()
    expect_div4 = {-10: -2, -6: -2, -2: 0, 2: 0, 6: 2, 10: 2}  # exact ties -> even neighbour
    assert {int(a): int(y) for a, y in zip(v, ys[0]) if a % 4 == 2} == expect_div4
    assert np.array_equal(ys[1], np.clip(v * 8, -128, 127))
    assert np.array_equal(ys[2], ((v + 8) % 16) - 8)
    assert set(ys[3].tolist()) == {0, 1, 2, 3} and ys[3].min() == 0
    for s, y in zip(stages, ys):
        assert np.array_equal(y, golden_stage(s, x, w, np.array([0])).ravel())
