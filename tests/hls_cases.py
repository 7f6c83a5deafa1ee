"""Hypothesis strategies and golden references for single HLS module tests.

A case is one :class:`Stage` of any library module with random shape, widths (2..8, 16),
shift, accumulator width (sometimes narrow enough to wrap) and a legal unrolling, plus
random weights and inputs. :func:`golden_stage` is the reference: nas/golden.py's
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

