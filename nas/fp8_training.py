"""Training with every DRAM-resident tensor stored in a low-precision format (FP8 with an
adaptive bias, or a comparison format), computed in FP32: the HALF seed's Section 5.

What crosses DRAM in a layer-by-layer training accelerator, and how it is emulated:

=====  ===================================  ===========================================  ============
class  tensor                               mechanism                                    traffic/step
=====  ===================================  ===========================================  ============
``a``  output of each DRAM layer            forward hook returns ``load(store(y))``      W 1, R 1 (+1 backward)
``s``  other tensors saved for backward     ``torch.autograd.graph.saved_tensors_hooks``  W 1, R 1
``d``  gradient of each layer output        tensor hook on the stored output             W 1, R 1
``g``  weight gradients                     ``register_post_accumulate_grad_hook``       W 1, R 1
``w``  weights (no FP32 master copy)        re-stored after every optimizer step         R 3, W 1
``o``  optimizer state (momentum, Adam m/v) re-stored after every optimizer step         R 1, W 1
=====  ===================================  ===========================================  ============

Weights are read by the forward pass, the backward pass and the optimizer, and written by the
optimizer; a tensor saved for backward that *is* a stored layer output shares its buffer (no
second write). Parameters saved for backward are not copies (counted as weight reads).
BatchNorm running statistics stay FP32 on chip and are not counted.

DRAM layers: for a :class:`~sustainml.nas.qat.QATNet` its input quantizer and blocks (a
block is conv/dense + BN + ReLU, fused as the DNNU computes it); for any other module the
top-most submodules that own parameters directly, and parameter-free leaves.

Schedule (seed): the first ``warmup_epochs`` run in FP32 while statistics units sample every
stream; then the per-stream biases are fixed from the median magnitudes and storage starts.
Every format runs the same schedule, so the bias choice is the only difference between
``e5m2-b15`` and ``e5m2-adaptive``.
"""
from __future__ import annotations

import math
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .fp8 import Fp8Error
from .fp8_storage import Packed, Storage, make_storage

CLASSES = ("w", "g", "a", "s", "d", "o")
CLASS_NAMES = {"w": "weights", "g": "weight gradients", "a": "activations", "s": "saved for backward",
               "d": "activation gradients", "o": "optimizer state"}


class _StoreLoad(torch.autograd.Function):
    """Forward: DRAM write + read of ``x``; backward: straight through (the gradient is
    stored by its own hook)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return fn(x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> Tuple[torch.Tensor, None]:
        return g, None


class _Saved:
    """A tensor saved for backward as DRAM holds it (shared with a layer output or its own)."""

    __slots__ = ("payload", "raw", "shared")

    def __init__(self, payload: Optional[Packed], raw: Optional[torch.Tensor], shared: bool) -> None:
        self.payload, self.raw, self.shared = payload, raw, shared


def dram_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The modules whose outputs are written to DRAM (see module docstring)."""
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and hasattr(model, "input_quant"):
        return [("input", model.input_quant)] + [(f"block{i}", b) for i, b in enumerate(blocks)]
    out: List[Tuple[str, nn.Module]] = []

    def walk(prefix: str, m: nn.Module) -> None:
        for name, child in m.named_children():
            full = f"{prefix}.{name}" if prefix else name
            owns = any(True for _ in child.parameters(recurse=False))
            if owns or not any(True for _ in child.children()):
                out.append((full, child))
            else:
                walk(full, child)

    walk("", model)
    return out


