"""Golden model: a numpy integer implementation of a :class:`QuantizedModel`.

No floating point touches a value: shifts with round-half-to-even, clipping to exact widths,
and (optionally) two's-complement wrap of each accumulator at its ``acc_bits`` exactly as an
``ap_int<acc_bits>`` accumulator behaves. The HLS C-simulation, the simulated board and the
torch QAT model are all checked against this module.

Dot products run as float64 BLAS matmuls of integer-valued arrays and are converted back to
int64; they are exact because every partial sum stays far below 2**53 (checked).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np

from .quantized import AVG_SHIFT, QuantizedModel, Stage

Observer = Callable[[int, np.ndarray], None]

_EXACT = float(2 ** 53)


def round_shift(v: np.ndarray, shift: int) -> np.ndarray:
    """``round_half_even(v / 2**shift)`` on int64 arrays (arithmetic shift; shift >= 0)."""
    v = np.asarray(v, dtype=np.int64)
    if shift <= 0:
        return v << (-shift)
    q = v >> shift
    r = v - (q << shift)
    half = np.int64(1) << (shift - 1)
    return q + ((r > half) | ((r == half) & ((q & 1) == 1))).astype(np.int64)


def wrap(v: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap to ``bits`` (what an ap_int<bits> register holds)."""
    m = np.int64(1) << bits
    return ((v + (m >> 1)) % m) - (m >> 1)


def _idot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    bound = float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * a.shape[-1]
    if bound >= _EXACT:
        return np.matmul(a.astype(object), b.astype(object)).astype(np.int64)
    return np.rint(np.matmul(a.astype(np.float64), b.astype(np.float64))).astype(np.int64)


def _windows(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """(N, L, C) → (N, Lout, K, C) sliding windows over zero-padded time."""
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (0, 0)))
    w = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=1)  # (N, L', C, K)
    return np.swapaxes(w[:, ::stride], 2, 3)


def accumulate(stage: Stage, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> np.ndarray:
    """Exact (unbounded) accumulators of a compute stage, shape (N, out_len, out_ch)."""
    n = x.shape[0]
    if stage.kind == "conv1d":
        win = _windows(x, stage.kernel, stage.stride, stage.padding)
        acc = _idot(win.reshape(n, stage.out_len, -1), w.reshape(-1, stage.out_ch))
    elif stage.kind == "dwconv1d":
        win = _windows(x, stage.kernel, stage.stride, stage.padding)  # (N, Lo, K, C)
        acc = (win * w[None, None]).sum(axis=2)
    elif stage.kind == "pwconv1d":
        acc = _idot(x, w)
    elif stage.kind == "dense":
        acc = _idot(x.reshape(n, 1, -1), w)
    else:
        raise ValueError(f"not a compute stage: {stage.kind}")
    if b is not None:
        acc = acc + b
    return acc


def requantize(stage: Stage, acc: np.ndarray) -> np.ndarray:
    y = round_shift(acc, stage.shift)
    if stage.relu:
        y = np.maximum(y, 0)
    return np.clip(y, stage.out_min, stage.out_max)


def pool(stage: Stage, x: np.ndarray) -> np.ndarray:
    if stage.kind == "gap1d":
        s = x.sum(axis=1, keepdims=True)
    else:
        win = _windows(x, stage.kernel, stage.stride, 0)
        if stage.kind == "maxpool1d":
            return win.max(axis=2)
        s = win.sum(axis=2)
    return np.clip(round_shift(s * stage.avg_mult, AVG_SHIFT), stage.out_min, stage.out_max)


def run_stage(model: QuantizedModel, i: int, x: np.ndarray, emulate_acc: bool = True,
              observe: Optional[Observer] = None) -> np.ndarray:
    """Run stage ``i`` on integer activations (N, L, C)."""
    stage = model.stages[i]
    if not stage.is_compute:
        return pool(stage, x)
    acc = accumulate(stage, x, model.w(i), model.b(i))
    if observe is not None:
        observe(i, acc)
    if emulate_acc:
        acc = wrap(acc, stage.acc_bits)
    return requantize(stage, acc)


def run(model: QuantizedModel, x_int: np.ndarray, emulate_acc: bool = True,
        observe: Optional[Observer] = None, batch: int = 512) -> np.ndarray:
    """Integer logits (N, classes) for integer inputs (N, L, C) (or (N, L) for one channel).

    ``emulate_acc`` wraps accumulators at each stage's ``acc_bits`` like the hardware;
    ``observe(stage_index, exact_acc)`` sees every compute stage's unwrapped accumulators.
    """
    x_int = np.asarray(x_int, dtype=np.int64)
    if x_int.ndim == 2:
        x_int = x_int[:, :, None]
    expect = (model.topology.input.length, model.topology.input.channels)
    if x_int.shape[1:] != expect:
        raise ValueError(f"input shape {x_int.shape[1:]} does not match the model's (length, channels) {expect}")
    outs: List[np.ndarray] = []
    for start in range(0, len(x_int), batch):
        h = x_int[start:start + batch]
        for i in range(len(model.stages)):
            h = run_stage(model, i, h, emulate_acc, observe)
        outs.append(h.reshape(len(h), -1))
    return np.concatenate(outs) if outs else np.zeros((0, model.topology.classes), dtype=np.int64)


def predict(model: QuantizedModel, x_float: np.ndarray) -> np.ndarray:
    """Class predictions for float samples (quantized exactly as the board's PS does)."""
    return run(model, model.quantize_input(x_float)).argmax(axis=1)


def accumulator_ranges(model: QuantizedModel, x_int: np.ndarray) -> Dict[int, tuple]:
    """(min, max) of every compute stage's exact accumulator over ``x_int``."""
    ranges: Dict[int, tuple] = {}

    def obs(i: int, acc: np.ndarray) -> None:
        lo, hi = int(acc.min()), int(acc.max())
        old = ranges.get(i, (lo, hi))
        ranges[i] = (min(old[0], lo), max(old[1], hi))

    run(model, x_int, emulate_acc=False, observe=obs)
    return ranges
