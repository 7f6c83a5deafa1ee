"""Random-weight QuantizedModels and topologies for hardware-generator tests (no training)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from sustainml.nas.quantized import QuantizedModel, plan_stages
from sustainml.nas.topology import Topology

#: conv, max pool, depthwise-separable, GAP, dense
SMALL = Topology.from_dict({
    "name": "small", "input": {"length": 32, "channels": 1, "bits": 8}, "classes": 3,
    "layers": [{"type": "Conv1D", "filters": 4, "kernel": 3, "padding": 1}, {"type": "ReLU"},
               {"type": "MaxPool1D", "pool": 2},
               {"type": "DepthwiseSeparableConv1D", "filters": 6, "kernel": 3, "padding": 1}, {"type": "ReLU"},
               {"type": "GlobalAvgPool1D"}, {"type": "Dense", "units": 3, "act_bits": 16}]})


def random_model(topology: Topology, seed: int = 0, input_frac: int = 5) -> QuantizedModel:
    """Uniform random integer weights; shifts chosen so activations use their range."""
    rng = np.random.default_rng(seed)
    stages = plan_stages(topology)
    weights = {}
    for i, s in enumerate(stages):
        if not s.is_compute:
            continue
        qmax = (1 << (s.w_bits - 1)) - 1
        weights[f"s{i}_w"] = rng.integers(-qmax, qmax + 1, s.weight_shape)
        x_rms = 2.0 ** (s.in_bits - 2)
        acc_rms = math.sqrt(s.reduction) * qmax / math.sqrt(3) * x_rms
        if s.kind != "dwconv1d":
            weights[f"s{i}_b"] = rng.integers(-int(acc_rms), int(acc_rms) + 1, s.out_ch)
        s.shift = max(0, int(math.ceil(math.log2(max(acc_rms, 1.0)))) - (s.out_bits - 2))
    return QuantizedModel(topology, input_frac, stages, weights, {"dataset": "ECG5000"})


def random_topology(rng: np.random.Generator, n_compute: Optional[int] = None, length: int = 24,
                    classes: int = 3) -> Topology:
    """A small random 1D-CNN: 2-4 conv-type layers (some pooled) and a Dense classifier."""
    n = int(n_compute or rng.integers(2, 5))
    layers = []
    ch, cur = int(rng.choice([1, 2])), length
    for _ in range(n - 1):
        kind = rng.choice(["Conv1D", "DepthwiseSeparableConv1D"])
        k = int(rng.choice([1, 3, 5]))
        f = int(rng.choice([2, 4, 6, 8]))
        layers.append({"type": str(kind), "filters": f, "kernel": k, "padding": k // 2})
        layers.append({"type": "ReLU"})
        if cur >= 8 and rng.random() < 0.5:
            layers.append({"type": "MaxPool1D", "pool": 2})
            cur //= 2
    if rng.random() < 0.5:
        layers.append({"type": "GlobalAvgPool1D"})
    layers.append({"type": "Dense", "units": classes, "act_bits": 16})
    return Topology.from_dict({"name": "rand", "input": {"length": length, "channels": ch, "bits": 8},
                               "classes": classes, "layers": layers})


def stress_inputs(model: QuantizedModel, seed: int = 0, n_random: int = 32) -> np.ndarray:
    """Integer inputs (N, L, C): every sample at either rail, the rails alternating in time with
    periods 1, 2, 4 and 8 (both phases), random rail patterns, and uniform random samples."""
    length, ch, bits = model.topology.input.length, model.topology.input.channels, model.input_bits
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    t = np.arange(length)[:, None] + np.arange(ch)[None, :]
    rows = [np.full((length, ch), hi), np.full((length, ch), lo)]
    for period in (1, 2, 4, 8):
        up = (t // period) % 2 == 0
        rows += [np.where(up, hi, lo), np.where(up, lo, hi)]
    rng = np.random.default_rng(seed)
    rails = rng.choice([lo, hi], size=(16, length, ch))
    uniform = rng.integers(lo, hi + 1, size=(n_random, length, ch))
    return np.concatenate([np.stack(rows), rails, uniform]).astype(np.int64)