class DramEmulator:
    """Attach to a model and its optimizer; tensors crossing DRAM go through ``storage``.

    Modes: ``fp32`` (nothing stored, FP32 traffic counted), ``calibrate`` (FP32, statistics
    units sample every stream), ``store`` (every stream stored in ``storage``)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, storage: Storage,
                 layers: Optional[List[Tuple[str, nn.Module]]] = None, weight_rounding: str = "nearest",
                 stored: Tuple[str, ...] = CLASSES) -> None:
        unknown = set(stored) - set(CLASSES)
        if unknown:
            raise Fp8Error(f"stored classes {sorted(unknown)} unknown (known: {', '.join(CLASSES)})")
        self.model, self.optimizer, self.storage = model, optimizer, storage
        self.stored = frozenset(stored)
        self.weight_rounding = weight_rounding
        self.mode = "fp32"
        self.param_names = {id(p): n for n, p in model.named_parameters()}
        self._param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self._current: List[str] = []
        self._produced: Dict[int, Tuple[Any, Packed]] = {}
        self._pending: Dict[int, Tuple[Any, _Saved, int]] = {}
        self._handles: List[Any] = []
        self._ctx: Optional[Any] = None
        self.step_bytes: Dict[str, List[int]] = defaultdict(lambda: [0, 0])  # class -> [read, write] this step
        self.store_steps = 0
        self.store_bytes: Dict[str, List[int]] = defaultdict(lambda: [0, 0])  # summed over store-mode steps
        self._attach(layers if layers is not None else dram_layers(model))

    # ------------------------------------------------------------------ set-up
    def _attach(self, layers: List[Tuple[str, nn.Module]]) -> None:
        self._handles.append(self.model.register_forward_pre_hook(self._enter))
        self._handles.append(self.model.register_forward_hook(self._exit, always_call=True))
        for name, m in layers:
            self._handles.append(m.register_forward_pre_hook(lambda mod, inp, n=name: self._current.append(n)))
            self._handles.append(m.register_forward_hook(lambda mod, inp, out, n=name: self._layer_done(n, out),
                                                         always_call=True))
        for p in self.model.parameters():
            if p.requires_grad:
                self._handles.append(p.register_post_accumulate_grad_hook(self._grad_written))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # ------------------------------------------------------------------ accounting
    def bytes_per_element(self, cls: str) -> int:
        return self.storage.bytes_per_element if self.mode == "store" and cls in self.stored else 4

    def _count(self, cls: str, numel: int, reads: int = 0, writes: int = 0) -> None:
        b = numel * self.bytes_per_element(cls)
        self.step_bytes[cls][0] += reads * b
        self.step_bytes[cls][1] += writes * b

    def bytes_per_step(self) -> Dict[str, Tuple[float, float]]:
        """Mean (read, write) bytes per store-mode step, by class."""
        n = max(self.store_steps, 1)
        return {c: (self.store_bytes[c][0] / n, self.store_bytes[c][1] / n) for c in CLASSES if c in self.store_bytes}

    # ------------------------------------------------------------------ store/load
    def _through(self, x: torch.Tensor, key: str, rounding: str = "nearest") -> Tuple[torch.Tensor, Optional[Packed]]:
        if self.mode == "calibrate":
            self.storage.observe(x, key)
        if self.mode != "store" or key.split(":", 1)[0] not in self.stored:
            return x, None
        p = self.storage.pack(x, key, rounding)
        return self.storage.unpack(p), p

    # ------------------------------------------------------------------ forward: saved tensors
    def _enter(self, module: nn.Module, inp: Any) -> None:
        self._produced.clear()
        self._pending.clear()
        if torch.is_grad_enabled() and self._ctx is None:
            self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
            self._ctx.__enter__()

    def _exit(self, module: nn.Module, inp: Any, out: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None
        self._pending.clear()

    def _pack(self, t: torch.Tensor) -> Any:
        if not t.is_floating_point() or t.untyped_storage().data_ptr() in self._param_ptrs:
            return t  # integer indices; parameters (their reads are weight traffic)
        hit = self._produced.get(id(t))
        if hit is not None and hit[0]() is t:
            return _Saved(hit[1], t if hit[1] is None else None, shared=True)
        key = "s:" + (self._current[-1] if self._current else "model")
        y, p = self._through(t, key)
        self._count("s", t.numel(), writes=1)
        saved = _Saved(p, t if p is None else None, shared=False)
        self._pending[id(t)] = (weakref.ref(t), saved, t.numel())
        return saved

    def _unpack(self, saved: Any) -> torch.Tensor:
        if not isinstance(saved, _Saved):
            return saved
        if saved.raw is not None:
            self._count("a" if saved.shared else "s", saved.raw.numel(), reads=1)
            return saved.raw
        assert saved.payload is not None
        self._count("a" if saved.shared else "s", saved.payload.data.numel(), reads=1)
        return self.storage.unpack(saved.payload)

    # ------------------------------------------------------------------ forward: layer outputs
    def _layer_done(self, name: str, out: Any) -> Any:
        if self._current and self._current[-1] == name:
            self._current.pop()
        return self._layer_out(name, out)

    def _layer_out(self, name: str, out: Any) -> Any:
        if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor):  # QATNet blocks: (y, frac)
            y = self._layer_out(name, out[0])
            return None if y is None else (y,) + out[1:]
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return None
        key = f"a:{name}"
        packed: List[Optional[Packed]] = [None]
        if self.mode == "store" and "a" in self.stored:
            def store(x: torch.Tensor) -> torch.Tensor:
                y, packed[0] = self._through(x, key)
                return y
            y = _StoreLoad.apply(out, store) if out.requires_grad else store(out)
        else:
            y = self._through(out, key)[0] if torch.is_grad_enabled() else out
        if not torch.is_grad_enabled():
            return y
        self._count("a", out.numel(), writes=1, reads=1)  # written once, read by the next layer
        pend = self._pending.pop(id(out), None)
        if pend is not None and pend[0]() is out:  # saved inside the layer and is its output: same buffer
            saved, numel = pend[1], pend[2]
            saved.payload, saved.raw, saved.shared = packed[0], (None if packed[0] is not None else y), True
            self._count("s", numel, writes=-1)
        self._produced[id(y)] = (weakref.ref(y), packed[0])
        if y.requires_grad:
            y.register_hook(lambda g, n=name: self._grad_of_output(n, g))
        return y

    def _grad_of_output(self, name: str, g: torch.Tensor) -> torch.Tensor:
        y, _ = self._through(g, f"d:{name}")
        self._count("d", g.numel(), writes=1, reads=1)
        return y

    # ------------------------------------------------------------------ backward / optimizer
    def _grad_written(self, p: torch.Tensor) -> None:
        if p.grad is None:
            return
        y, packed = self._through(p.grad, f"g:{self.param_names[id(p)]}")
        if packed is not None:
            p.grad.copy_(y)
        self._count("g", p.numel(), writes=1)

    def _state_tensors(self, p: torch.Tensor) -> Iterator[Tuple[str, torch.Tensor]]:
        for k, v in self.optimizer.state.get(p, {}).items():
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.shape == p.shape:
                yield k, v

    @torch.no_grad()
    def after_step(self) -> None:
        """Call after ``optimizer.step()``: weights and optimizer state are written back."""
        for p in self.model.parameters():
            if p.grad is None:
                continue
            name = self.param_names[id(p)]
            self._count("w", p.numel(), reads=3, writes=1)
            self._count("g", p.numel(), reads=1)
            y, packed = self._through(p.data, f"w:{name}", self.weight_rounding)
            if packed is not None:
                p.data.copy_(y)
            for k, v in self._state_tensors(p):
                self._count("o", v.numel(), reads=1, writes=1)
                y, packed = self._through(v, f"o:{name}:{k}")
                if packed is not None:
                    v.copy_(y)
        if self.mode == "store":
            self.store_steps += 1
            for c, (r, w) in self.step_bytes.items():
                self.store_bytes[c][0] += r
                self.store_bytes[c][1] += w
        self.step_bytes.clear()

    @torch.no_grad()
    def start_storing(self) -> Dict[str, int]:
        """End calibration: fix the biases, store the current weights and optimizer state."""
        biases = self.storage.calibrate()
        self.mode = "store"
        for p in self.model.parameters():
            name = self.param_names[id(p)]
            p.data.copy_(self._through(p.data, f"w:{name}")[0])
            for k, v in self._state_tensors(p):
                v.copy_(self._through(v, f"o:{name}:{k}")[0])
        return biases


# ---------------------------------------------------------------------------------- training
@dataclass
class Fp8TrainConfig:
    epochs: int = 40
    warmup_epochs: int = 4  # FP32 + statistics sampling (the seed's "initial epochs")
    batch_size: int = 32
    optimizer: str = "sgd"  # sgd (momentum) | adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    weight_rounding: str = "nearest"  # nearest | stochastic (weight writes only)
    granularity: str = "tensor"  # tensor | class | model (adaptive bias sharing)
    stored: Tuple[str, ...] = CLASSES  # tensor classes kept in the format (the rest FP32)
    seed: int = 0
    threads: int = 1


@dataclass
class Splits:
    """Train/test tensors: x (N, ...) float32, y (N,) int64 (any model input layout)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str = "data"

    @classmethod
    def from_dataset(cls, data: Any) -> "Splits":
        """From a :class:`sustainml.nas.data.Dataset` (train+val used for training)."""
        x = np.concatenate([data.train.x, data.val.x])
        y = np.concatenate([data.train.y, data.val.y])
        return cls(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(data.test.x), torch.from_numpy(data.test.y),
                   data.name)

    @classmethod
    def from_torch_datasets(cls, train: Any, test: Any, name: str = "data") -> "Splits":
        """From torchvision-style datasets yielding ``(tensor, label)`` (e.g. CIFAR-100 with
        ``transform=ToTensor()``, when present locally)."""
        def stack(ds: Any) -> Tuple[torch.Tensor, torch.Tensor]:
            xs, ys = zip(*(ds[i] for i in range(len(ds))))
            return torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in xs]), torch.as_tensor(ys, dtype=torch.int64)
        return cls(*stack(train), *stack(test), name=name)


