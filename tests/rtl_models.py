"""Test helpers: models that use every stage kind, unrolled as asked, and a check that the
Verilated DNNU of a model equals the golden model (under AXI and stream stalls by default)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from random_models import random_model
from sustainml.host.rtlgen import top
from sustainml.host.rtlgen.rtlsim import MemoryModel, open_project
from sustainml.nas import accumulators, golden
from sustainml.nas.topology import Topology

STALLS = MemoryModel(read_latency=23, write_latency=9, r_stall=0.3, ready_stall=0.25, seed=5)


def container(bits: int) -> np.dtype:
    return np.dtype("int8" if bits <= 8 else "int16" if bits <= 16 else "int32")


#: Two topologies that together use every stage kind (conv1d, dwconv1d, pwconv1d, dense,
#: maxpool1d, avgpool1d, gap1d), strides, paddings and multi-channel inputs.
KIND_MODELS = {
    "conv-avg-ds-gap": Topology.from_dict({
        "name": "kinds_a", "input": {"length": 30, "channels": 2, "bits": 8}, "classes": 3,
        "layers": [{"type": "Conv1D", "filters": 4, "kernel": 3, "padding": 1}, {"type": "ReLU"},
                   {"type": "AvgPool1D", "pool": 2},
                   {"type": "DepthwiseSeparableConv1D", "filters": 6, "kernel": 5, "stride": 2, "padding": 2},
                   {"type": "ReLU"}, {"type": "GlobalAvgPool1D"}, {"type": "Dense", "units": 3, "act_bits": 16}]}),
    "ds-max-conv-dense": Topology.from_dict({
        "name": "kinds_b", "input": {"length": 26, "channels": 3, "bits": 6}, "classes": 4,
        "layers": [{"type": "DepthwiseSeparableConv1D", "filters": 4, "kernel": 3, "padding": 1}, {"type": "ReLU"},
                   {"type": "MaxPool1D", "pool": 3, "stride": 2},
                   {"type": "Conv1D", "filters": 6, "kernel": 4, "stride": 2, "padding": 1, "weight_bits": 4},
                   {"type": "ReLU"}, {"type": "Dense", "units": 4, "act_bits": 16}]}),
}


def _divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


def unrolled(model, how: str, seed: int = 0):
    """``model`` with the unrolling ``how``: "none" (all 1), "full" (largest divisors), "random"."""
    rng = np.random.default_rng(seed)
    for s in model.stages:
        dims = {"pe": s.out_ch if s.kind in ("conv1d", "pwconv1d", "dense") else s.in_ch,
                "simd": s.in_ch if s.kind in ("conv1d", "pwconv1d") else s.in_len * s.in_ch if s.kind == "dense" else 1,
                "kp": s.kernel if s.kind in ("conv1d", "dwconv1d") else 1}
        for name, n in dims.items():
            opts = _divisors(n)
            setattr(s, name, 1 if how == "none" else opts[-1] if how == "full" else int(rng.choice(opts)))
    return model


def kind_model(name: str, how: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    m = random_model(KIND_MODELS[name], seed=seed)
    t = m.topology.input
    x = rng.integers(-(1 << (t.bits - 1)), 1 << (t.bits - 1), size=(40, t.length, t.channels))
    m = accumulators.apply(m, accumulators.profile(m, x, 0))  # narrow accumulators: wrap-around matters
    return unrolled(m, how, seed), x


def check_model(model, x, folder: Path, stalls: bool = True, memory: MemoryModel = STALLS, chunk: int = 0) -> list:
    proj = top.write_project(model, folder)
    sim, _ = open_project(proj, model.topology.name, stalls=stalls)
    io = proj.io
    xc = x.astype(container(io.in_bits))
    y, res = sim.run(xc, (io.out_len * io.out_ch,), container(io.out_bits), memory, chunk)
    want = golden.run(model, x)
    bad = np.argwhere((y.astype(np.int64) != want).any(axis=1))
    assert not len(bad), f"sample {bad[0][0]}: rtl {y[bad[0][0]].tolist()} golden {want[bad[0][0]].tolist()}"
    return res
