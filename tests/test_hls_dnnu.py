"""Whole DNNUs emitted from quantized models: C simulation equals the golden model bit for bit
on all 4500 ECG5000 test samples; emission is deterministic; the library and the generated
top compile warning-free; the pragmas are Vitis HLS directives; the compile cache is safe."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sustainml import REPO_ROOT
from sustainml.host.hlsgen import (REGISTERS, DnnuIO, HlsGenError, ToolchainError, compile_dnnu, compile_sources,
                                   emit_dnnu, find_ap_types, run_dnnu, toolchain)
from sustainml.nas import golden
from sustainml.nas.costmodel import unroll_dims
from sustainml.nas.folding import divisors
from sustainml.nas.synthetic import random_quantized_model
from sustainml.nas.topology import Topology, load_topology

#: A HALF-style design: depthwise-separable blocks at mixed 2..8-bit widths, strided conv,
#: average and max pooling, a flattening Dense classifier (no GAP).
HALF_LIKE = """
name: half_like
input: {length: 140, channels: 1, bits: 8}
classes: 5
layers:
  - {type: Conv1D, filters: 4, kernel: 5, stride: 2, padding: 2, weight_bits: 6, act_bits: 6}
  - {type: ReLU}
  - {type: DepthwiseSeparableConv1D, filters: 8, kernel: 3, padding: 1, weight_bits: 4, act_bits: 5}
  - {type: BatchNorm}
  - {type: ReLU}
  - {type: AvgPool1D, pool: 2}
  - {type: DepthwiseSeparableConv1D, filters: 8, kernel: 3, padding: 1, weight_bits: 3, act_bits: 4}
  - {type: ReLU}
  - {type: MaxPool1D, pool: 3, stride: 2}
  - {type: DepthwiseSeparableConv1D, filters: 6, kernel: 5, padding: 2, weight_bits: 2, act_bits: 7}
  - {type: AvgPool1D, pool: 4}
  - {type: Dense, units: 5, weight_bits: 8, act_bits: 16}
