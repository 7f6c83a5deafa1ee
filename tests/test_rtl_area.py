"""Area fixes of the RTL stage library (hls/rtl/README.md "Area"), checked in Verilator and Yosys.

* ``sml_dense`` keeps a long sample in an addressed two-bank memory (``sml_sbuf``) read one SIMD
  block per fold step: bit-exact with nas/golden.py under random stalls for every buffer layout
  (a word = one beat split into SIMD blocks, a word = several beats, one word per sample, and the
  register fallback when SIMD and IN_CH do not divide), wrapping and saturating; without stalls
  it streams at exactly ``ideal_cycles`` per sample and its first output comes one cycle earlier
  than through ``sml_swg`` (IN_LEN + F + 2).
* Yosys ``synth_xilinx`` of single stages: a fold-count-1 dwconv1d has at most one DSP48 per
  product and a few hundred LUTs (it had 63 DSP48 and ~10k LUT for 40 products: index
  multipliers and barrel shifters); a long dense holds its sample in RAM, not flip-flops.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hls_cases import golden_stage
from rtl_bench import compile_bench
from sustainml.host import yosys
from sustainml.host.hlsgen import StageCase
from sustainml.host.rtlgen import stages as rtl
from sustainml.nas.quantized import Stage


def _dense(in_len: int, in_ch: int, out_ch: int, pe: int, simd: int, **kw) -> Stage:
    geo = dict(in_bits=5, in_signed=False, out_bits=16, out_signed=True, w_bits=4, shift=1, acc_bits=18)
    geo.update(kw)
    return Stage("dense", 0, in_len=in_len, in_ch=in_ch, out_len=1, out_ch=out_ch, pe=pe, simd=simd, **geo)


def sbuf_used(s: Stage) -> bool:
    """sml_dense's choice (hls/rtl/sml_dense.v, localparam MEM)."""
    return s.in_len > 1 and (s.in_ch % s.simd == 0 or s.simd % s.in_ch == 0)


DENSE = [
    _dense(35, 16, 5, pe=5, simd=2),                   # word = beat, 8 blocks; F = 280: fold-bound
    _dense(40, 4, 3, pe=3, simd=8, in_bits=7),         # word = 2 beats; F = 20 < IN_LEN: input-bound
    _dense(12, 3, 4, pe=2, simd=12, in_signed=True),   # word = 4 beats, 3 words per sample
    _dense(20, 2, 4, pe=1, simd=40),                   # one word per sample (write and read of one address)
    _dense(16, 4, 4, pe=4, simd=4),                    # F = 16 = IN_LEN: the bank is refilled as it is released
    _dense(10, 6, 2, pe=1, simd=4),                    # SIMD and IN_CH do not divide: sml_swg fallback
    _dense(8, 4, 2, pe=1, simd=1, in_bits=6, in_signed=True, w_bits=5, acc_bits=10,
           acc_overflow="saturate"),                   # saturating accumulators through the buffer
]
BATCH = 6


@pytest.fixture(scope="module")
def dense_bench():
    rng = np.random.default_rng(14)
    cases = []
    for s in DENSE:
        w = rng.integers(-(1 << (s.w_bits - 1)), 1 << (s.w_bits - 1), size=s.weight_shape)
        b = rng.integers(-50, 50, size=s.out_ch)
        lo, hi = (-(1 << (s.in_bits - 1)), 1 << (s.in_bits - 1)) if s.in_signed else (0, 1 << s.in_bits)
        cases.append((StageCase(s, w, b), rng.integers(lo, hi, size=(BATCH, s.in_len, s.in_ch))))
    return compile_bench([c for c, _ in cases]), cases


def test_layouts_cover_both_paths():
    assert [sbuf_used(s) for s in DENSE].count(False) == 1


@pytest.mark.parametrize("k", range(len(DENSE)), ids=[f"L{s.in_len}C{s.in_ch}-SIMD{s.simd}-PE{s.pe}" for s in DENSE])
def test_dense_sample_buffer_is_bit_exact_under_stalls(dense_bench, k):
    bench, cases = dense_bench
    case, x = cases[k]
    want = golden_stage(case.stage, x, case.w, case.b)
    assert np.unique(want).size > 1
    for seed, (sin, sout) in enumerate([(0, 0), (30, 30), (70, 10), (10, 70)]):
        got = bench.run(k, x, seed=seed, stall_in=sin, stall_out=sout).y
        assert np.array_equal(got, want), (case.stage, sin, sout, got.ravel()[:6], want.ravel()[:6])


@pytest.mark.parametrize("k", range(len(DENSE)), ids=[f"L{s.in_len}C{s.in_ch}-SIMD{s.simd}-PE{s.pe}" for s in DENSE])
def test_dense_sample_buffer_streams_at_ideal(dense_bench, k):
    bench, cases = dense_bench
    case, x = cases[k]
    s = case.stage
    run = bench.run(k, x)
    periods = np.diff(run.cycles)
    assert periods[1:].tolist() == [rtl.ideal_cycles(s)] * (BATCH - 2), (s, periods)
    f = rtl.fold_count(s)
    assert run.cycles[0] == s.in_len + f + (2 if sbuf_used(s) else 3), (s, run.cycles[0])


# ------------------------------------------------------------------ Yosys cell counts of one stage
def _synth(tmp_path: Path, s: Stage, name: str) -> dict:
    rng = np.random.default_rng(3)
    w = rng.integers(-(1 << (s.w_bits - 1)), 1 << (s.w_bits - 1), size=s.weight_shape)
    b = rng.integers(-50, 50, size=s.out_ch)
    folder = tmp_path / name
    folder.mkdir()
    wf, bf = rtl.write_roms(s, w, b, folder, "s0")
    (folder / "stage_top.v").write_text(rtl.standalone_top(s, wf.name, bf.name))
    for p in rtl.library_files():
        (folder / p.name).write_text(p.read_text())
    net = yosys.synthesize(folder, "stage_top", "xc7", design=name)
    (inst,) = [i for i in net.instances if i.name == "u_stage"]
    return inst.cells.summary()


def test_constant_weight_dwconv_has_one_dsp_per_product_at_most(tmp_path):
    s = Stage("dwconv1d", 0, in_len=20, in_ch=8, in_bits=5, in_signed=False, out_len=20, out_ch=8, out_bits=6,
              out_signed=True, kernel=5, padding=2, w_bits=3, shift=2, acc_bits=10, pe=8, kp=5)
    assert rtl.fold_count(s) == 1
    c = _synth(tmp_path, s, "dwconv-f1")
    assert c["dsp"] <= s.pe * s.kp, c
    assert c["lut"] < 500, c  # 10k before: a 200-bit barrel shifter per product


def test_long_dense_holds_its_sample_in_ram(tmp_path):
    s = _dense(40, 8, 5, pe=1, simd=2)
    sample_bits = s.in_len * s.in_ch * s.in_bits
    c = _synth(tmp_path, s, "dense-long")
    assert c["bram18"] + c["bram36"] + c["lutram"] > 0, c
    assert c["ff"] < sample_bits // 2, c  # sml_swg held it twice: >= 2 * sample_bits flip-flops
