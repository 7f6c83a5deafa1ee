"""Synthetic quantized models: random integer weights with data-driven shifts.

For testing the hardware path (C simulation, simulated boards) before or without training:
:func:`random_quantized_model` gives any topology uniform random weights at their widths,
random biases, and per-stage shifts chosen on calibration data so that activations use their
range (neither all clipped nor all zero). Accumulator widths are the tightest that hold the
calibration range, so unseen inputs may wrap exactly as an ``ap_int<acc_bits>`` does.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import golden
from .accumulators import bits_for
from .quantized import QuantizedModel, plan_stages
from .topology import Topology


def _shift_for(acc: np.ndarray, out_max: int) -> int:
    """Shift that maps the 99th percentile of |acc| to about half the output range."""
    p = float(np.percentile(np.abs(acc), 99)) if acc.size else 0.0
    if p <= 0:
        return 0
    return int(np.ceil(np.log2(p / max(out_max / 2, 1))))


def random_quantized_model(topology: Topology, seed: int = 0, x_calib: Optional[np.ndarray] = None,
                           input_frac: Optional[int] = None, n_calib: int = 64) -> QuantizedModel:
    """A :class:`QuantizedModel` of ``topology`` with random parameters (deterministic per seed).

    ``x_calib``: float calibration samples (N, L, C) or (N, L), quantized with ``input_frac``
    (default ``input bits - 4``); without it, uniform random integer inputs are used.
    """
    rng = np.random.default_rng(seed)
    stages = plan_stages(topology)
    bits = topology.input.bits
    frac = max(bits - 4, 0) if input_frac is None else input_frac
    model = QuantizedModel(topology, frac, stages, {}, {"synthetic": {"seed": seed}})
    if x_calib is None:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        h = rng.integers(lo, hi + 1, size=(n_calib, topology.input.length, topology.input.channels))
    else:
        h = model.quantize_input(x_calib)
    cur_frac = frac
    for i, st in enumerate(stages):
        st.in_frac = cur_frac
        if st.is_compute:
            wmax = (1 << (st.w_bits - 1)) - 1
            w = rng.integers(-wmax - 1, wmax + 1, size=st.weight_shape)
            model.weights[f"s{i}_w"] = w
            acc = golden.accumulate(st, h, w, None)
            if st.kind != "dwconv1d":  # depthwise stages carry no bias
                spread = max(float(acc.std()), 1.0)
                b = np.rint(rng.normal(0.0, 0.5 * spread, size=st.out_ch)).astype(np.int64)
                model.weights[f"s{i}_b"] = b
                acc = acc + b
            st.shift = _shift_for(acc, st.out_max)
            st.acc_bits = bits_for(int(acc.min()), int(acc.max()))
            st.w_frac = st.w_bits - 1
            st.out_frac = cur_frac + st.w_frac - st.shift
        else:
            st.out_frac = cur_frac
        cur_frac = st.out_frac
        h = golden.run_stage(model, i, h)
    return model
