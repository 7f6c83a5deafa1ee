"""Quantization-aware training of a Topology on a dataset, ending in the integer artifact.

Schedule: float warm-up → QAT with BatchNorm → BatchNorm folded, QAT fine-tuning → freeze
and export. Each phase stops early when validation accuracy stops improving and keeps its
best weights. The exported integer model is evaluated with the golden model on the full test
set; its agreement with the frozen torch QAT model is part of the metrics.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Optional

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

    @classmethod
    def quick(cls) -> "TrainConfig":
        """A short schedule for tests and NAS screening."""
        return cls(float_epochs=6, qat_epochs=8, folded_epochs=5, patience=4)


@dataclass
class TrainResult:
    model: QuantizedModel
    net: QATNet
    metrics: Dict[str, float]


def _batches(n: int, bs: int, gen: torch.Generator):
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, bs):
        yield perm[i:i + bs]


@torch.no_grad()
def accuracy(net: QATNet, x: np.ndarray, y: np.ndarray, dtype: torch.dtype = torch.float32) -> float:
    net.eval()
    logits = net.to(dtype)(torch.from_numpy(x).to(dtype))
    net.float()
    return float((logits.argmax(1).numpy() == y).mean())


def _run_phase(net: QATNet, data: Dataset, cfg: TrainConfig, epochs: int, phase: str, gen: torch.Generator,
               progress: Optional[Progress]) -> float:
    if epochs <= 0:
        return accuracy(net, data.val.x, data.val.y)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    xt, yt = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    best, best_state, stale = -1.0, None, 0
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for idx in _batches(len(xt), cfg.batch_size, gen):
            loss = F.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        val = accuracy(net, data.val.x, data.val.y)
        if progress:
            progress(phase, epoch + 1, epochs, {"loss": total / len(xt), "val_acc": val})
        if val > best:
            best, best_state, stale = val, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    return best


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
    _run_phase(net, data, cfg, cfg.float_epochs, "float", gen, progress)
    net.set_quant(True)
    _run_phase(net, data, cfg, cfg.qat_epochs, "qat", gen, progress)
    net.fold_batchnorm()
    val_acc = _run_phase(net, data, cfg, cfg.folded_epochs, "qat-folded", gen, progress)
    net.eval()
    net.freeze()
    train_time = time.perf_counter() - t0
    model = export(net)
    metrics = evaluate(model, net, data)
    metrics.update(val_acc=val_acc, train_time_s=round(train_time, 2), params=topology.params(), macs=topology.macs(),
                   dataset=data.name, seed=cfg.seed, config=asdict(cfg))
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
