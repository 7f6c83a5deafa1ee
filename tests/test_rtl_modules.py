"""Each Verilog stage module of ``hls/rtl/``, simulated cycle by cycle in Verilator, equals the
numpy golden model bit for bit (random shapes, widths 2..8 and 16, shifts, wrapping accumulators,
every legal unrolling; random stalls on input valid and output ready), and streams at its fold
count with no bubble between output positions or samples.

Many configurations share one Verilator model (tests/rtl_bench.py), cached by content hash.
The >= 200-configuration hypothesis sweep is marked ``slow`` (scripts/bench_rtl_modules.py runs
it); the default run draws one batch of 24.
"""
from __future__ import annotations

import itertools
import multiprocessing
from typing import List, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hls_cases import KINDS, act_range, check_requant, fixed_stage, golden_stage, requant_cases, stage_cases
from rtl_bench import StreamCase, compile_bench
from sustainml.host.hlsgen import HlsGenError, StageCase
from sustainml.host.rtlgen import stages as rtl
from sustainml.nas.costmodel import unroll_dims
from sustainml.nas.folding import divisors
from sustainml.nas.quantized import Stage

Case = Tuple[StageCase, np.ndarray]


def _stalls(i: int) -> Tuple[int, int]:
    """Per-case stall percentages on input valid / output ready (none, light, heavy, mixed)."""
    return [(0, 0), (20, 20), (60, 10), (10, 60)][i % 4]


def assert_bench_matches(cases: List[Case], stalls: bool = True) -> None:
    bench = compile_bench([c for c, _ in cases])
    for i, (case, x) in enumerate(cases):
        sin, sout = _stalls(i) if stalls else (0, 0)
        got = bench.run(i, x, seed=i, stall_in=sin, stall_out=sout).y
        want = golden_stage(case.stage, x, case.w, case.b)
        assert np.array_equal(got, want), (f"case {i} {case.stage} (stalls {sin}/{sout}%): "
                                           f"RTL {got.ravel()[:8]} != golden {want.ravel()[:8]}")


_SETTINGS = dict(derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.large_base_example])


@settings(max_examples=1, **_SETTINGS)
@given(st.lists(stage_cases(), min_size=24, max_size=24))
def test_modules_match_golden(cases):
    assert_bench_matches(cases)


# 6 examples x 40 cases = 240 hypothesis-drawn configurations (the first example is minimal).
@pytest.mark.slow
@settings(max_examples=6, **_SETTINGS)
@given(st.lists(stage_cases(), min_size=40, max_size=40))
def test_modules_match_golden_sweep(cases):
    assert_bench_matches(cases)
    varying = [c for c, x in cases if np.unique(golden_stage(c.stage, x, c.w, c.b)).size > 1]
    assert len(varying) >= 20 or len({c.stage.kind for c, _ in cases}) == 1


# ---------------------------------------------------------------- fixed cases, one shared model
def _unrolling_cases() -> List[Case]:
    """Every legal (pe, simd, kp) of a fixed stage of each kind."""
    rng = np.random.default_rng(7)
    cases = []
    for kind in KINDS:
        stage, w, b = fixed_stage(kind, rng)
        x = rng.integers(*act_range(6, True), size=(3, stage.in_len, stage.in_ch), endpoint=True)
        for pe, simd, kp in itertools.product(*(divisors(d) for d in unroll_dims(stage))):
            cases.append((StageCase(Stage(**{**stage.to_dict(), "pe": pe, "simd": simd, "kp": kp}), w, b), x))
    return cases


def _timing_stage(kind: str, **kw) -> Stage:
    geo = dict(in_len=20, in_ch=2, in_bits=4, in_signed=True, out_ch=2, out_bits=4, out_signed=True, w_bits=3,
               shift=2, acc_bits=12)
    geo.update(kw)
    s = Stage(kind, 0, out_len=1, **geo)
    if kind in ("conv1d", "dwconv1d"):
        s.out_len = (s.in_len + 2 * s.padding - s.kernel) // s.stride + 1
    elif kind in ("maxpool1d", "avgpool1d"):
        s.out_len = (s.in_len - s.kernel) // s.stride + 1
    elif kind == "pwconv1d":
        s.out_len = s.in_len
    if kind in ("dwconv1d", "maxpool1d", "avgpool1d", "gap1d"):
        s.out_ch = s.in_ch
    if not s.is_compute:
        s.out_bits, s.out_signed = s.in_bits, s.in_signed
    return s


