"""Quantization-aware training of a Topology on a dataset, ending in the integer artifact.

Schedule: float warm-up → QAT with BatchNorm → BatchNorm folded, QAT fine-tuning → freeze
and export. The exported integer model is evaluated with the golden model on the full test
set; its agreement with the frozen torch QAT model is part of the metrics.

Choices that keep small datasets from collapsing (each one recorded in ``model.yaml`` under
``metrics.training``):

* **validation protocol by training-set size**: with at least ``small_data`` training
  samples each phase stops early when validation accuracy stops improving and keeps its best
  weights; below, a validation split of a few dozen samples says little (one sample is
  several points), so every phase runs its fixed schedule (``fixed-schedule``); the validation
  accuracy is then only the search's selection score;
* **weight averaging with a fixed schedule, label smoothing below** ``small_data`` (``ema`` /
  ``label_smoothing`` None = auto, :data:`AUTO_SMALL`): without early stopping (below
  ``small_data``, or a refit with nothing held out) each phase keeps an exponential moving
  average of its weights (Polyak averaging; decay warmed up as ``min(d, (1 + t) / (10 + t))``)
  and ends on it, in place of early stopping's best epoch; below ``small_data`` the
  cross-entropy targets are also smoothed (Szegedy et al. 2016). Measured by
  ``scripts/diag_recipe.py`` (README "Accuracy beyond ECG5000"): both help the tiny training
  sets; label smoothing costs ECG5000 half a point, the average does not; optional **mixup**
  (``mixup`` alpha, float phase);
* **epochs of at least** ``min_batches`` batches (sampled without replacement, then again),
  so a 50-sample training set still gets enough optimizer steps;
* **time-series augmentation** (Iwana & Uchida 2021; Le Guennec et al. 2016): jitter
  (Gaussian noise), per-channel scaling, and window slicing (a random crop of the series
  stretched back to its length, which also shifts it), each applied to a sample with
  probability ``augment_p``;
* **class balancing below** ``small_data`` (``class_balance`` None = auto): cross-entropy
  weighted by count**-0.5 (inverse square root of the class frequency, normalised to mean 1),
  so that a class of two or three samples is not ignored; at or above ``small_data`` the loss
  is unweighted, since the search scores plain accuracy and weighting trades it for balanced
  accuracy (``scripts/diag_recipe.py``: +0.5 points on ECG5000, +2 to +3 on Earthquakes and
  DistalPhalanxTW, README);
* **learning-rate schedule**: linear warm-up over the first ``warmup`` fraction of each
  phase's steps, then cosine decay to zero (AdamW).

Same seed, same data, same topology → the same model bit for bit: every random draw
(initialisation, batch order, augmentation) comes from the seeded torch generator and
training runs on ``threads`` (default 1) CPU threads.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import golden
from .data import Dataset
from .export import export
from .qat import QATNet
from .quantized import QuantizedModel
from .topology import Topology

Progress = Callable[[str, int, int, Dict[str, float]], None]  # (phase, epoch, epochs, stats)


#: regularization below ``small_data`` training samples when TrainConfig leaves it unset (scripts/diag_recipe.py)
AUTO_SMALL = {"ema": 0.99, "label_smoothing": 0.1}


@dataclass
class TrainConfig:
    float_epochs: int = 60
    qat_epochs: int = 30
    folded_epochs: int = 20
    batch_size: int = 32
    lr: float = 5e-3
    weight_decay: float = 1e-4
    patience: int = 20
    seed: int = 0
    threads: int = 1  # intra-op threads; these nets are tiny, one thread is fastest and never oversubscribes
    small_data: int = 300  # below this many training samples: fixed schedule, no early stopping
    min_batches: int = 16  # batches per epoch at least (small training sets)
    augment: bool = True
    augment_p: float = 0.5  # probability of each augmentation per sample
    jitter: float = 0.03  # noise std, in units of the (preprocessed) signal
    scale: float = 0.1  # per-channel scale factor std
    slice_min: float = 0.9  # window slicing keeps at least this fraction of the series
    class_balance: Optional[bool] = None  # weight the loss by class frequency (None: below small_data)
    warmup: float = 0.05  # fraction of each phase's steps with a linear learning-rate warm-up
    ema: Optional[float] = None  # decay of a moving average of the weights per phase (0: off; None: auto)
    label_smoothing: Optional[float] = None  # cross-entropy label smoothing (None: auto)
    mixup: float = 0.0  # mixup Beta(a, a) parameter (0: off), float phase only
    qat_lr_scale: float = 1.0  # learning rate of the two QAT phases, as a fraction of lr
    fidelity: float = 1.0  # fraction of every phase's epochs (multi-fidelity search: short trainings first)

    @classmethod
    def quick(cls) -> "TrainConfig":
        """A short schedule for tests and NAS screening."""
        return cls(float_epochs=6, qat_epochs=8, folded_epochs=5, patience=4)

    def regularization(self, train_samples: int, fixed_schedule: bool) -> Tuple[float, float]:
        """(EMA decay, label smoothing): the explicit values, else automatic ones. The weight
        average is on whenever the phases run their fixed schedule (it stands in for early
        stopping's best epoch: below ``small_data``, and in a refit with nothing held out), off
        under early stopping; label smoothing only below ``small_data`` (``AUTO_SMALL``)."""
        small = train_samples < self.small_data
        ema = self.ema if self.ema is not None else (AUTO_SMALL["ema"] if fixed_schedule else 0.0)
        ls = self.label_smoothing if self.label_smoothing is not None else (AUTO_SMALL["label_smoothing"] if small
                                                                            else 0.0)
        return float(ema), float(ls)

    def balanced(self, train_samples: int) -> bool:
        """Whether the loss is weighted by class frequency: the explicit value, else below ``small_data``."""
        return self.class_balance if self.class_balance is not None else train_samples < self.small_data

    def epochs(self, n: int) -> int:
        """Epochs of a phase of ``n`` at this fidelity (at least one when ``n`` > 0)."""
        return max(1, int(round(n * self.fidelity))) if n > 0 else 0


@dataclass
class TrainResult:
    model: QuantizedModel
    net: QATNet
    metrics: Dict[str, float]


def _batches(n: int, bs: int, min_batches: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch: max(ceil(n / bs), min_batches) batches, each pass over the data a fresh permutation."""
    count = max(math.ceil(n / bs), min_batches)
    perm = torch.randperm(n, generator=gen)
    pos = 0
    for _ in range(count):
        if pos >= n:
            perm, pos = torch.randperm(n, generator=gen), 0
        yield perm[pos:pos + bs]
        pos += bs


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Jitter, per-channel scaling and window slicing of a batch ``(N, L, C)`` (see the module docstring)."""
    n, length, ch = x.shape
    p = cfg.augment_p
    on = lambda: (torch.rand(n, 1, 1, generator=gen) < p).to(x.dtype)  # noqa: E731
    if cfg.slice_min < 1.0 and length > 2:
        keep = cfg.slice_min + (1.0 - cfg.slice_min) * torch.rand(n, generator=gen)
        keep = torch.where(on()[:, 0, 0] > 0, keep, torch.ones(n))
        start = torch.rand(n, generator=gen) * (1.0 - keep) * (length - 1)
        pos = start[:, None] + torch.arange(length)[None, :] * keep[:, None]  # (N, L) in [0, L - 1]
        lo = pos.floor().long().clamp(0, length - 1)
        hi = (lo + 1).clamp(max=length - 1)
        w = (pos - lo).to(x.dtype)[:, :, None]
        gather = lambda idx: torch.gather(x, 1, idx[:, :, None].expand(n, length, ch))  # noqa: E731
        x = gather(lo) * (1 - w) + gather(hi) * w
    if cfg.scale > 0:
        x = x * (1 + on() * cfg.scale * torch.randn(n, 1, ch, generator=gen))
    if cfg.jitter > 0:
        x = x + on() * cfg.jitter * torch.randn(n, length, ch, generator=gen)
    return x


def class_weights(y: np.ndarray, classes: int) -> np.ndarray:
    """count**-0.5 per class, normalised to mean 1 over the classes present (absent classes: 0)."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return w * (counts > 0).sum() / w.sum()


@torch.no_grad()
def accuracy(net: QATNet, x: np.ndarray, y: np.ndarray, dtype: torch.dtype = torch.float32) -> float:
    net.eval()
    logits = net.to(dtype)(torch.from_numpy(x).to(dtype))
    net.float()
    return float((logits.argmax(1).numpy() == y).mean())


def _val_acc(net: QATNet, data: Dataset) -> float:
    return accuracy(net, data.val.x, data.val.y) if len(data.val.y) else 0.0


def early_stopping(cfg: TrainConfig, data: Dataset) -> bool:
    return len(data.train.y) >= cfg.small_data and len(data.val.y) > 0


def _lr_lambda(total: int, warmup: float) -> Callable[[int], float]:
    wsteps = max(1, int(round(warmup * total)))

    def f(step: int) -> float:
        if step < wsteps:
            return (step + 1) / wsteps
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - wsteps) / max(1, total - wsteps))))
    return f


