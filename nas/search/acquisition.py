"""Which screened children to train: expected hypervolume improvement (EHVI) on cheap objectives.

A child's hardware objectives are known exactly before training (closed-form cost model);
only its accuracy is not. Two surrogates fitted on the run's journal predict it:

* whether training succeeds at all (reaches ``min_accuracy``; small or narrow-bit networks
  often collapse to the majority class): a kernel (Nadaraya-Watson) estimate over
  architecture features (log params, log MACs, narrowest weight/activation width, depth,
  narrowest layer) of every trained candidate, shrunk towards the run's success rate;
* if it succeeds, its accuracy: its parent's validation accuracy plus the change successful
  children have shown so far (median and spread of ``child - parent``; a prior spread until
  there are enough of them).

The expected gain of training the child is P(success) times the hypervolume it adds to the
current front averaged over that accuracy distribution (3-point Gauss-Hermite quadrature),
in the normalised loss space of the requirements: accuracy between 1 and ``min_accuracy``,
each hardware metric between 0 and its ``max_<metric>`` constraint (else twice the front's
worst).

A batch is chosen greedily ("kriging believer"): each pick is credited with its predicted
accuracy and joins the front before the next pick is scored. Children with no expected gain
are chosen, if at all, inversely to the front's density (LEMONADE).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np

from .pareto import hypervolume, inverse_density_probs, losses

PRIOR_SIGMA = 0.02  # spread of child - parent accuracy before the run has measured it
MAX_SIGMA = 0.03  # cap on the measured spread (validation accuracy moves in 1/n_val steps)
MIN_DELTAS = 3  # measured child - parent pairs needed to trust their median and spread
# 3-point Gauss-Hermite quadrature of a standard normal: nodes and weights
_NODES = np.array([-np.sqrt(3.0), 0.0, np.sqrt(3.0)])
_WEIGHTS = np.array([1.0, 4.0, 1.0]) / 6.0


def bounds(objectives: Sequence[str], min_accuracy: float, limits: Mapping[str, float],
           front_values: Sequence[Mapping[str, float]]) -> Tuple[np.ndarray, np.ndarray]:
    """(ideal, reference) of the normalised loss space over ``objectives``."""
    ideal, ref = [], []
    for o in objectives:
        if o == "accuracy":
            ideal.append(-1.0)
            ref.append(-min_accuracy)
        else:
            ideal.append(0.0)
            worst = max((float(v[o]) for v in front_values), default=1.0)
            ref.append(float(limits.get(o, 2.0 * worst)) or 1.0)
    return np.array(ideal), np.array(ref)


def accuracy_delta(pairs: Sequence[Tuple[float, float]]) -> Tuple[float, float]:
    """(median, spread) of child - parent accuracy over successful ``(parent, child)`` pairs."""
    d = np.array([c - p for p, c in pairs], dtype=np.float64)
    if len(d) < MIN_DELTAS:
        return 0.0, PRIOR_SIGMA
    spread = 1.4826 * np.median(np.abs(d - np.median(d)))  # MAD: robust to the odd outlier
    return float(np.median(d)), float(np.clip(spread, 0.25 * PRIOR_SIGMA, MAX_SIGMA))


def genotype_features(g: Any, cheap: Mapping[str, float]) -> np.ndarray:
    """Architecture features of the success surrogate."""
    return np.array([np.log10(max(cheap["params"], 1.0)), np.log10(max(cheap["macs"], 1.0)),
                     min(b.w_bits for b in g.blocks), min(b.a_bits for b in g.blocks),
                     len(g.blocks), np.log2(min(b.filters for b in g.blocks))], dtype=np.float64)


def success_probability(trained: np.ndarray, ok: np.ndarray, at: np.ndarray, prior_weight: float = 1.0) -> np.ndarray:
    """P(training reaches the accuracy floor) at feature rows ``at``: Gaussian-kernel average of
    the ``ok`` outcomes of ``trained`` (standardised features), shrunk towards their mean."""
    at = np.atleast_2d(at)
    if len(trained) == 0:
        return np.ones(len(at))
    base = (ok.sum() + 1.0) / (len(ok) + 2.0)  # Laplace: never exactly 0 or 1
    sd = trained.std(axis=0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    z = (at[:, None, :] - trained[None, :, :]) / sd
    k = np.exp(-0.5 * (z ** 2).sum(axis=2))
    return (k @ ok.astype(np.float64) + prior_weight * base) / (k.sum(axis=1) + prior_weight)


def hv_gain(front: np.ndarray, point: np.ndarray) -> float:
    """Hypervolume ``point`` adds to ``front`` (normalised losses, reference at 1)."""
    ref = np.ones(point.shape[-1])
    if np.any(point >= ref):
        return 0.0
    if len(front) and np.any(np.all(front <= point, axis=1)):
        return 0.0
    box = float(np.prod(ref - point))
    if not len(front):
        return box
    return box - hypervolume(np.maximum(front, point), ref)


class EHVI:
    """Expected hypervolume improvement of children over a front, in normalised loss space."""

    def __init__(self, objectives: Sequence[str], front_values: Sequence[Mapping[str, float]],
                 min_accuracy: float, limits: Mapping[str, float], delta: Tuple[float, float]):
        self.objectives = list(objectives)
        self.ideal, self.ref = bounds(self.objectives, min_accuracy, limits, front_values)
        self.front = self.normalise(front_values)
        self.delta = delta
        self.acc_col = self.objectives.index("accuracy")

    def normalise(self, values: Sequence[Mapping[str, float]]) -> np.ndarray:
        if not values:
            return np.zeros((0, len(self.objectives)))
        return (losses(values, self.objectives) - self.ideal) / (self.ref - self.ideal)

    def predict(self, cheap: Mapping[str, float], parent_accuracy: float, p_ok: float = 1.0) -> Mapping[str, float]:
        """The child's objective values credited with its predicted (mean) accuracy."""
        return {**cheap, "accuracy": min(1.0, parent_accuracy + self.delta[0])}

    def expected_gain(self, front: np.ndarray, cheap: Mapping[str, float], parent_accuracy: float,
                      p_ok: float = 1.0) -> float:
        mean, sd = self.delta
        base = self.normalise([{**cheap, "accuracy": 0.0}])[0]
        gain = 0.0
        for z, w in zip(_NODES, _WEIGHTS):
            p = base.copy()
            acc = min(1.0, parent_accuracy + mean + sd * z)
            p[self.acc_col] = (-acc - self.ideal[self.acc_col]) / (self.ref[self.acc_col] - self.ideal[self.acc_col])
            gain += w * hv_gain(front, p)
        return p_ok * gain

    def select(self, children: Sequence[Tuple[Any, ...]], n: int,
               rng: np.random.Generator, density_front: Optional[np.ndarray] = None,
               density_cols: Sequence[str] = ()) -> Tuple[list, list]:
        """Greedily pick ``n`` of ``children`` (cheap values, parent accuracy[, P(success)]) by EHVI.

        Returns (indices, gains). Once no child has a positive expected gain, the rest are
        sampled inversely to the density of ``density_front`` at their ``density_cols``.
        """
        front = self.front.copy()
        left = list(range(len(children)))
        picks, gains = [], []
        while len(picks) < n and left:
            g = np.array([self.expected_gain(front, *children[i]) for i in left])
            if g.max() <= 0.0:
                break
            j = int(np.argmax(g))
            i = left.pop(j)
            picks.append(i)
            gains.append(float(g[j]))
            front = np.vstack([front, self.normalise([self.predict(*children[i])])])
        if len(picks) < n and left:
            if density_front is not None and len(density_cols):
                at = np.array([[children[i][0][c] for c in density_cols] for i in left])
                p = inverse_density_probs(density_front, at)
            else:
                p = np.full(len(left), 1.0 / len(left))
            extra = rng.choice(len(left), size=min(n - len(picks), len(left)), replace=False, p=p)
            picks += [left[int(k)] for k in extra]
            gains += [0.0] * len(extra)
        return picks, gains