#: Strided, padded and pooled stages in every regime: bound by the fold count (F > positions per
#: output), by the input (F = 1, F < STRIDE), and with a sample tail longer than F (lookahead).
TIMING = [
    _timing_stage("conv1d", kernel=5, padding=2, out_ch=4, pe=2),                    # F = 20, MVU-bound
    _timing_stage("conv1d", kernel=5, padding=2, in_ch=1, kp=5),                     # F = 2, tail 5 > F
    _timing_stage("conv1d", kernel=3, stride=2, padding=1, pe=2, simd=2, kp=3),      # F = 1, input-bound
    _timing_stage("conv1d", kernel=3, stride=3, padding=1, kp=3, simd=2),            # F = 2 < stride 3
    _timing_stage("conv1d", kernel=9, stride=2, in_ch=1, out_ch=3, kp=9),            # F = 3 > stride, input-bound
    _timing_stage("conv1d", kernel=1, padding=2, pe=2, simd=2),                      # F = 1, padding > kernel
    _timing_stage("dwconv1d", kernel=3, stride=2, padding=1, in_ch=4, pe=2),         # F = 6
    _timing_stage("dwconv1d", kernel=4, padding=2, in_ch=4, pe=4, kp=4),             # F = 1, padded
    _timing_stage("pwconv1d", in_ch=4, out_ch=4, pe=2, simd=2),                      # F = 4
    _timing_stage("dense", in_len=6, out_ch=4, simd=2),                              # F = 24 per sample
    _timing_stage("dense", in_len=6, out_ch=4, pe=4, simd=12),                       # F = 1: IN_LEN-bound
    _timing_stage("maxpool1d", kernel=3, stride=2, in_ch=4, in_len=16),              # F = 4 per output
    _timing_stage("avgpool1d", kernel=2, stride=2, in_ch=4, pe=4),                   # F = 1, stride 2
    _timing_stage("gap1d", in_ch=4, pe=2),                                           # 2 cycles per input beat
]
TIMING_BATCH = 6


def _timing_cases() -> List[Case]:
    rng = np.random.default_rng(3)
    cases = []
    for s in TIMING:
        w = rng.integers(-4, 4, size=s.weight_shape) if s.is_compute else None
        b = rng.integers(-20, 20, size=s.out_ch) if s.is_compute else None
        cases.append((StageCase(s, w, b), rng.integers(-8, 8, size=(TIMING_BATCH, s.in_len, s.in_ch))))
    return cases


#: Stream building blocks checked as pass-throughs: FIFOs of two depths and the skid buffer.
STREAMS = [StreamCase("sml_fifo", 12, {"DEPTH": 4}), StreamCase("sml_fifo", 20, {"DEPTH": 16}),
           StreamCase("sml_skid", 7)]


@pytest.fixture(scope="module")
def fixed_bench():
    """One model holding the unrolling sweep, the requantization, timing and stream cases:
    (bench, cases, {group: range of case indices})."""
    stages, x, w = requant_cases()
    rng = np.random.default_rng(5)
    groups = {"sweep": _unrolling_cases(), "requant": [(StageCase(s, w, np.array([0])), x) for s in stages],
              "timing": _timing_cases(),
              "streams": [(c, rng.integers(0, 1 << c.width, size=(3, 40, 1))) for c in STREAMS]}
    cases, ranges = [], {}
    for name, group in groups.items():
        ranges[name] = range(len(cases), len(cases) + len(group))
        cases += group
    return compile_bench([c for c, _ in cases]), cases, ranges


def test_result_independent_of_unrolling(fixed_bench):
    """Every legal (pe, simd, kp) of a fixed stage of each kind gives the golden bits, with stalls."""
    bench, cases, ranges = fixed_bench
    assert len(ranges["sweep"]) >= 50
    for i in ranges["sweep"]:
        case, x = cases[i]
        sin, sout = _stalls(i)
        got = bench.run(i, x, seed=i, stall_in=sin, stall_out=sout).y
        assert np.array_equal(got, golden_stage(case.stage, x, case.w, case.b)), f"case {i}: {case.stage}"


def test_requantize_rounds_half_to_even_and_wraps(fixed_bench):
    bench, cases, ranges = fixed_bench
    stages, x, w = requant_cases()
    ys = [bench.run(i, x).y.ravel() for i in ranges["requant"]]
    check_requant(ys, stages, x, w)


def sample_periods(run_cycles: np.ndarray, out_len: int) -> np.ndarray:
    """Cycles between the last output beats of consecutive samples."""
    last = run_cycles.reshape(-1, out_len)[:, -1]
    return np.diff(last)


