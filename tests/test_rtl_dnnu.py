"""The Verilog DNNU as a whole (generated top: AXI4-Lite ap_ctrl_hs, AXI4 masters, stage chain) in
Verilator, driven by the harness that plays the PS: every output bit-exact with nas/golden.py, with
random stalls on the AXI masters (memory model) and on every internal stream (SML_STALLS build)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from random_models import random_model
from rtl_models import KIND_MODELS, STALLS, check_model, container, kind_model, unrolled
from sustainml.board.errors import SimError
from sustainml.host.rtlgen import top, verilator
from sustainml.host.rtlgen.rtlsim import MemoryModel, open_project
from sustainml.nas import accumulators


# ------------------------------------------------------------------ the AXI / DMA path alone
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(length=st.integers(1, 40), channels=st.sampled_from([1, 2, 3, 5, 16]), bits=st.sampled_from([2, 4, 8, 12, 16]),
       widen=st.booleans(), seed=st.integers(0, 1000))
def test_pass_through_moves_every_value_under_stalls(tmp_path_factory, length, channels, bits, widen, seed):
    """No stage: every input value reaches the output buffer (sign-extended into a wider
    container when asked), for batches from 1 to several bursts, under random stalls."""
    out_bits = 32 if widen else bits
    proj = top.passthrough_project(tmp_path_factory.mktemp("pt"), length, channels, bits, out_bits)
    sim, _ = open_project(proj, "pass-through", stalls=True)
    rng = np.random.default_rng(seed)
    for batch in (1, 3, 41):
        x = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(batch, length, channels)).astype(container(bits))
        y, res = sim.run(x, (length, channels), container(out_bits), MemoryModel(17, 5, 0.3, 0.3, seed + batch))
        assert np.array_equal(y.astype(np.int64), x.astype(np.int64))
        words_out = -(-x.size * container(out_bits).itemsize // 8)
        assert res[0].write_beats == words_out
        assert res[0].read_bursts >= -(-x.nbytes // 8 // top.MAX_BURST)


@pytest.fixture(scope="module")
def pass_through(tmp_path_factory):
    """One pass-through DNNU (13 steps x 3 channels of 16 bits) for the register/DMA tests."""
    sim, _ = open_project(top.passthrough_project(tmp_path_factory.mktemp("pt"), 13, 3, 16), "pass-through")
    return sim


def _samples(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, size=(n, 13, 3)).astype(np.int16)


def test_bursts_stop_at_4k_boundaries_and_batches_do_not_leak(pass_through):
    """Buffers just below a 4 KB boundary: bursts are split there (the harness refuses a crossing
    burst); a short call after a long one writes exactly its own bytes."""
    x = _samples(100, 1)
    out = np.zeros_like(x)
    res = pass_through.run_bytes(x, out, 100, STALLS, in_addr=0x1000_0FF8, out_addr=0x2000_0FF0)
    assert np.array_equal(out, x)
    words = x.nbytes // 8
    assert res.read_bursts == 1 + -(-(words - 1) // top.MAX_BURST)  # one word up to the boundary, then full bursts
    assert res.write_bursts == 1 + -(-(words - 2) // top.MAX_BURST)
    sentinel = np.full((3, 13, 3), 0x55, np.int16)
    pass_through.run_bytes(x[:2].copy(), sentinel[:2], 2, STALLS)
    assert np.array_equal(sentinel[:2], x[:2]) and (sentinel[2] == 0x55).all()


@pytest.mark.parametrize("in_off,out_off", [(3, 5), (7, 1), (0, 6)])
def test_unaligned_buffers(pass_through, in_off, out_off):
    """Buffers at any byte address (e.g. a slice of a pynq buffer): the first and last words are
    partial; no byte outside the buffers is read as data or written (the harness refuses that)."""
    x = _samples(5, in_off)
    out = np.zeros_like(x)
    res = pass_through.run_bytes(x, out, 5, STALLS, in_addr=0x1000_0FF0 + in_off, out_addr=0x2000_0000 + out_off)
    assert np.array_equal(out, x)
    assert res.read_beats == -(-(in_off + x.nbytes) // 8) and res.write_beats == -(-(out_off + x.nbytes) // 8)


def test_empty_batches_finish_without_touching_memory(pass_through):
    x = _samples(4)
    for batch in (0, -3):
        out = np.full((4, 13, 3), 7, np.int16)
        res = pass_through.run_bytes(x, out, batch)
        assert (out == 7).all() and res.read_beats == 0 and res.write_beats == 0 and res.cycles < 5


def test_access_outside_the_buffers_is_a_bus_error(pass_through):
    with pytest.raises(SimError, match="bus error: write outside the output buffer"):
        pass_through.run_bytes(_samples(4), np.zeros((2, 13, 3), np.int16), 4)


BUILD_ONE = """
import sys
from pathlib import Path
from sustainml.host.rtlgen import top, verilator
p = top.passthrough_project(Path(sys.argv[1]), 9, 2, 8)
lib = verilator.build(p.folder, p.sources, "pass-through")
print(lib.path, lib.cached)
"""


def test_concurrent_builds_of_one_design_compile_once(tmp_path):
    """Two processes build the same design into an empty cache at once: one compiles, the other
    waits on the lock and reuses its library (Verilator's runtime library is shared the same way)."""
    cache = tmp_path / "cache"
    runtime = verilator.runtime_dir()  # reuse the built runtime of these flags: the test is about the design
    if (runtime / "libverilated.a").is_file():
        shutil.copytree(runtime, cache / "rtlsim" / runtime.name)
    env = {**os.environ, "SUSTAINML_CACHE": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD_ONE, str(tmp_path / f"p{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    results = sorted(o[0].split() for o in outs)
    assert results[0][0] == results[1][0]  # one library
    assert sorted(r[1] for r in results) == ["False", "True"]  # compiled once
    assert len(list((cache / "rtlsim").glob("runtime-*/libverilated.a"))) == 1


# ------------------------------------------------------------------ models of every stage kind
@pytest.mark.parametrize("name,how", [("conv-avg-ds-gap", "random"), ("ds-max-conv-dense", "full")])
def test_models_of_every_kind_are_bit_exact_under_stalls(name, how, tmp_path):
    model, x = kind_model(name, how, seed=3)
    check_model(model, x, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KIND_MODELS))
@pytest.mark.parametrize("how,seed", [("none", 0), ("full", 1), ("random", 2), ("random", 4)])
def test_models_of_every_kind_at_several_unrollings(name, how, seed, tmp_path):
    model, x = kind_model(name, how, seed)
    check_model(model, x, tmp_path)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), how=st.sampled_from(["none", "full", "random"]))