@dataclass
class FormatResult:
    storage: str
    test_acc: float
    final_loss: float
    bytes_per_step: Dict[str, Tuple[float, float]]  # class -> (read, write), store-mode steps
    biases: Dict[str, int] = field(default_factory=dict)
    medians: Dict[str, Optional[float]] = field(default_factory=dict)
    nonfinite_steps: int = 0
    train_time_s: float = 0.0

    @property
    def total_bytes(self) -> float:
        return float(sum(r + w for r, w in self.bytes_per_step.values()))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(len(x), 1)


def _optimizer(model: nn.Module, cfg: Fp8TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise Fp8Error(f"optimizer={cfg.optimizer!r} (expected 'sgd' or 'adamw')")


def train_in_format(make_model: Callable[[], nn.Module], data: Splits, storage_name: str,
                    cfg: Optional[Fp8TrainConfig] = None,
                    progress: Optional[Callable[[str, int, float], None]] = None) -> FormatResult:
    """Train a fresh model with DRAM tensors stored in ``storage_name``; test accuracy with the
    storage still applied (weights and activations as the accelerator holds them)."""
    cfg = cfg or Fp8TrainConfig()
    if not 0 <= cfg.warmup_epochs < cfg.epochs:
        raise Fp8Error(f"warmup_epochs={cfg.warmup_epochs} must be in 0..epochs-1 (epochs={cfg.epochs})")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = make_model()
    opt = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(data.x_train) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15) if cfg.optimizer == "sgd" else \
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    storage = make_storage(storage_name, cfg.granularity, cfg.seed)
    emu = DramEmulator(model, opt, storage, weight_rounding=cfg.weight_rounding, stored=cfg.stored)
    emu.mode = "calibrate" if cfg.warmup_epochs > 0 else "fp32"
    if cfg.warmup_epochs == 0:
        emu.start_storing()
    t0, loss_sum, nonfinite = time.perf_counter(), 0.0, 0
    for epoch in range(cfg.epochs):
        if epoch == cfg.warmup_epochs and emu.mode != "store":
            emu.start_storing()
        model.train()
        loss_sum, n = 0.0, 0
        for idx in torch.randperm(len(data.x_train), generator=gen).split(cfg.batch_size):
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            emu.after_step()
            if not torch.isfinite(loss):
                nonfinite += 1
            loss_sum += float(loss.detach()) * len(idx)
            n += len(idx)
        if progress:
            progress(storage_name, epoch + 1, loss_sum / n)
    acc = evaluate(model, data.x_test, data.y_test)
    emu.detach()
    medians = getattr(storage, "medians", {})
    return FormatResult(storage_name, acc, loss_sum / max(n, 1), emu.bytes_per_step(), dict(getattr(storage, "biases", {})),
                        dict(medians), nonfinite, round(time.perf_counter() - t0, 2))