@pytest.mark.parametrize("k", range(len(TIMING)), ids=[f"{s.kind}-F{rtl.fold_count(s)}-S{s.stride}-P{s.padding}"
                                                        for s in TIMING])
def test_cycles_per_sample(fixed_bench, k):
    """Without stalls a batch streams at exactly ``ideal_cycles`` per sample (no per-sample
    bubble), and a stage bound by its fold count F emits its output positions exactly F cycles
    apart (no per-position bubble)."""
    bench, cases, ranges = fixed_bench
    i = ranges["timing"][k]
    case, x = cases[i]
    s = case.stage
    run = bench.run(i, x)
    assert np.array_equal(run.y, golden_stage(s, x, case.w, case.b))
    periods = sample_periods(run.cycles, s.out_len)
    assert periods[1:].tolist() == [rtl.ideal_cycles(s)] * (TIMING_BATCH - 2), (s, periods)
    f = rtl.fold_count(s)
    positions = s.in_len + (2 * s.padding if s.kind in ("conv1d", "dwconv1d") else 0)
    if s.out_len > 1 and s.out_len * f >= positions and f >= s.stride:
        gaps = np.diff(run.cycles.reshape(TIMING_BATCH, s.out_len), axis=1)
        assert (gaps == f).all(), (s, gaps)


def test_stalls_change_nothing_but_time(fixed_bench):
    """Heavy random stalls on both sides of a folded, strided, padded conv: same bits, and the
    module never drops or changes an offered beat (the bench checks the AXI-Stream rule)."""
    bench, cases, ranges = fixed_bench
    i = ranges["timing"][0]
    case, x = cases[i]
    free = bench.run(i, x)
    for seed in range(3):
        stalled = bench.run(i, x, seed=seed, stall_in=70, stall_out=70)
        assert np.array_equal(stalled.y, free.y)
        assert stalled.cycles[-1] > free.cycles[-1]


def test_stream_blocks_pass_every_beat_at_full_rate(fixed_bench):
    """sml_fifo and sml_skid: every beat in order under random stalls; one beat per cycle,
    latency 1, when neither side stalls."""
    bench, cases, ranges = fixed_bench
    for i in ranges["streams"]:
        case, x = cases[i]
        for seed, (sin, sout) in enumerate([(0, 0), (30, 30), (70, 10), (10, 70)]):
            run = bench.run(i, x, seed=seed, stall_in=sin, stall_out=sout)
            assert np.array_equal(run.y, x), (case, sin, sout)
            if sin == sout == 0:
                assert run.cycles[0] == 1 and (np.diff(run.cycles) == 1).all(), (case, run.cycles[:8])


def test_rom_words_follow_the_documented_layout():
    """conv1d word nf*SF + cf*KF + kf (channel blocks outer, tap blocks inner: the contract's fold
    order), lane (p, kk*SIMD + ss) = w[kf*KP + kk][cf*SIMD + ss][nf*PE + p], two's complement;
    biases wrapped to ACC_BITS, or saturated when the stage saturates."""
    s = Stage("conv1d", 0, in_len=4, in_ch=4, in_bits=4, in_signed=True, out_len=2, out_ch=4, out_bits=4,
              out_signed=True, kernel=3, w_bits=5, acc_bits=10, pe=2, simd=2, kp=3)
    w = np.arange(3 * 4 * 4).reshape(3, 4, 4) % 32 - 16
    words, bwords = rtl.rom_lines(s, w, np.array([-1, 2, -3, 4]))
    cf_n, kf_n, sf_n = 2, 1, 2
    assert len(words) == 2 * sf_n and len(bwords) == 2
    for nf, cf, kf in itertools.product(range(2), range(cf_n), range(kf_n)):
        word = int(words[nf * sf_n + cf * kf_n + kf], 16)
        for p, kk, ss in itertools.product(range(2), range(3), range(2)):
            v = (word >> ((p * 6 + kk * 2 + ss) * 5)) & 0x1F
            assert v - 32 * (v >> 4) == w[kf * 3 + kk][cf * 2 + ss][nf * 2 + p]
    assert int(bwords[0], 16) == ((2 & 0x3FF) << 10) | (-1 & 0x3FF)
    sat = Stage(**{**s.to_dict(), "acc_bits": 4, "acc_overflow": "saturate"})
    assert rtl.rom_lines(sat, w, np.array([-100, 2, 30, 4]))[1] == ["28", "47"]  # -100 -> -8, 2 | 30 -> 7, 4 (4 bits)
    assert rtl.parameters(sat)["ACC_SAT"] == 1 and rtl.parameters(s)["ACC_SAT"] == 0


