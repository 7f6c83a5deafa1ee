"""FP8 codec (nas/fp8.py) against the independent bit-level reference (tests/fp8_reference.py),
and the statistics unit's bias choice."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fp8_reference import decode_ref, encode_ref
from sustainml.errors import SustainmlError
from sustainml.nas.fp8 import (BIAS_TABLE, E4M3, E5M2, Fp8Error, StatsUnit, check_bias, choose_bias, decode, encode,
                               max_value, min_subnormal, quantize)

FORMATS = [(E5M2, False), (E4M3, True)]
BIASES = [0, 7, 10, 15, 16, 23, 31, 63]


def _ref_dec(code, bias, fmt, fn):
    return decode_ref(code, bias, fmt.exp_bits, fmt.man_bits, fn)


@pytest.mark.parametrize("fmt,fn", FORMATS, ids=["e5m2", "e4m3"])
@pytest.mark.parametrize("bias", BIASES)
def test_decode_all_256_codes(fmt, fn, bias):
    got = decode(torch.arange(256, dtype=torch.uint8), bias, fmt)
    for code in range(256):
        ref, g = _ref_dec(code, bias, fmt, fn), float(got[code])
        if isinstance(ref, float) and math.isnan(ref):
            assert math.isnan(g), code
            continue
        assert g == ref, (code, g, ref)
        assert math.copysign(1.0, g) == (-1.0 if code & 0x80 else 1.0), code  # +-0 and every sign


def _probe_values(bias, fmt, fn):
    """Every finite value, every midpoint (ties) and its float32 neighbours, the overflow
    threshold region, values below half the smallest subnormal, specials; both signs."""
    mags = [float(_ref_dec(c, bias, fmt, fn)) for c in range(128)]
    fin = [m for m in mags if math.isfinite(m)]
    pts = list(fin)
    top = fin[-1] + (fin[-1] - fin[-2])
    for a, b in zip(fin, fin[1:] + [top]):
        mid = np.float32((a + b) / 2)
        pts += [float(mid), float(np.nextafter(mid, np.float32(0))), float(np.nextafter(mid, np.float32(np.inf)))]
    pts += [top, 2 * top, 1e38, fin[1] / 2, fin[1] / 4, fin[1] * 0.75, 1e-40, math.inf]
    pts = [p for p in pts if np.isfinite(np.float32(p)) or math.isinf(p)]
    return [float(np.float32(p)) for p in pts] + [-float(np.float32(p)) for p in pts] + [math.nan]


@pytest.mark.parametrize("fmt,fn", FORMATS, ids=["e5m2", "e4m3"])
@pytest.mark.parametrize("bias", [0, 10, 15, 31, 63])
@pytest.mark.parametrize("saturate", [True, False])
def test_encode_ties_overflow_subnormals(fmt, fn, bias, saturate):
    xs = _probe_values(bias, fmt, fn)
    got = encode(torch.tensor(xs, dtype=torch.float32), bias, fmt, saturate=saturate).tolist()
    want = [encode_ref(x, bias, fmt.exp_bits, fmt.man_bits, fn, saturate) for x in xs]
    bad = [(x, hex(g), hex(w)) for x, g, w in zip(xs, got, want) if g != w]
    assert not bad, bad[:5]


@settings(max_examples=300, deadline=None)
@given(bits=st.integers(0, 2 ** 32 - 1), bias=st.integers(0, 63), saturate=st.booleans())
def test_encode_random_float32_bit_patterns(bits, bias, saturate):
    x = struct.unpack("<f", struct.pack("<I", bits))[0]
    got = int(encode(torch.tensor([x], dtype=torch.float32), bias, E5M2, saturate=saturate)[0])
    assert got == encode_ref(x, bias, saturate=saturate)


def test_known_points_and_range():
    # bias 15 is IEEE-style E5M2: 1.0 = 0x3C, max 57344 = 0x7B, min subnormal 2^-16 = 0x01
    assert encode(torch.tensor([1.0, 57344.0, 2.0 ** -16, -0.0]), 15).tolist() == [0x3C, 0x7B, 0x01, 0x80]
    # the bias only moves the window: code 0x3C is 2^(15-b)
    assert decode(torch.tensor([0x3C], dtype=torch.uint8), 20).item() == 2.0 ** -5
    assert max_value(20) == 57344.0 * 2.0 ** -5 and min_subnormal(20) == 2.0 ** -21
    assert encode(torch.tensor([1e6]), 15, saturate=True).item() == 0x7B
    assert encode(torch.tensor([1e6]), 15, saturate=False).item() == 0x7C  # Inf


def test_roundtrip_is_idempotent_on_every_code():
    codes = torch.arange(256, dtype=torch.uint8)
    for bias in (10, 15, 31):
        vals = decode(codes, bias)
        keep = ~vals.isnan()
        assert torch.equal(encode(vals[keep], bias), codes[keep])
        x = torch.randn(1000) * 3
        q = quantize(x, bias)
        assert torch.equal(quantize(q, bias), q)


def test_stochastic_rounding_picks_a_neighbour_and_is_unbiased():
    gen = torch.Generator().manual_seed(0)
    x = torch.full((20000,), 1.1)  # between 1.0 and 1.25 at bias 15
    codes = encode(x, 15, rounding="stochastic", generator=gen)
    assert set(codes.unique().tolist()) == {0x3C, 0x3D}
    assert abs(float(decode(codes, 15).mean()) - 1.1) < 0.005
    assert torch.equal(encode(torch.tensor([1.25]), 15, rounding="stochastic"), torch.tensor([0x3D], dtype=torch.uint8))


def test_bias_table_is_the_seeds():
    assert choose_bias(64) == 10 and choose_bias(2) == 15 and choose_bias(1) == 16 and choose_bias(0.0625) == 20
    assert choose_bias(2.0 ** -15) == 31
    assert all(choose_bias(m) == b for m, b in BIAS_TABLE.items())
    assert choose_bias(0.7) == 17  # nearest in log2: 0.7 is nearer 0.5 than 1
    assert choose_bias(2.0 ** 0.5) == 15  # log2 tie goes to the smaller bias (more headroom)
    assert choose_bias(1e6) == 10 and choose_bias(1e-12) == 31 and choose_bias(0.0) == 31


def test_bad_arguments_are_one_line_errors():
    for bad in (-1, 64, 1.5, True):
        with pytest.raises(Fp8Error, match="bias"):
            check_bias(bad)  # type: ignore[arg-type]
    with pytest.raises(SustainmlError, match="uint8"):
        decode(torch.zeros(3), 15)
    with pytest.raises(Fp8Error, match="rounding"):
        encode(torch.zeros(3), 15, rounding="up")
    with pytest.raises(Fp8Error, match="median"):
        choose_bias(float("nan"))


def test_stats_unit_median_ignores_zeros_and_picks_the_table_bias():
    unit = StatsUnit(per_tensor=512, capacity=2048, seed=1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):  # log-normal magnitudes around 2^-10, 70% zeros (a ReLU'd gradient)
        x = torch.exp2(torch.randn(4096, generator=gen) - 10) * (torch.rand(4096, generator=gen) > 0.7)
        x[0] = float("inf")
        unit.observe(x)
    assert unit.sample.numel() == 2048 and bool((unit.sample > 0).all())
    assert abs(math.log2(unit.median()) + 10) < 0.2
    assert unit.bias() == 26
    assert StatsUnit().bias(default=15) == 15  # nothing observed
