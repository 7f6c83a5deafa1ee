"""The cost model's timing of the RTL DNNU pipeline (hls/rtl), from the topology and unrolling alone.

Contract. The RTL stages stream one position (all channels) per beat and do one fold step per
cycle; a stage with fold count ``F`` (:func:`fold_count`: cycles per output beat, per input beat
for gap1d) needs, in steady state, :func:`stage_period` cycles per sample: the larger of its
input positions (one per cycle, padding included for convolutions) and its fold steps. A call of
``B`` samples then costs about

    start + fill * sample_latency + interval * (B - 1) * bottleneck + stage * n_stages

cycles, where ``bottleneck`` is the largest period (stages and the two DMA ends, one position per
cycle) and :func:`sample_latency` is the cycle at which the last output beat of a lone sample
leaves the last stage. That latency is this module's dataflow recurrence over output beats:
output ``j`` of a stage is done ``F`` cycles after both the input beat its window needs last has
arrived and output ``j-1`` is done (``out_j = max(need_j, out_{j-1}) + F``); dense waits for the
whole sample, gap1d folds every input beat. It ignores backpressure (FIFO depths), so a design
whose slow stage stalls its producer across samples is predicted faster than it runs.

``start``, ``fill``, ``interval`` and ``stage`` are fitted per board by ``sustainml refine`` on
the circuit's measured cycles (nas/costmodel.py, :data:`~sustainml.nas.costmodel.RTL_LATENCY`);
nothing here reads the simulated board, its memory model or the RTL sources.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .quantized import Stage

WINDOWED = ("conv1d", "dwconv1d", "maxpool1d", "avgpool1d")


def fold_count(stage: Stage) -> int:
    """Cycles per output beat (gap1d: per input beat) at the stage's unrolling."""
    k = stage.kind
    if k == "conv1d":
        return -(-stage.out_ch // stage.pe) * -(-(stage.kernel * stage.in_ch) // (stage.simd * stage.kp))
    if k == "dwconv1d":
        return -(-stage.in_ch // stage.pe) * -(-stage.kernel // stage.kp)
    if k == "pwconv1d":
        return -(-stage.out_ch // stage.pe) * -(-stage.in_ch // stage.simd)
    if k == "dense":
        return -(-stage.out_ch // stage.pe) * -(-(stage.in_len * stage.in_ch) // stage.simd)
    return -(-stage.in_ch // stage.pe)  # pooling, gap1d


def stage_period(stage: Stage, folds: Optional[int] = None) -> int:
    """Steady-state cycles per sample of one stage (see the module docstring); ``folds``: its
    fold count at another unrolling than the stage's own (the cost model's ``folds`` is ``F``)."""
    f = fold_count(stage) if folds is None else folds
    if stage.kind in ("gap1d", "pwconv1d"):
        return stage.in_len * f
    positions = stage.in_len + (2 * stage.padding if stage.kind in ("conv1d", "dwconv1d") else 0)
    return max(positions, stage.out_len * f)  # dense: out_len 1, F = every fold step


def bottleneck(periods: Sequence[int], stages: Sequence[Stage]) -> Tuple[int, int]:
    """(largest steady-state period, index of its stage; -1/len(stages): the DMA in/out end, one
    position per cycle) of a pipeline whose stages have ``periods``."""
    cands = [(stages[0].in_len, -1)] + [(p, i) for i, p in enumerate(periods)] + [(stages[-1].out_len, len(stages))]
    return max(cands, key=lambda c: c[0])


def _outputs(stage: Stage, f: int, arrive: np.ndarray) -> np.ndarray:
    """Done cycle of each output beat of ``stage`` (fold count ``f``) given its input beats' arrival."""
    k = stage.kind
    if k == "dense":
        return np.array([arrive[-1] + f])
    if k == "gap1d":
        j = np.arange(len(arrive)) * f
        return np.array([(np.maximum.accumulate(arrive - j) + j)[-1] + f])
    if k in WINDOWED:
        pad = stage.padding if k in ("conv1d", "dwconv1d") else 0
        last = np.arange(stage.out_len) * stage.stride + stage.kernel - 1 - pad  # last input position needed
        beyond = np.maximum(0, last - (len(arrive) - 1))  # trailing padding: one cycle per position
        need = arrive[np.minimum(last, len(arrive) - 1)] + beyond
    else:  # pwconv1d: one output beat per input beat
        need = arrive
    j = np.arange(len(need)) * f
    return np.maximum.accumulate(need - j) + j + f


def sample_latency(stages: Sequence[Stage], folds: Optional[Sequence[int]] = None) -> float:
    """Cycles from the first input beat to the last output beat of one sample (module docstring);
    ``folds``: each stage's fold count (default: at the stages' own unrolling)."""
    arrive = np.arange(stages[0].in_len, dtype=float) + 1.0
    for i, s in enumerate(stages):
        arrive = _outputs(s, fold_count(s) if folds is None else folds[i], arrive)
    return float(arrive[-1])
