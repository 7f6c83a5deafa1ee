"""DNNU with FP8 I/O (`sustainml generate --io fp8`): the board's numpy codec equals the torch
codec; the HLS FP8 <-> fixed-point converters equal (torch decode -> PS quantization) and
(torch encode of the logits) exhaustively; the C-simulated DNNU equals torch FP8 decode ->
golden model -> torch FP8 encode bit for bit on the ECG5000 test set; generate/build/board
runtime carry the bias registers end to end."""
from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sustainml import REPO_ROOT
from sustainml.board import fp8 as board_fp8
from sustainml.board import sim
from sustainml.board.bundle import FP8_ENCODING, BundleError, IoSpec, load_bundle, validate_manifest
from sustainml.board.dnnu import Dnnu
from sustainml.board.errors import BoardError
from sustainml.host.build import build, missing_tools
from sustainml.host.cli import main
from sustainml.host.generate import generate
from sustainml.host.hlsgen import DnnuIO, HlsGenError, compile_dnnu, compile_sources, emit_dnnu, run_dnnu, toolchain
from sustainml.nas import golden
from sustainml.nas.fp8 import choose_bias, decode, encode
from sustainml.nas.synthetic import random_quantized_model
from sustainml.nas.topology import load_topology

P = np.ctypeslib.ndpointer


def _torch_decode(codes: np.ndarray, bias: int) -> np.ndarray:
    return decode(torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8)), bias).numpy()


def _torch_encode(x: np.ndarray, bias: int, saturate: bool = True) -> np.ndarray:
    return encode(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), bias, saturate=saturate).numpy()


# ---------------------------------------------------------------------------------- board codec
@pytest.mark.parametrize("bias", range(64))
def test_board_codec_equals_torch_codec(bias):
    codes = np.arange(256, dtype=np.uint8)
    want, got = _torch_decode(codes, bias), board_fp8.decode(codes, bias)
    nan = np.isnan(want)
    assert nan.sum() == 6 and np.array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got.view(np.uint32)[~nan], want.view(np.uint32)[~nan])  # +-0 included
    fin = np.unique(want[np.isfinite(want)])
    mids = ((fin[:-1].astype(np.float64) + fin[1:]) / 2).astype(np.float32)  # ties
    rng = np.random.default_rng(bias)
    x = np.concatenate([want, mids, np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(np.inf)),
                        rng.integers(0, 2 ** 32, 20_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
                        np.array([np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, -0.0], dtype=np.float32)])
    for saturate in (True, False):
        np.testing.assert_array_equal(board_fp8.encode(x, bias, saturate), _torch_encode(x, bias, saturate))
    np.testing.assert_array_equal(board_fp8.encode(want[~nan], bias), codes[~nan])  # every value is its code


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(0, 63))
def test_board_codec_encodes_any_float_like_torch(x, bias):
    a = np.array([x], dtype=np.float64)  # both round to float32 first (beyond its range: +-Inf)
    with np.errstate(over="ignore"):
        want = _torch_encode(a.astype(np.float32), bias)[0]
    assert board_fp8.encode(a, bias)[0] == want


def test_board_codec_refuses_bad_arguments():
    with pytest.raises(BoardError, match="bias=64"):
        board_fp8.encode(np.zeros(2), 64)
    with pytest.raises(BoardError, match="uint8"):
        board_fp8.decode(np.zeros(2, dtype=np.int16), 15)


# ---------------------------------------------------------------------------------- HLS converters
TO_FIXED = [(8, 4), (8, 0), (16, 12), (4, -2), (8, 10)]  # (BITS, FRAC) of fp8_to_fixed
TO_FP8 = [(16, 9), (16, 0), (8, -3), (16, 20), (8, 7)]  # (W, FRAC) of fixed_to_fp8