def _run_phase(net: QATNet, data: Dataset, cfg: TrainConfig, epochs: int, phase: str, gen: torch.Generator,
               progress: Optional[Progress], weights: Optional[torch.Tensor]) -> float:
    if epochs <= 0:
        return _val_acc(net, data)
    xt, yt = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    per_epoch = max(math.ceil(len(xt) / cfg.batch_size), cfg.min_batches)
    lr = cfg.lr * (1.0 if phase == "float" else cfg.qat_lr_scale)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(epochs * per_epoch, cfg.warmup))
    stop_early = early_stopping(cfg, data)
    decay, smoothing = cfg.regularization(len(xt), not stop_early)
    ema = Ema(net, decay) if decay > 0 else None
    use_mixup = cfg.mixup > 0 and phase == "float"
    best, best_state, stale, val = -1.0, None, 0, 0.0
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for idx in _batches(len(xt), cfg.batch_size, cfg.min_batches, gen):
            xb = augment(xt[idx], cfg, gen) if cfg.augment else xt[idx]
            if use_mixup:
                loss = _mixup_loss(net, xb, yt[idx], cfg.mixup, smoothing, gen, weights)
            else:
                loss = F.cross_entropy(net(xb), yt[idx], weight=weights, label_smoothing=smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(net)
            total += float(loss.detach()) * len(idx)
        if ema is not None:
            ema.swap(net)  # validate (and keep) the averaged weights
        val = _val_acc(net, data)
        if progress:
            progress(phase, epoch + 1, epochs, {"loss": total / (per_epoch * cfg.batch_size), "val_acc": val})
        if stop_early:
            if val > best:
                best, best_state, stale = val, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
        last = epoch + 1 == epochs or (stop_early and stale >= cfg.patience)
        if last:
            break
        if ema is not None:
            ema.swap(net)  # back to the live weights for the next epoch
    if best_state is not None:
        net.load_state_dict(best_state)
        return best
    return val


class Ema:
    """Exponential moving average of a network's parameters and float buffers (integer buffers copied)."""

    def __init__(self, net: QATNet, decay: float):
        self.decay, self.steps = decay, 0
        self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net: QATNet) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))  # short phases: the average does not lag
        for k, v in net.state_dict().items():
            if v.dtype.is_floating_point:
                self.state[k].lerp_(v.detach(), 1.0 - d)
            else:
                self.state[k].copy_(v)

    @torch.no_grad()
    def swap(self, net: QATNet) -> None:
        """Exchange the live weights and the average."""
        live = {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(self.state)
        self.state = live


def _mixup_loss(net: QATNet, x: torch.Tensor, y: torch.Tensor, alpha: float, smoothing: float,
                gen: torch.Generator, weights: Optional[torch.Tensor]) -> torch.Tensor:
    """Mixup (Zhang et al. 2018): one Beta(a, a) weight per batch, partner = a permutation of the batch."""
    lam = _beta(alpha, gen)
    perm = torch.randperm(len(x), generator=gen)
    out = net(lam * x + (1 - lam) * x[perm])
    ce = lambda t: F.cross_entropy(out, t, weight=weights, label_smoothing=smoothing)  # noqa: E731
    return lam * ce(y) + (1 - lam) * ce(y[perm])


def _beta(a: float, gen: torch.Generator) -> float:
    """A Beta(a, a) draw seeded from the torch generator (deterministic for a seed)."""
    return float(np.random.default_rng(int(torch.randint(2**31 - 1, (1,), generator=gen))).beta(a, a))


def _size(cfg: TrainConfig, n: int) -> str:
    """How ``n`` training samples compare with ``small_data``, the threshold the automatic choices follow."""
    return f"{n} {'<' if n < cfg.small_data else '>='} small_data={cfg.small_data}"


def _protocol_reason(cfg: TrainConfig, data: Dataset) -> str:
    n = len(data.train.y)
    if early_stopping(cfg, data):
        return f"training samples {_size(cfg, n)}: each phase keeps its best validation epoch (patience {cfg.patience})"
    why = "nothing held out for validation" if n >= cfg.small_data else "a split this small says little"
    end = "the weight average" if cfg.regularization(n, True)[0] else "the last weights"
    return f"training samples {_size(cfg, n)}, {why}: fixed schedule, each phase ends on {end}"


def _weighting_reason(cfg: TrainConfig, n: int) -> Optional[str]:
    """Why the loss is (not) weighted by class frequency; None when ``class_balance`` was set."""
    if cfg.class_balance is not None:
        return None
    return f"{_size(cfg, n)}: " + ("count**-0.5 weights keep a class of a few samples from being ignored"
                                   if n < cfg.small_data else "unweighted, the loss matches the accuracy scored")


def _regularization(cfg: TrainConfig, n: int, fixed_schedule: bool) -> Dict[str, object]:
    ema, ls = cfg.regularization(n, fixed_schedule)
    why = {"weight_ema": "on with a fixed schedule" if fixed_schedule else "off with early stopping",
           "label_smoothing": _size(cfg, n)}
    auto = [f"{k} ({why[k]})" for k, v in (("weight_ema", cfg.ema), ("label_smoothing", cfg.label_smoothing))
            if v is None]
    return {"weight_ema": ema or None, "label_smoothing": ls or None, "mixup_alpha": cfg.mixup or None,
            "auto": ", ".join(auto) if auto else None}


def choices(cfg: TrainConfig, data: Dataset) -> Dict[str, object]:
    """What this training did and why (recorded in ``model.yaml`` as ``metrics.training``)."""
    n = len(data.train.y)
    return {
        "protocol": "early-stopping" if early_stopping(cfg, data) else "fixed-schedule",
        "protocol_reason": _protocol_reason(cfg, data),
        "train_samples": n, "val_samples": int(len(data.val.y)), "val_from": data.val_from,
        "epochs": {"float": cfg.epochs(cfg.float_epochs), "qat": cfg.epochs(cfg.qat_epochs),
                   "qat_folded": cfg.epochs(cfg.folded_epochs)},
        "batches_per_epoch": max(math.ceil(n / cfg.batch_size), cfg.min_batches),
        "augmentation": ({"jitter_std": cfg.jitter, "scale_std": cfg.scale, "window_slice_min": cfg.slice_min,
                          "p": cfg.augment_p} if cfg.augment else None),
        "class_weights": ([round(float(v), 6) for v in class_weights(data.train.y, data.classes)]
                          if cfg.balanced(n) else None),
        "class_weights_reason": _weighting_reason(cfg, n),
        "lr_schedule": f"AdamW lr={cfg.lr} (QAT phases x{cfg.qat_lr_scale:g}) wd={cfg.weight_decay}, linear warm-up "
                       f"{cfg.warmup:.0%} then cosine, per phase",
        "regularization": _regularization(cfg, n, not early_stopping(cfg, data)),
        "fidelity": cfg.fidelity,
        "preprocessing": dict(data.preprocessing),
    }


def train(topology: Topology, data: Dataset, cfg: Optional[TrainConfig] = None, progress: Optional[Progress] = None,
          init: Optional[QATNet] = None) -> TrainResult:
    """Train ``topology`` on ``data`` with QAT and export the integer model.

    ``init``: a trained parent network whose matching parameters seed this one (Lamarckian
    weight inheritance in the NAS).
    """
    cfg = cfg or TrainConfig()
    if (data.length, data.channels) != (topology.input.length, topology.input.channels):
        raise ValueError(f"topology input ({topology.input.length}, {topology.input.channels}) does not match dataset "
                         f"{data.name} ({data.length}, {data.channels})")
    if topology.classes != data.classes:
        raise ValueError(f"topology has {topology.classes} classes, dataset {data.name} has {data.classes}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.perf_counter()
    net = QATNet(topology)
    if init is not None:
        inherit(net, init)
    balance = cfg.balanced(len(data.train.y))
    weights = torch.from_numpy(class_weights(data.train.y, data.classes)).float() if balance else None
    phase_acc: Dict[str, float] = {}  # torch test accuracy at the end of each phase: a diagnostic, never a choice
    _run_phase(net, data, cfg, cfg.epochs(cfg.float_epochs), "float", gen, progress, weights)
    phase_acc["float"] = accuracy(net, data.test.x, data.test.y)
    net.set_quant(True)
    _run_phase(net, data, cfg, cfg.epochs(cfg.qat_epochs), "qat", gen, progress, weights)
    phase_acc["qat"] = accuracy(net, data.test.x, data.test.y)
    net.fold_batchnorm()
    val_acc = _run_phase(net, data, cfg, cfg.epochs(cfg.folded_epochs), "qat-folded", gen, progress, weights)
    phase_acc["qat_folded"] = accuracy(net, data.test.x, data.test.y)
    net.eval()
    net.freeze()
    train_time = time.perf_counter() - t0
    model = export(net)
    model.preprocessing = dict(data.preprocessing)
    metrics = evaluate(model, net, data)
    metrics.update(val_acc=val_acc, train_time_s=round(train_time, 2), params=topology.params(), macs=topology.macs(),
                   dataset=data.source or data.name, dataset_name=data.name, seed=cfg.seed, config=asdict(cfg),
                   training=choices(cfg, data), phase_test_acc={k: round(v, 6) for k, v in phase_acc.items()})
    model.metrics = metrics
    return TrainResult(model, net, metrics)


def evaluate(model: QuantizedModel, net: QATNet, data: Dataset) -> Dict[str, float]:
    """Test accuracy of the integer model (golden) and its agreement with the frozen torch net."""
    logits_int = golden.run(model, model.quantize_input(data.test.x))
    pred_int = logits_int.argmax(1)
    pred_torch = _torch_predict(net, data.test.x)
    return {
        "test_acc": float((pred_int == data.test.y).mean()),
        "test_acc_torch": float((pred_torch == data.test.y).mean()),
        "golden_torch_agreement": float((pred_int == pred_torch).mean()),
        "test_samples": int(len(data.test.y)),
    }


@torch.no_grad()
def _torch_predict(net: QATNet, x: np.ndarray) -> np.ndarray:
    net.eval()
    out = net.double()(torch.from_numpy(x).double()).argmax(1).numpy()
    net.float()
    return out


def inherit(child: QATNet, parent: QATNet) -> int:
    """Copy every parameter/buffer whose name and shape match; returns how many were copied."""
    src = parent.state_dict()
    dst = child.state_dict()
    copied = 0
    for k, v in dst.items():
        if k in src and src[k].shape == v.shape:
            dst[k] = src[k].clone()
            copied += 1
    child.load_state_dict(dst)
    return copied
