"""Pareto fronts, density-based sampling (LEMONADE) and hypervolume.

All functions take *losses*: arrays (N, M) where every column is minimised (use
:func:`losses` to turn metric records into them).

Density: a Gaussian kernel density estimate over the front's cheap objectives in log space
(hardware metrics span orders of magnitude), standardised per dimension, bandwidth by Scott's
rule. LEMONADE samples parents, and picks which screened children to train, with probability
inversely proportional to this density, so the sparse regions of the front get explored.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from optuna._hypervolume import compute_hypervolume  # exact (WFG); optuna's own HV indicator

from .metrics import METRICS


def losses(records: Sequence[Mapping[str, float]], objectives: Sequence[str]) -> np.ndarray:
    """(N, M) minimisation matrix of ``records`` (metric name → value) over ``objectives``."""
    sign = np.array([-1.0 if METRICS[o].goal == "max" else 1.0 for o in objectives])
    vals = np.array([[float(r[o]) for o in objectives] for r in records], dtype=np.float64).reshape(-1, len(objectives))
    return vals * sign


def nondominated(loss: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (duplicates all kept)."""
    n = len(loss)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        le = np.all(loss <= loss[i], axis=1)
        lt = np.any(loss < loss[i], axis=1)
        if np.any(le & lt):
            mask[i] = False
    return mask


def _log_features(x: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(np.abs(x), 1e-12))


def density(front: np.ndarray, at: np.ndarray) -> np.ndarray:
    """KDE of the ``front`` points (cheap objectives, positive values) evaluated ``at`` points.

    Returns a positive density per row of ``at``; with fewer than two front points (no spread
    to estimate) every point gets density 1.
    """
    at = np.atleast_2d(at)
    if len(front) < 2:
        return np.ones(len(at))
    f, a = _log_features(front), _log_features(at)
    sd = f.std(axis=0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    bw = len(f) ** (-1.0 / (f.shape[1] + 4))  # Scott's rule on standardised data
    z = (a[:, None, :] - f[None, :, :]) / (sd * bw)
    return np.exp(-0.5 * (z ** 2).sum(axis=2)).mean(axis=1) + 1e-12


def inverse_density_probs(front: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Sampling probabilities proportional to 1 / density."""
    w = 1.0 / density(front, at)
    return w / w.sum()


def hypervolume(loss: np.ndarray, reference: Sequence[float]) -> float:
    """Hypervolume dominated by ``loss`` up to ``reference`` (points not better than the
    reference in every objective contribute nothing)."""
    ref = np.asarray(reference, dtype=np.float64)
    pts = np.asarray(loss, dtype=np.float64).reshape(-1, len(ref))
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    return float(compute_hypervolume(pts, ref))