def test_random_topologies_through_the_axi_path(tmp_path, seed, how):
    """Random small CNNs (random_models.random_topology: conv / depthwise-separable layers, pooling,
    optional global pooling, dense) at a random unrolling, under AXI and stream stalls."""
    from random_models import random_topology

    rng = np.random.default_rng(seed)
    m = random_model(random_topology(rng, length=int(rng.integers(8, 33))), seed=seed)
    t = m.topology.input
    x = rng.integers(-(1 << (t.bits - 1)), 1 << (t.bits - 1), size=(12, t.length, t.channels))
    m = unrolled(accumulators.apply(m, accumulators.profile(m, x, 0)), how, seed)
    check_model(m, x, tmp_path / f"m{seed}-{how}", memory=MemoryModel(31, 7, 0.4, 0.3, seed))


# ------------------------------------------------------------------ the trained reference model
def test_reference_model_on_the_whole_test_set_under_stalls(reference_model, ecg5000, tmp_path):
    """All 4500 ECG5000 test samples through the trained reference model's DNNU (as generated for
    the PYNQ-Z2, accumulators narrowed), stalls on the AXI masters and every stream."""
    from sustainml.host.generate import generate

    g = generate("unused", tmp_path / "build", "pynq-z2", model=reference_model, backend="rtl")
    x = g.model.quantize_input(ecg5000.test.x)
    assert len(x) == 4500
    res = check_model(g.model, x, tmp_path / "rtl-stalls", chunk=1500)
    assert len(res) == 3
