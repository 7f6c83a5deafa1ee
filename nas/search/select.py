"""The final pick, decided by cross-validation on the whole training file, not by a handful of validation samples.

The search ranks candidates by its integer model's accuracy on one validation split. Below a
few hundred training samples that split holds 5 to 60 samples: one sample is several points
and many candidates tie (ECG200: candidates tied at the top validation accuracy ranged from
85% to 89% on test). :func:`select`:

1. takes the ``top`` candidates trained at full fidelity with the best validation accuracy
   (ties: lower validation cross-entropy of the integer model first, then lower estimated
   energy; a few validation samples tie many candidates, and energy alone would hand the
   cross-validation only the smallest of them);
2. scores each by **repeated stratified k-fold cross-validation** on the whole training file
   (the training split and the validation split pooled): every fold trains the candidate from
   scratch with the search's own schedule (:class:`TrainConfig`, same seed per fold for every
   candidate, so the comparison is paired) and counts the hits of its exported integer model
   on the held-out fold; the score is the hit rate over all folds and repeats, so every
   training sample is judged ``repeats`` times. At or above ``small_data`` samples each fold
   early-stops on its held-out fold (the same optimism for every candidate);
3. picks the best score (ties: better validation accuracy, then lower energy);
4. **refits** the pick on the whole training file (``refit="always"``, the default; ``"auto"``:
   only when it has fewer than ``small_data`` samples; ``"never"``) with the fixed schedule and
   the weight average, nothing held out; otherwise the search's own model of the pick is kept
   (early-stopped on its split). The refit sees the 20% the search held out for validation
   (``scripts/diag_recipe.py --variants auto refit+ema`` on ECG5000: +0.3 points).

The test file is never looked at before the pick is made. Everything is written to
``OUT/selection.yaml`` (scores per candidate and fold) and the model to ``OUT/model/`` (its
``metrics.selection`` says how it was chosen). Same inputs, same pick and model bit for bit.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import yaml

from ..data import Dataset, Split
from ..quantized import QuantizedModel
from ..topology import Topology
from ..train import TrainConfig, train
from .evaluate import _dataset, _init_worker
from .journal import Journal
from .requirements import Requirements


@dataclass
class Candidate:
    name: str
    topology: Topology
    val_acc: float
    energy_uj: float
    model_dir: Path
    architecture: str = ""
    val_loss: float = float("inf")


def candidates(run_dir: Path) -> List[Candidate]:
    """Every candidate of a search run trained at full fidelity, best validation accuracy first."""
    j = Journal(run_dir, create=False)
    try:
        done = [r for r in j.records("done") if not r.metrics.get("pruned") and "val_acc_int" in r.metrics]
    finally:
        j.close()
    out = []
    for r in done:
        d = run_dir / "evals" / r.name
        doc = yaml.safe_load((d / "model.yaml").read_text())
        out.append(Candidate(r.name, Topology.from_dict(doc["topology"], r.name), float(r.metrics["val_acc_int"]),
                             float(r.cheap.get("energy_uj", 0.0)), d, r.genotype.describe(),
                             float(r.metrics.get("val_loss_int", float("inf")))))
    return sorted(out, key=lambda c: (-c.val_acc, c.val_loss, c.energy_uj, c.name))


def stratified_folds(y: np.ndarray, folds: int, repeats: int, seed: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Repeated stratified k-fold: per repeat, each class's samples are shuffled and dealt round-robin
    into ``folds`` folds (class proportions kept). Returns (train_idx, held_out_idx) pairs, sorted."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        fold_of = np.empty(len(y), dtype=np.int64)
        offset = 0
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            fold_of[idx] = (offset + np.arange(len(idx))) % folds
            offset += len(idx)  # continue the deal where the previous class stopped: folds stay balanced in size
        for f in range(folds):
            out.append((np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)))
    return out


def pooled(data: Dataset) -> Split:
    """The whole training file: training split and validation split together."""
    return Split(np.concatenate([data.train.x, data.val.x]), np.concatenate([data.train.y, data.val.y]))


def nothing_held_out(data: Dataset) -> Dataset:
    """``data`` with its validation split pooled into training (what a refit trains on)."""
    return replace(data, train=pooled(data), val=Split(data.val.x[:0], data.val.y[:0]))


def _fold_job(args: Tuple[str, Dict[str, Any], Dict[str, Any], np.ndarray, np.ndarray]) -> int:
    """Train one candidate on one fold; hits of its integer model on the held-out part."""
    spec, topo_dict, cfg, tr, va = args
    data = _dataset(spec)
    p = pooled(data)
    held = Split(p.x[va], p.y[va])
    fold = replace(data, train=Split(p.x[tr], p.y[tr]), val=held, test=held, raw_test_x=None)
    res = train(Topology.from_dict(topo_dict, "fold"), fold, TrainConfig(**cfg))
    return int(round(res.metrics["test_acc"] * len(va)))


def cv_scores(cands: Sequence[Candidate], data: Dataset, cfg: TrainConfig, folds: int, repeats: int, seed: int,
              workers: int = 1) -> Dict[str, List[int]]:
    """Hits per fold of each candidate (see the module docstring); trainings run on ``workers`` processes."""
    y = pooled(data).y
    spec = data.source or data.name
    if not np.array_equal(pooled(_dataset(spec)).y, y):  # the fold jobs reload the dataset from its source
        raise ValueError(f"{spec}: the dataset given differs from what its source loads (another split?)")
    splits = stratified_folds(y, folds, repeats, seed)
    jobs = [(c.name, i, (spec, c.topology.to_dict(),
                         {**cfg.__dict__, "seed": cfg.seed + i, "threads": 1}, tr, va))
            for c in cands for i, (tr, va) in enumerate(splits)]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            hits = list(pool.map(_fold_job, [j[2] for j in jobs]))
    else:
        hits = [_fold_job(j[2]) for j in jobs]
    out: Dict[str, List[int]] = {c.name: [0] * len(splits) for c in cands}
    for (name, i, _), h in zip(jobs, hits):
        out[name][i] = h
    return out


REFIT = ("auto", "always", "never")


def select(run_dir: Path, req: Requirements, data: Dataset, out: Path, top: int = 4, folds: int = 5,
           repeats: int = 1, workers: int = 1, refit: str = "always") -> Dict[str, Any]:
    """Cross-validated pick among the ``top`` candidates of ``run_dir``, refit on it all; returns the summary."""
    if refit not in REFIT:
        raise ValueError(f"refit={refit!r}: expected one of {', '.join(REFIT)}")
    cands = candidates(Path(run_dir))[:top]
    if not cands:
        raise ValueError(f"{run_dir}: no candidate trained at full fidelity to select from")
    cfg = req.training.config(seed=req.seed * 100_003)
    n = len(pooled(data).y)
    hits = cv_scores(cands, data, cfg, folds, repeats, seed=req.seed, workers=workers)
    score = {name: sum(h) / (n * repeats) for name, h in hits.items()}
    pick = min(cands, key=lambda c: (-score[c.name], -c.val_acc, c.energy_uj, c.name))
    small = n < cfg.small_data
    do_refit = refit == "always" or (refit == "auto" and small)
    summary: Dict[str, Any] = {
        "method": f"repeated stratified {folds}-fold cross-validation x {repeats} on the {n} samples of the training "
                  f"file, top {len(cands)} candidates by validation accuracy",
        "pick": pick.name, "refit": do_refit,
        "refit_reason": (f"refit={refit}, {n} training samples {'<' if small else '>='} small_data={cfg.small_data}: "
                         + ("retrained on all of them, fixed schedule" if do_refit else
                            "the search's model (early-stopped on its validation split) is kept")),
        "candidates": [{"name": c.name, "architecture": c.architecture, "val_acc": c.val_acc,
                        "val_loss": round(c.val_loss, 6), "energy_uj": c.energy_uj,
                        "cv_acc": round(score[c.name], 6), "fold_hits": hits[c.name]}
                       for c in cands],
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if do_refit:
        res = train(pick.topology, nothing_held_out(data), cfg)
        model = res.model
    else:
        model = QuantizedModel.load(pick.model_dir)
    model.metrics["selection"] = {k: v for k, v in summary.items() if k != "candidates"}
    model.metrics["selection"]["cv_acc"] = round(score[pick.name], 6)
    model.save(out / "model")
    summary["test_acc"] = float(model.metrics["test_acc"])
    (out / "selection.yaml").write_text(yaml.safe_dump(summary, sort_keys=False))
    return summary


__all__ = ["REFIT", "Candidate", "candidates", "cv_scores", "nothing_held_out", "pooled", "select",
           "stratified_folds"]