def _harness() -> str:
    lines = ['#include <stdint.h>', '#include "sustainml/io/fp8_dma.h"', 'extern "C" {']
    for i, (bits, frac) in enumerate(TO_FIXED):
        lines.append(f"void to_fixed_{i}(const uint8_t* c, int64_t* y, int n, int bias) {{ for (int k = 0; k < n; k++) "
                     f"y[k] = sml::fp8_to_fixed<{bits}, {frac}>(c[k], bias).to_int64(); }}")
    for i, (w, frac) in enumerate(TO_FP8):
        lines.append(f"void to_fp8_{i}(const int64_t* v, uint8_t* c, int n, int bias) {{ for (int k = 0; k < n; k++) "
                     f"c[k] = sml::fixed_to_fp8<{w}, {frac}>(ap_int<{w}>(v[k]), bias).to_uint(); }}")
    return "\n".join(lines + ["}"])


@pytest.fixture(scope="module")
def converters():
    lib = compile_sources({"fp8_io.cpp": _harness()}, "fp8_io.cpp", "fp8io", ("-O1", "-fPIC", "-shared", "-Wall", "-Wextra"))
    i = ctypes.c_int
    return ([lib.function(f"to_fixed_{k}", None, [P(np.uint8), P(np.int64), i, i]) for k in range(len(TO_FIXED))],
            [lib.function(f"to_fp8_{k}", None, [P(np.int64), P(np.uint8), i, i]) for k in range(len(TO_FP8))])


def test_fp8_to_fixed_is_the_ps_quantization_on_every_code(converters):
    codes = np.arange(256, dtype=np.uint8)
    for k, (bits, frac) in enumerate(TO_FIXED):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        for bias in range(64):
            x = _torch_decode(codes, bias).astype(np.float64)
            want = np.clip(np.round(np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf) * 2.0 ** frac), lo, hi)
            got = np.zeros(256, dtype=np.int64)
            converters[0][k](codes, got, 256, bias)
            bad = np.flatnonzero(got != want)
            assert bad.size == 0, (bits, frac, bias, [(hex(c), got[c], want[c]) for c in bad[:4]])


def test_fixed_to_fp8_encodes_every_logit_like_torch(converters):
    for k, (w, frac) in enumerate(TO_FP8):
        v = np.arange(-(1 << (w - 1)), 1 << (w - 1), dtype=np.int64)
        for bias in (0, 5, 10, 15, 20, 31, 45, 63):
            got = np.zeros(len(v), dtype=np.uint8)
            converters[1][k](v, got, len(v), bias)
            want = _torch_encode((v * 2.0 ** -frac).astype(np.float32), bias)
            bad = np.flatnonzero(got != want)
            assert bad.size == 0, (w, frac, bias, [(int(v[i]), hex(got[i]), hex(want[i])) for i in bad[:4]])


# ---------------------------------------------------------------------------------- whole DNNU
@pytest.fixture(scope="module")
def fp8_project(ecg5000, tmp_path_factory):
    """A random-weight reference topology (shifts calibrated on ECG5000) generated with --io fp8."""
    topo = load_topology(REPO_ROOT / "nas" / "examples" / "ecg_baseline.yaml")
    model = random_quantized_model(topo, 4, ecg5000.train.x[:64])
    root = tmp_path_factory.mktemp("fp8io")
    mdir = model.save(root / "model")
    g = generate(mdir, root / "build", "pynq-z2", calibration=ecg5000.train.x[:256], io="fp8", name="ecg_fp8")
    return g, root


def _reference(model, codes, in_bias, out_bias):
    """torch FP8 decode -> PS quantization -> golden model -> torch FP8 encode."""
    logits = golden.run(model, model.quantize_input(_torch_decode(codes, in_bias)))
    return _torch_encode(logits * 2.0 ** -model.output_frac, out_bias)


