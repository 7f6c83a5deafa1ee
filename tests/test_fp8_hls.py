"""The HLS FP8 codec (hls/include/sustainml/fp8.h) and DMA adapter (hls/src/fp8_adapter.cpp) in
C simulation (g++ against the ap_types headers), bit-exact against the torch codec."""
from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest
import torch

from sustainml import REPO_ROOT
from sustainml.nas.fp8 import decode, encode

ADAPTER = REPO_ROOT / "hls" / "src" / "fp8_adapter.cpp"
HARNESS = REPO_ROOT / "tests" / "fp8_csim_harness.cpp"
BIASES = [0, 10, 15, 20, 31, 63]
P = np.ctypeslib.ndpointer


@pytest.fixture(scope="module")
def lib():
    csim = pytest.importorskip("sustainml.host.hlsgen.csim")
    try:
        library = csim.compile_sources({"harness.cpp": HARNESS.read_text(), "fp8_adapter.cpp": ADAPTER.read_text()},
                                       "harness.cpp", name="fp8")
    except Exception as exc:  # no g++ / no ap_types headers
        pytest.skip(f"C simulation unavailable: {exc}")
    i = ctypes.c_int
    return {
        "enc": library.function("fp8_encode_array", None, [P(np.uint32), P(np.uint8), i, i, i]),
        "dec": library.function("fp8_decode_array", None, [P(np.uint8), P(np.uint32), i, i]),
        "adapter": library.function("fp8_adapter_run", i, [P(np.uint32), i, P(np.uint32), i, i, i, i]),
        "dma": library.function("fp8_dma_roundtrip", None, [P(np.float32), P(np.uint32), P(np.float32), i, i, i]),
    }


def _c_encode(lib, x: np.ndarray, bias: int, saturate: bool) -> np.ndarray:
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    out = np.zeros(len(bits), dtype=np.uint8)
    lib["enc"](bits, out, len(bits), bias, int(saturate))
    return out


def _probe(bias: int) -> np.ndarray:
    """Every FP8 value at ``bias``, midpoints and their float32 neighbours, random bit patterns
    (all exponents, so overflow, subnormal and underflow regions), specials."""
    vals = decode(torch.arange(256, dtype=torch.uint8), bias).numpy()
    fin = np.unique(vals[np.isfinite(vals)])
    mids = ((fin[:-1].astype(np.float64) + fin[1:]) / 2).astype(np.float32)
    rng = np.random.default_rng(bias)
    rand = rng.integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near = (rng.standard_normal(50_000) * np.exp2(15 - bias + rng.uniform(-20, 20, 50_000))).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38], dtype=np.float32)
    return np.concatenate([fin, mids, np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(np.inf)),
                           rand, near, specials])


@pytest.mark.parametrize("bias", BIASES)
def test_decode_all_256_codes_bit_exact(lib, bias):
    codes = np.arange(256, dtype=np.uint8)
    bits = np.zeros(256, dtype=np.uint32)
    lib["dec"](codes, bits, 256, bias)
    want = decode(torch.from_numpy(codes), bias).numpy()
    nan = np.isnan(want)
    assert np.isnan(bits.view(np.float32)[nan]).all()
    np.testing.assert_array_equal(bits[~nan], want.view(np.uint32)[~nan])  # bit patterns: +-0 included


@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("saturate", [True, False])
def test_encode_bit_exact(lib, bias, saturate):
    x = _probe(bias)
    got = _c_encode(lib, x, bias, saturate)
    want = encode(torch.from_numpy(x), bias, saturate=saturate).numpy()
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(float(x[i]), hex(got[i]), hex(want[i])) for i in bad[:5]]


@pytest.mark.parametrize("n", [1, 4, 1001])
def test_dma_adapter_pack_and_unpack(lib, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 2.0 ** -9).astype(np.float32)
    bias = 25
    words = np.zeros((n + 3) // 4, dtype=np.uint32)
    k = lib["adapter"](x.view(np.uint32).copy(), n, words, n, bias, 0, 1)
    assert k == (n + 3) // 4  # 4x fewer words than FP32
    codes = encode(torch.from_numpy(x), bias).numpy()
    np.testing.assert_array_equal(words.view(np.uint8)[:n], codes)  # little-endian lanes = the code array
    assert not words.view(np.uint8)[n:].any()  # padding is +0
    back = np.zeros(n, dtype=np.uint32)
    assert lib["adapter"](words, len(words), back, n, bias, 1, 1) == n
    np.testing.assert_array_equal(back.view(np.float32), decode(torch.from_numpy(codes), bias).numpy())


def test_dma_movers_roundtrip(lib):
    x = np.random.default_rng(0).standard_normal(37).astype(np.float32) * 100
    words = np.zeros(10, dtype=np.uint32)
    y = np.zeros(37, dtype=np.float32)
    lib["dma"](x, words, y, 37, 12, 1)
    np.testing.assert_array_equal(y, decode(encode(torch.from_numpy(x), 12), 12).numpy())


def test_sources_are_warning_clean_and_carry_pragmas():
    toolchain = pytest.importorskip("sustainml.host.hlsgen.toolchain")
    try:
        flags = [toolchain.compiler(), toolchain.CXX_STD, *toolchain.include_flags(toolchain.find_ap_types())]
    except Exception as exc:
        pytest.skip(f"no C++ toolchain: {exc}")
    strict = subprocess.run(flags + ["-fsyntax-only", "-Wall", "-Wextra", "-Werror", str(ADAPTER)],
                            capture_output=True, text=True)
    assert strict.returncode == 0, strict.stderr[-2000:]
    pre = subprocess.run(flags + ["-E", "-DSML_EMIT_PRAGMAS", str(ADAPTER)], capture_output=True, text=True, check=True)
    for pragma in ("HLS PIPELINE II=1", "HLS INTERFACE axis port=in", "HLS INTERFACE s_axilite port=bias"):
        assert f"#pragma {pragma}" in pre.stdout


@pytest.mark.vivado
def test_adapter_synthesizes():
    """Vitis HLS C synthesis of the adapter (hls/src/fp8_adapter.tcl) succeeds and reports."""
    import shutil

    if shutil.which("vitis_hls") is None:
        pytest.skip("vitis_hls not on PATH")
    subprocess.run(["vitis_hls", "-f", str(REPO_ROOT / "hls" / "src" / "fp8_adapter.tcl")], cwd=REPO_ROOT, check=True)
    report = REPO_ROOT / "build" / "fp8_adapter" / "sol" / "syn" / "report" / "fp8_adapter_csynth.rpt"
    assert report.is_file() and "fp8_adapter" in report.read_text()