def test_instance_passes_every_stage_field():
    s, w, b = fixed_stage("conv1d", np.random.default_rng(0))
    text = rtl.instance(s, "u0", "s0_w.hex", "s0_b.hex", s="a", m="b")
    assert text.startswith("sml_conv1d #(") and ".PADDING(1)" in text and '.WEIGHTS_FILE("s0_w.hex")' in text
    assert ".s_axis_tready(a_tready)" in text and ".m_axis_tdata(b_tdata)" in text
    assert all(f".{p.upper()}(" in text for p in rtl.PARAMS + ("avg_mult",))
    assert {p.name for p in rtl.library_files()} >= {"sml_conv1d.v", "sml_swg.v", "sml_mvu.v", "sml_skid.v"}
    assert not any(p.name.startswith(("sml_axi", "sml_dnnu")) for p in rtl.library_files())


@pytest.mark.parametrize("field, value, message", [
    ("pe", 4, "pe=4 must divide 6"),
    ("w_bits", 9, "w_bits=9 is not a legal width"),
    ("acc_bits", 65, "acc_bits=65 is outside 2..64"),
])
def test_bad_stage_is_a_one_line_error(field, value, message):
    stage, w, b = fixed_stage("conv1d", np.random.default_rng(0))
    setattr(stage, field, value)
    with pytest.raises(HlsGenError, match=message) as info:
        compile_bench([StageCase(stage, w, b)])
    assert "case 0" in str(info.value) and "\n" not in str(info.value)


def _build_in_child(cases, queue):
    queue.put(compile_bench(cases).path.read_bytes()[:64] != b"")


@pytest.mark.slow
def test_concurrent_builds_share_one_result(tmp_path, monkeypatch):
    """Two processes building the same bench at once both get a working model (one compiles,
    the other waits for it), and a third call finds it in the cache."""
    monkeypatch.setenv("SUSTAINML_CACHE", str(tmp_path))
    stage, w, b = fixed_stage("pwconv1d", np.random.default_rng(1))
    cases = [StageCase(stage, w, b)]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_build_in_child, args=(cases, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    assert [queue.get(timeout=5) for _ in procs] == [True, True]
    assert compile_bench(cases).cached
    assert len([d for d in (tmp_path / "rtlbench").iterdir() if d.is_dir()]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_every_kind_synthesizes_with_yosys(tmp_path, family):
    """One instance of every stage kind (PE = 2) through Yosys synth_xilinx: each maps to Xilinx
    cells (registers, and multipliers as DSPs or LUTs for compute stages) with no unknown cell."""
    import shutil

    from sustainml.host.yosys import synthesize

    rng = np.random.default_rng(0)
    body, names = [], []
    for i, kind in enumerate(KINDS):
        s, w, b = fixed_stage(kind, rng)
        s.pe = 2
        wp, bp = rtl.write_roms(s, w, b, tmp_path, f"s{i}")
        names.append(f"u{i}_{kind}")
        body.append(f"wire [{rtl.in_width(s) - 1}:0] a{i}_tdata = din[{rtl.in_width(s) - 1}:0];\n"
                    f"wire a{i}_tvalid = v;\nwire b{i}_tready = r;\nwire a{i}_tready, b{i}_tvalid;\n"
                    f"wire [{rtl.out_width(s) - 1}:0] b{i}_tdata;\n"
                    + rtl.instance(s, names[-1], wp.name if wp else "", bp.name if bp else "", s=f"a{i}", m=f"b{i}")
                    + f"assign dout[{i}] = ^b{i}_tdata ^ b{i}_tvalid ^ a{i}_tready;\n")
    (tmp_path / "top.v").write_text("module top(input ap_clk, input ap_rst_n, input [63:0] din, input v, input r, "
                                    f"output [{len(KINDS) - 1}:0] dout);\n" + "".join(body) + "endmodule\n")
    for p in rtl.library_files():
        shutil.copy(p, tmp_path / p.name)
    net = synthesize(tmp_path, "top", family, "rtl-lib: every stage kind")
    cells = {inst.name: inst.cells.counts for inst in net.instances}
    assert set(cells) == set(names) and not net.total.unknown
    for name, c in cells.items():
        assert c["ff"] > 0 and c["lut"] > 0, (name, c)
        if name.split("_", 1)[1] in ("conv1d", "dwconv1d", "pwconv1d", "dense"):
            assert c["dsp"] + c["carry"] > 0, (name, c)  # multipliers and adders exist