def test_fp8_dnnu_equals_torch_codec_and_golden_on_ecg5000(fp8_project, ecg5000):
    g, _ = fp8_project
    model, io = g.model, g.record["io"]
    in_bias, out_bias = io["input"]["bias"], io["output"]["bias"]
    x = ecg5000.test.x
    assert len(x) == 4500
    x_cal = np.abs(model.quantize_input(ecg5000.train.x[:256]))
    assert in_bias == choose_bias(float(np.median(x_cal[x_cal > 0])) * 2.0 ** -model.input_frac)  # the seed's table
    codes = _torch_encode(x, in_bias)
    lib = compile_dnnu(model, FP8_ENCODING)
    dnnu_io = DnnuIO.of_model(model, FP8_ENCODING)
    hw = run_dnnu(lib, dnnu_io, codes, in_bias=in_bias, out_bias=out_bias)
    ref = _reference(model, codes, in_bias, out_bias)
    assert hw.dtype == np.uint8 and hw.shape == (4500, 5)
    assert np.array_equal(hw, ref), f"{int((hw != ref).any(axis=1).sum())} of 4500 samples differ"
    # meaningful: many distinct codes, few saturated, FP8 logits pick mostly the integer model's class
    assert np.unique(ref).size > 20
    assert np.isin(ref & 0x7F, [0x7B]).mean() < 0.05
    exact = golden.run(model, model.quantize_input(x)).argmax(1)
    assert (_torch_decode(hw, out_bias).argmax(1) == exact).mean() > 0.8
    # the bias registers are run-time inputs: other values on a slice, extremes included
    for ib, ob in ((10, 31), (31, 10), (0, 63), (25, 18)):
        c = _torch_encode(x[:200], ib)
        assert np.array_equal(run_dnnu(lib, dnnu_io, c, in_bias=ib, out_bias=ob), _reference(model, c, ib, ob))
    # bytes moved per sample: one byte per value, a quarter of FP32 I/O
    assert dnnu_io.dma_bytes() == {"input": 140, "output": 5, "input_fp32": 560, "output_fp32": 20}
    assert g.record["dma_bytes_per_sample"] == dnnu_io.dma_bytes()


