"""Golden model: a numpy integer implementation of a :class:`QuantizedModel`.

No floating point touches a value: shifts with round-half-to-even, clipping to exact widths,
and (optionally) each accumulator's overflow at its ``acc_bits`` exactly as the hardware
behaves: two's-complement wrap of the final sum (``acc_overflow="wrap"``), or saturation at
every fold step in the stage's fold order, which makes the result depend on SIMD/KP
(``"saturate"``; :func:`fold_steps`, contract in nas/quantized.py). The HLS C-simulation, the
simulated board and the torch QAT model are all checked against this module.

Dot products run as float64 BLAS matmuls of integer-valued arrays and are converted back to
int64; they are exact because every partial sum stays far below 2**53 (checked).
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Tuple

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


def saturate(v: np.ndarray, bits: int) -> np.ndarray:
    """Clip to the two's-complement range of ``bits`` (a saturating ap_int<bits>)."""
    return np.clip(v, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


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


def fold_steps(stage: Stage, x: np.ndarray, w: np.ndarray) -> Iterator[np.ndarray]:
    """The exact partial sums ``p_j`` (N, out_len, out_ch) of a compute stage's fold steps, in the
    order the hardware adds them (nas/quantized.py, "Accumulator overflow"): they depend on SIMD
    and KP, not on PE."""
    n, simd, kp = x.shape[0], stage.simd, stage.kp
    if stage.kind in ("conv1d", "dwconv1d"):
        win = _windows(x, stage.kernel, stage.stride, stage.padding)  # (N, Lo, K, C)
        for cf in range(stage.in_ch // simd if stage.kind == "conv1d" else 1):
            cs = slice(cf * simd, (cf + 1) * simd)
            for kf in range(stage.kernel // kp):
                ks = slice(kf * kp, (kf + 1) * kp)
                if stage.kind == "dwconv1d":
                    yield (win[:, :, ks] * w[None, None, ks]).sum(axis=2)
                else:
                    yield _idot(win[:, :, ks, cs].reshape(n, stage.out_len, -1), w[ks, cs].reshape(-1, stage.out_ch))
    elif stage.kind in ("pwconv1d", "dense"):
        flat = x if stage.kind == "pwconv1d" else x.reshape(n, 1, -1)
        for cf in range(flat.shape[-1] // simd):
            cs = slice(cf * simd, (cf + 1) * simd)
            yield _idot(flat[:, :, cs], w[cs])
    else:
        raise ValueError(f"not a compute stage: {stage.kind}")


def _start(stage: Stage, n: int, b: Optional[np.ndarray]) -> np.ndarray:
    shape = (n, stage.out_len, stage.out_ch)
    return np.broadcast_to(np.zeros(stage.out_ch, dtype=np.int64) if b is None else b, shape).astype(np.int64)


def accumulate_saturating(stage: Stage, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> np.ndarray:
    """Accumulators with saturation at ``acc_bits`` after the bias and after every fold step."""
    acc = saturate(_start(stage, x.shape[0], b), stage.acc_bits)
    for p in fold_steps(stage, x, w):
        acc = saturate(acc + p, stage.acc_bits)
    return acc


def running_range(stage: Stage, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> Tuple[int, int]:
    """(min, max) of every exact running sum (bias, then after each fold step) at the stage's
    SIMD/KP: a saturating accumulator is exact iff its range holds these."""
    acc = _start(stage, x.shape[0], b)
    lo, hi = int(acc.min(initial=0)), int(acc.max(initial=0))
    for p in fold_steps(stage, x, w):
        acc = acc + p
        lo, hi = min(lo, int(acc.min(initial=0))), max(hi, int(acc.max(initial=0)))
    return lo, hi


def bounded(stage: Stage, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray],
            exact: Optional[np.ndarray] = None) -> np.ndarray:
    """The accumulators the hardware holds at ``acc_bits`` (wrap or saturate per the stage)."""
    if stage.acc_overflow == "saturate":
        return accumulate_saturating(stage, x, w, b)
    if stage.acc_overflow != "wrap":
        raise ValueError(f"acc_overflow={stage.acc_overflow!r} is not 'wrap' or 'saturate'")
    return wrap(accumulate(stage, x, w, b) if exact is None else exact, stage.acc_bits)


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
    w, b = model.w(i), model.b(i)
    acc = None
    if observe is not None or not emulate_acc:
        acc = accumulate(stage, x, w, b)
        if observe is not None:
            observe(i, acc)
    if emulate_acc:
        acc = bounded(stage, x, w, b, acc)
    return requantize(stage, acc)


def run(model: QuantizedModel, x_int: np.ndarray, emulate_acc: bool = True,
        observe: Optional[Observer] = None, batch: int = 512) -> np.ndarray:
    """Integer logits (N, classes) for integer inputs (N, L, C) (or (N, L) for one channel).

    ``emulate_acc`` wraps or saturates accumulators at each stage's ``acc_bits`` like the hardware;
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


def running_ranges(model: QuantizedModel, x_int: np.ndarray, batch: int = 512) -> Dict[int, tuple]:
    """:func:`running_range` of every compute stage over ``x_int`` (stage inputs computed with
    exact accumulators, as :func:`accumulator_ranges` does)."""
    x_int = np.asarray(x_int, dtype=np.int64)
    if x_int.ndim == 2:
        x_int = x_int[:, :, None]
    ranges: Dict[int, tuple] = {}
    for start in range(0, len(x_int), batch):
        h = x_int[start:start + batch]
        for i, s in enumerate(model.stages):
            if s.is_compute:
                lo, hi = running_range(s, h, model.w(i), model.b(i))
                old = ranges.get(i, (lo, hi))
                ranges[i] = (min(old[0], lo), max(old[1], hi))
            h = run_stage(model, i, h, emulate_acc=False)
    return ranges