"""


def _unrolled(model, seed: int):
    """Give every stage a random legal, mostly non-trivial unrolling."""
    rng = np.random.default_rng(seed)
    for s in model.stages:
        s.pe, s.simd, s.kp = (int(rng.choice(divisors(d)[-3:])) for d in unroll_dims(s))
    return model


@pytest.fixture(scope="module")
def topologies():
    return {"ecg_baseline": load_topology(REPO_ROOT / "nas" / "examples" / "ecg_baseline.yaml"),
            "half_like": Topology.from_yaml(textwrap.dedent(HALF_LIKE))}


@pytest.mark.parametrize("name, seed", [("ecg_baseline", 1), ("half_like", 2)])
def test_random_model_dnnu_matches_golden_on_ecg5000(topologies, ecg5000, name, seed):
    model = _unrolled(random_quantized_model(topologies[name], seed, ecg5000.train.x[:64]), seed)
    assert {s.kind for s in model.stages} >= ({"conv1d", "maxpool1d", "gap1d", "dense"} if name == "ecg_baseline"
                                              else {"conv1d", "dwconv1d", "pwconv1d", "avgpool1d", "maxpool1d", "dense"})
    assert any(s.pe * s.simd * s.kp > 1 for s in model.stages)
    x = model.quantize_input(ecg5000.test.x)
    assert len(x) == 4500
    hw = run_dnnu(compile_dnnu(model), model, x)
    ref = golden.run(model, x)
    assert hw.shape == (4500, 5)
    assert np.array_equal(hw, ref), f"{int((hw != ref).any(axis=1).sum())} of 4500 samples differ"
    # meaningful: logits spread over many values, few at the clip bounds
    last = model.stages[-1]
    assert np.unique(ref).size > 500
    assert np.isin(ref, [last.out_min, last.out_max]).mean() < 0.05


def test_reference_model_dnnu_matches_golden(reference_model, ecg5000):
    """The trained reference ECG5000 model (tests/conftest.py) on all 4500 test samples."""
    x = reference_model.quantize_input(ecg5000.test.x)
    hw = run_dnnu(compile_dnnu(reference_model), reference_model, x)
    assert np.array_equal(hw, golden.run(reference_model, x))
    assert (hw.argmax(1) == ecg5000.test.y).mean() == pytest.approx(reference_model.metrics["test_acc"])


@pytest.fixture(scope="module")
def half_model(topologies, ecg5000):
    return _unrolled(random_quantized_model(topologies["half_like"], 3, ecg5000.train.x[:32]), 3)


def test_emit_is_deterministic_and_complete(half_model, ecg5000, tmp_path):
    a = emit_dnnu(half_model, tmp_path / "a")
    again = _unrolled(random_quantized_model(half_model.topology, 3, ecg5000.train.x[:32]), 3)  # equal, not the same object
    b = emit_dnnu(again, tmp_path / "b")
    assert [p.name for p in a] == ["config.h", "weights.h", "dnnu.cpp"]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
    top, config, weights = (p.read_text() for p in (tmp_path / "a" / "dnnu.cpp", a[0], a[1]))
    assert "void dnnu(const dnnu_in_t* in, dnnu_out_t* out, int batch)" in top
    assert "SML_PRAGMA(HLS DATAFLOW)" in top and "SML_PRAGMA(HLS INTERFACE ap_ctrl_hs port=return)" in top
    for port, reg in (("in", "in_addr"), ("out", "out_addr"), ("batch", "batch")):
        assert f"s_axilite port={port} offset=0x{REGISTERS[reg]:x} bundle=control" in top
    assert top.count("INTERFACE m_axi") == 2
    assert len(re.findall(r"STREAM variable=st\d+ depth=\d+", top)) == len(half_model.stages) + 1
    assert '#ifndef __SYNTHESIS__\n// C simulation' in top and 'extern "C" int dnnu_csim(' in top
    for i, s in enumerate(half_model.stages):
        block = config.split(f"struct s{i}_cfg")[1].split("};")[0]
        assert f"PE = {s.pe}, SIMD = {s.simd}, KP = {s.kp};" in block
        assert f"SHIFT = {s.shift}, ACC_BITS = {s.acc_bits};" in block
        assert (f"s{i}_w" in weights) == s.is_compute
    # one changed weight changes weights.h only
    again.weights["s0_w"] = again.weights["s0_w"].copy()
    again.weights["s0_w"][1, 0, 2] = -again.weights["s0_w"][1, 0, 2] - 1
    c = emit_dnnu(again, tmp_path / "c")
    assert [pa.read_bytes() == pc.read_bytes() for pa, pc in zip(a, c)] == [True, False, True]


def _compile_check(tmp_path, flags):
    ap = find_ap_types()
    cmd = [toolchain.compiler(), toolchain.CXX_STD, *flags, *toolchain.include_flags(ap), "-I", str(tmp_path),
           "-c", str(tmp_path / "dnnu.cpp"), "-o", str(tmp_path / "dnnu.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:3000]
    assert proc.stderr == ""


def test_library_and_top_compile_warning_free(half_model, topologies, tmp_path):
    """Every module (all kinds used by the two models plus the test bench helpers) under
    -Wall -Wextra -Werror: at -O0 with nothing silenced; at -O2 only the two flow-analysis
    warnings that ap_private.h (vendor, -isystem) raises from its own default constructor."""
    emit_dnnu(half_model, tmp_path)
    dnnu = (tmp_path / "dnnu.cpp").read_text()
    (tmp_path / "dnnu.cpp").write_text('#include "sustainml/io/testbench.h"\n' + dnnu)
    _compile_check(tmp_path, ["-O0", "-Wall", "-Wextra", "-Werror", "-pedantic"])
    _compile_check(tmp_path, ["-O2", "-Wall", "-Wextra", "-Werror", "-Wno-maybe-uninitialized", "-Wno-uninitialized"])
    gap = random_quantized_model(topologies["ecg_baseline"], 0)  # gap1d, the one kind half_like lacks
    emit_dnnu(gap, tmp_path)
    _compile_check(tmp_path, ["-O0", "-Wall", "-Wextra", "-Werror", "-pedantic"])


# Vitis HLS directives and the options this library uses (UG1399 pragma reference).
PRAGMA = re.compile(
    r"#pragma HLS (?:"
    r"PIPELINE II=1|UNROLL|INLINE|DATAFLOW"
    r"|ARRAY_PARTITION variable=\w+ complete dim=\d"  # never `cyclic factor=1` (a no-op Vitis warns about)
    r"|LOOP_TRIPCOUNT min=ITERS max=ITERS"
    r"|BIND_OP variable=p op=mul impl=(?:dsp|fabric)"
    r"|STREAM variable=st\d+ depth=\d+"
    r"|INTERFACE m_axi port=(?:in|out) offset=slave bundle=gmem[01] max_(?:read|write)_burst_length=\d+ depth=\d+"
    r"|INTERFACE s_axilite port=(?:in|out|batch|return)(?: offset=0x[0-9a-f]+)? bundle=control"
    r"|INTERFACE ap_ctrl_hs port=return"
    r")$")


def test_pragmas_are_vitis_directives(half_model, tmp_path):
    """Expand SML_PRAGMA as synthesis would and check every pragma against the grammar."""
    emit_dnnu(half_model, tmp_path)
    ap = find_ap_types()
    out = subprocess.run([toolchain.compiler(), toolchain.CXX_STD, "-E", "-DSML_EMIT_PRAGMAS", *toolchain.include_flags(ap),
                          "-I", str(tmp_path), str(tmp_path / "dnnu.cpp")], capture_output=True, text=True, check=True).stdout
    ours = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("#pragma HLS")]
    library = [ln for ln in ours if "inline" != ln.split()[-1]]  # ap_types' own `#pragma HLS inline`
    assert len(library) > 40
    bad = sorted({ln for ln in library if not PRAGMA.match(ln)})
    assert not bad, bad
    for kind in ("PIPELINE II=1", "DATAFLOW", "ARRAY_PARTITION", "INTERFACE m_axi", "STREAM", "LOOP_TRIPCOUNT",
                 "BIND_OP"):
        assert any(kind in ln for ln in library), kind
    lib = str(toolchain.LIBRARY_INCLUDE)
    used = sorted({Path(m) for m in re.findall(r'^# \d+ "([^"]+)"', out, re.M) if m.startswith(lib)})
    assert len(used) >= 9
    for h in used:  # every library header the DNNU uses documents its pragmas in its header comment
        text = h.read_text()
        if "SML_PRAGMA(HLS" in text:
            assert "Pragmas" in text.split("#ifndef")[0], f"{h} lacks a Pragmas note in its header comment"


def test_compile_cache_hits_and_survives_concurrent_compiles(tmp_path, monkeypatch):
    small = Topology.from_dict({"name": "tiny", "input": {"length": 16, "channels": 1, "bits": 8}, "classes": 3,
                                "layers": [{"type": "Conv1D", "filters": 2, "kernel": 3},
                                           {"type": "Dense", "units": 3, "act_bits": 16}]})
    cache = tmp_path / "cache"
    monkeypatch.setenv("SUSTAINML_CACHE", str(cache))
    model_dir = random_quantized_model(small, 5).save(tmp_path / "tiny")
    script = ("import sys; from sustainml.nas.quantized import QuantizedModel;"
              "from sustainml.host.hlsgen import compile_dnnu;"
              "lib = compile_dnnu(QuantizedModel.load(sys.argv[1])); print(lib.cached, lib.path)")
    env = {**os.environ, "SUSTAINML_CACHE": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(model_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    lines = sorted(r[0].split() for r in results)
    assert [c for c, _ in lines] == ["False", "True"]  # one compiled, the other waited and reused it
    assert lines[0][1] == lines[1][1]
    libs = list(cache.rglob("*.so"))
    assert len(libs) == 1 and not list(cache.rglob("build-*"))
    lib = compile_dnnu(random_quantized_model(small, 5))  # this process: a cache hit, no g++ run
    assert lib.cached and lib.path == libs[0]
    x = np.random.default_rng(0).integers(-128, 128, size=(7, 16))
    assert np.array_equal(run_dnnu(lib.path, DnnuIO.of_model(random_quantized_model(small, 5)), x),
                          golden.run(random_quantized_model(small, 5), x))


def test_compile_error_is_one_line_with_log(tmp_path, monkeypatch):
    monkeypatch.setenv("SUSTAINML_CACHE", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"C simulation compile of broken.cpp failed: .*error.*full log: .*compile-error.log") as info:
        compile_sources({"broken.cpp": '#include "sustainml/dnnu.h"\nint f( {\n'}, "broken.cpp")
    assert "\n" not in str(info.value)
    log = Path(str(info.value).split("full log: ")[1].rstrip(")"))
    assert "broken.cpp" in log.read_text() and not list(tmp_path.rglob("*.so"))


def test_run_dnnu_io_forms_and_bad_input(half_model, ecg5000):
    lib = compile_dnnu(half_model)
    x = half_model.quantize_input(ecg5000.test.x[:20])
    io = DnnuIO.of_model(half_model)
    manifest_io = {"input": {"shape": [140, 1], "dtype": "int8", "bits": 8, "signed": True, "frac": half_model.input_frac},
                   "output": {"shape": [5], "dtype": "int16", "bits": 16, "signed": True, "frac": half_model.output_frac}}
    ref = golden.run(half_model, x)
    assert np.array_equal(run_dnnu(lib, io, x), ref)
    assert np.array_equal(run_dnnu(str(lib.path), manifest_io, x[:, :, 0]), ref)  # (N, L) for one channel
    bad = x.copy()
    bad[3, 17, 0] = 200
    with pytest.raises(HlsGenError, match=r"input value 200 at sample 3, step 17 is outside the 8-bit range -128..127"):
        run_dnnu(lib, io, bad)
    with pytest.raises(HlsGenError, match=r"input shape \(20, 139, 1\) is not \(N, 140, 1\)"):
        run_dnnu(lib, io, x[:, :139])
    with pytest.raises(ToolchainError, match="C-simulation library not found"):
        run_dnnu(Path("/nonexistent/libdnnu.so"), io, x)
    with pytest.raises(HlsGenError, match="manifest io"):
        run_dnnu(lib, {"input": {}}, x)


def test_emit_rejects_inconsistent_models(half_model, tmp_path):
    import copy

    m = copy.deepcopy(half_model)
    m.weights["s0_w"] = m.weights["s0_w"].copy()
    m.weights["s0_w"][0, 0, 0] = 40  # 6-bit weights hold -32..31
    with pytest.raises(HlsGenError, match=r"stage 0 \(conv1d\): weight 40 does not fit w_bits=6"):
        emit_dnnu(m, tmp_path)
    m = copy.deepcopy(half_model)
    m.stages[2].in_bits = 8
    with pytest.raises(HlsGenError, match=r"stage 2 \(pwconv1d\): input .* does not match the previous output"):
        emit_dnnu(m, tmp_path)
    assert not list(tmp_path.iterdir())


def test_ap_types_discovery(tmp_path, monkeypatch):
    found = find_ap_types()
    assert (found.include / "ap_int.h").is_file() and found.origin
    vitis = tmp_path / "Vitis_HLS" / "2023.2"
    shutil.copytree(found.include, vitis / "include")
    got = find_ap_types({"XILINX_HLS": str(vitis), "PATH": ""})
    assert got.include == vitis / "include" and "XILINX_HLS" in got.origin
    (vitis / "bin").mkdir()
    exe = vitis / "bin" / "vitis_hls"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert "on PATH" in find_ap_types({"PATH": str(vitis / "bin")}).origin
    with pytest.raises(ToolchainError, match="lacks ap_int.h"):
        find_ap_types({"XILINX_HLS": str(tmp_path / "empty"), "PATH": ""})
    monkeypatch.setattr(toolchain, "_hls4ml_ap_types", lambda: None)
    with pytest.raises(ToolchainError, match="ap_types headers not found.*hls4ml"):
        find_ap_types({"PATH": ""})


def test_random_quantized_model_is_deterministic(topologies):
    a = random_quantized_model(topologies["half_like"], 4)
    b = random_quantized_model(topologies["half_like"], 4)
    c = random_quantized_model(topologies["half_like"], 5)
    assert a.weights.keys() == b.weights.keys()
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert [s.shift for s in a.stages] == [s.shift for s in b.stages]
    assert any(not np.array_equal(a.weights[k], c.weights[k]) for k in a.weights)