def test_fp8_top_registers_and_pragmas(fp8_project, tmp_path):
    g, root = fp8_project
    src = root / "build" / "hls" / "src"
    top, config, tb = ((src / f).read_text() for f in ("dnnu.cpp", "config.h", "tb_dnnu.cpp"))
    assert ("void dnnu(const dnnu_in_t* in, dnnu_out_t* out, int batch, ap_uint<6> in_bias, ap_uint<6> out_bias)"
            in top)
    assert "s_axilite port=in_bias offset=0x30 bundle=control" in top
    assert "s_axilite port=out_bias offset=0x38 bundle=control" in top
    assert "fp8_dma_read_fixed<s0_cfg, DNNU_INPUT_FRAC>(in, st0, batch, in_bias)" in top
    assert "typedef uint8_t dnnu_in_t;" in config and "typedef uint8_t dnnu_out_t;" in config
    io = g.record["io"]
    assert f"n, {io['input']['bias']}, {io['output']['bias']});" in tb
    assert g.record["registers"]["in_bias"] == 0x30 and g.record["registers"]["out_bias"] == 0x38
    assert g.record["sim"]["args"] == ["in_bias", "out_bias"]
    report = (root / "build" / "report.md").read_text()
    assert "## I/O: FP8 E5M2 over DMA" in report and "| input | 140 | 560 | 0.25 |" in report
    # the integer top is unchanged by the option
    emit_dnnu(g.model, tmp_path / "int")
    int_top = (tmp_path / "int" / "dnnu.cpp").read_text()
    assert "void dnnu(const dnnu_in_t* in, dnnu_out_t* out, int batch) {" in int_top and "bias" not in int_top
    # the FP8 top compiles clean under -Wall -Wextra -Werror -pedantic
    ap = toolchain.find_ap_types()
    proc = subprocess.run([toolchain.compiler(), toolchain.CXX_STD, "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                           "-pedantic", *toolchain.include_flags(ap), "-I", str(src), str(src / "dnnu.cpp")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_fp8_sim_overlay_on_the_board_runtime(fp8_project, ecg5000):
    g, root = fp8_project
    b = load_bundle(build(root / "build", root / "overlays", sim=True, echo=lambda _: None), part="xc7z020clg400-1")
    m = b.manifest
    assert m["sim"]["args"] == ["in_bias", "out_bias"] and m["registers"]["in_bias"] == 0x30
    assert b.input.fp8 and b.input.dtype == "uint8" and b.input.register == "in_bias"
    assert b.output.fp8 and b.output.bits == g.model.output_bits and b.output.frac == g.model.output_frac
    hwh = b.hwh.read_text()
    assert 'REGISTER NAME="in_bias"' in hwh and 'REGISTER NAME="out_bias"' in hwh
    x = ecg5000.test.x[:300]
    sim.activate("pynq-z2")
    try:
        with Dnnu.load(b.path, max_batch=128) as dnnu:
            assert dnnu.smoke_test()["ok"]
            assert (dnnu.in_bias, dnnu.out_bias) == (b.input.bias, b.output.bias)
            dnnu.in_bias, dnnu.out_bias = 20, 12  # written to the registers on every call
            res = dnnu.predict(x)
            want = _reference(g.model, board_fp8.encode(x, 20), 20, 12)
            assert res.logits.dtype == np.uint8 and np.array_equal(res.logits, want)
            np.testing.assert_array_equal(res.scores, _torch_decode(want, 12))
            assert np.array_equal(res.classes, res.scores.argmax(axis=1))
            assert dnnu.smoke_test()["ok"]  # golden vectors run at the manifest's biases
            assert (dnnu.in_bias, dnnu.out_bias) == (20, 12)
            with pytest.raises(BoardError, match="in_bias=64"):
                dnnu.in_bias = 64
            with pytest.raises(BoardError, match="uint8 E5M2 codes"):
                dnnu.predict(np.zeros((2, 140, 1), dtype=np.int16))
    finally:
        sim.deactivate()


def test_fp8_io_contract_errors(fp8_project, tmp_path, capsys):
    g, root = fp8_project
    doc = yaml.safe_load((root / "build" / "build.yaml").read_text())
    manifest = {"format": "sustainml-overlay/1", "name": "x", "kind": "sim", "board": "pynq-z2", "part": "p",
                "clock_mhz": 100, "ip": {"name": "dnnu_0"}, "registers": dict(doc["registers"]), "io": doc["io"],
                "sim": {"library": "x.so", "symbol": "dnnu_csim"}}
    validate_manifest(manifest, need_files=False)
    del manifest["registers"]["out_bias"]
    with pytest.raises(BundleError, match="io.output.register='out_bias' is not in the register map"):
        validate_manifest(manifest, need_files=False)
    bad = dict(doc["io"]["input"], dtype="int8")
    with pytest.raises(BundleError, match="FP8 codes travel as uint8"):
        IoSpec.from_dict(bad, "io.input")
    with pytest.raises(HlsGenError, match="FP8 I/O takes uint8"):
        run_dnnu(compile_dnnu(g.model, FP8_ENCODING), DnnuIO.of_model(g.model, FP8_ENCODING),
                 np.zeros((1, 140, 1), dtype=np.int8), in_bias=15, out_bias=15)
    mdir = root / "model"
    assert main(["generate", str(mdir), "--out", str(tmp_path / "a"), "--in-bias", "3"]) != 0
    assert "apply to FP8 I/O only" in capsys.readouterr().err
    assert main(["generate", str(mdir), "--out", str(tmp_path / "b"), "--io", "fp8", "--out-bias", "64"]) != 0
    assert "--out-bias=64 out of range" in capsys.readouterr().err


@pytest.mark.vivado
@pytest.mark.skipif(bool(missing_tools()), reason="needs vitis_hls and vivado on PATH")
def test_fp8_bitstream_build(fp8_project):
    """Vitis HLS csim (the generated FP8 testbench) + synthesis + Vivado: a bitstream bundle whose
    hwh exposes the bias registers at the manifest's offsets."""
    g, root = fp8_project
    b = load_bundle(build(root / "build", root / "hw_overlays"), part="xc7z020clg400-1")
    assert b.kind == "bitstream" and b.input.fp8 and b.output.fp8
    hwh = b.hwh.read_text()
    for reg in ("in_bias", "out_bias"):
        assert f'NAME="{reg}"' in hwh and hex(b.registers[reg]) in hwh.lower()
