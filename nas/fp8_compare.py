"""The FP8 comparison: the same models trained with DRAM tensors in FP32, FP16, BF16, FP8 E5M2
(fixed bias 15), FP8 E4M3 and FP8 E5M2 with the adaptive bias; accuracy (mean ± std over seeds)
and DRAM bytes per step as a markdown table (``sustainml fp8-bench``, ``scripts/bench_fp8.py``).

Default tasks: the reference 1D-CNN on ECG5000 (SGD with momentum), and the same model trained
with AdamW, whose second-moment state ``v = E[g^2]`` sits around 2^-20..2^-40, far below the
smallest E5M2 value at bias 15 (2^-16): with a fixed bias 15 it is stored as 0 and the update
``m / (sqrt(v) + eps)`` explodes, while the adaptive bias moves the window to the data.

Tasks are IR topologies on UCR datasets; a topology's input length and class count are adapted
to the dataset. The seed's image models (VGG-16, ResNet18, MobileNet-V2, GoogleNet on
CIFAR-100/TinyImageNet) cannot be downloaded here; :func:`train_in_format` takes any torch
module and :meth:`Splits.from_torch_datasets` any torchvision-style dataset present locally.
"""
from __future__ import annotations

import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .data import load_dataset
from .fp8_storage import STORAGE_NAMES
from .fp8_training import CLASSES, Fp8TrainConfig, FormatResult, Splits, train_in_format
from .qat import QATNet
from .topology import Topology, load_topology

EXAMPLES = Path(__file__).resolve().parent / "examples"


@dataclass
class Task:
    name: str
    topology: str  # file under nas/examples/ or a path
    dataset: str
    epochs: int = 30
    batch_size: int = 32
    optimizer: str = "sgd"  # sgd (momentum) | adamw
    lr: Optional[float] = None  # None: Fp8TrainConfig's default for SGD


#: The default bench: the reference model on ECG5000 with SGD, and with AdamW (optimizer state
#: far below bias 15's range; see the module docstring).
DEFAULT_TASKS = (
    Task("ecg_baseline/ECG5000", "ecg_baseline.yaml", "ECG5000", epochs=30, batch_size=32),
    Task("ecg_baseline/ECG5000-adamw", "ecg_baseline.yaml", "ECG5000", epochs=30, batch_size=32, optimizer="adamw",
         lr=3e-3),
)
#: Further tasks (``--task NAME`` or ``--all``): the reference model on a second UCR task, and a
#: larger VGG-style model.
EXTRA_TASKS = (
    Task("ecg_baseline/FordA", "ecg_baseline.yaml", "FordA", epochs=12, batch_size=64),
    Task("vgg1d/ECG5000", "vgg1d.yaml", "ECG5000", epochs=20, batch_size=32),
)
TASKS = DEFAULT_TASKS + EXTRA_TASKS


def adapt(topology: Topology, length: int, channels: int, classes: int) -> Topology:
    """The same layers on another input length/channel count and class count."""
    d = topology.to_dict()
    d["input"].update(length=length, channels=channels)
    d["classes"] = classes
    d["layers"][-1 if d["layers"][-1]["type"] == "Dense" else -2]["units"] = classes
    return Topology.from_dict(d, f"{topology.name} adapted")


def load_task(task: Task) -> Tuple[Topology, Splits]:
    path = Path(task.topology)
    topo = load_topology(path if path.exists() else EXAMPLES / task.topology)
    data = load_dataset(task.dataset)
    return adapt(topo, data.length, data.channels, data.classes), Splits.from_dataset(data)


def run_one(task: Task, storage: str, cfg: Optional[Fp8TrainConfig] = None, seed: Optional[int] = None) -> FormatResult:
    """Train ``task``'s model once with DRAM tensors in ``storage`` (``seed``: cfg's by default)."""
    topo, splits = load_task(task)
    cfg = replace(cfg or Fp8TrainConfig(), epochs=task.epochs, batch_size=task.batch_size, optimizer=task.optimizer)
    if task.lr is not None:
        cfg = replace(cfg, lr=task.lr)
    if seed is not None:
        cfg = replace(cfg, seed=seed)
    return train_in_format(lambda: QATNet(topo), splits, storage, cfg)


#: task name -> format -> one result per seed
Results = Dict[str, Dict[str, List[FormatResult]]]


def run(tasks: Sequence[Task], formats: Sequence[str] = STORAGE_NAMES, cfg: Optional[Fp8TrainConfig] = None,
        jobs: int = 1, seeds: Sequence[int] = (0,)) -> Results:
    """Every (task, format, seed) run, ``jobs`` processes at a time (one torch thread each)."""
    runs = [(t, f, s) for t in tasks for f in formats for s in seeds]
    args = ([t for t, _, _ in runs], [f for _, f, _ in runs], [cfg] * len(runs), [s for _, _, s in runs])
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            done = list(pool.map(run_one, *args))
    else:
        done = [run_one(*a) for a in zip(*args)]
    out: Results = {}
    for (t, f, _), r in zip(runs, done):
        out.setdefault(t.name, {}).setdefault(f, []).append(r)
    return out


def _mb(b: float) -> str:
    return f"{b / 1e6:.3f}"


def _mean_std(values: Sequence[float], fmt: str, unit: str = "") -> str:
    """``mean ± std`` (sample std) of several values, the value alone for one."""
    if len(values) == 1:
        return f"{values[0]:{fmt}}{unit}"
    return f"{statistics.mean(values):{fmt}} ± {statistics.stdev(values):.2f}{unit}"


def markdown(results: Results) -> str:
    """One row per (task, format): test accuracy (mean ± std over seeds), its gap to FP32
    (mean ± std of the per-seed differences), DRAM MB per step (total and by tensor class),
    ratio to FP32, number of seeds."""
    head = (["task", "format", "test acc", "Δ vs FP32 (pp)", "DRAM MB/step", "× FP32"] + [f"{c} MB" for c in CLASSES]
            + ["seeds"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task, per in results.items():
        base = per.get("fp32")
        for name, rs in per.items():
            acc = [100 * r.test_acc for r in rs]
            gap = "" if base is None else _mean_std([a - 100 * b.test_acc for a, b in zip(acc, base)], "+.2f")
            total = statistics.mean(r.total_bytes for r in rs)
            base_total = None if base is None else statistics.mean(r.total_bytes for r in base)
            ratio = "" if not base_total else f"{total / base_total:.3f}"
            cls = [_mb(statistics.mean(sum(r.bytes_per_step.get(c, (0.0, 0.0))) for r in rs)) for c in CLASSES]
            lines.append("| " + " | ".join([task, name, _mean_std(acc, ".2f", "%"), gap, _mb(total), ratio] + cls
                                          + [str(len(rs))]) + " |")
    legend = ("Classes: w weights, g weight gradients, a layer outputs, s other tensors saved for backward, "
              "d activation gradients, o optimizer state; MB = 10^6 bytes read + written per training step "
              "after the FP32 calibration epochs. With several seeds: mean ± sample std; Δ is the mean ± std of "
              "the per-seed differences to FP32 (same seed, same data order).")
    return "\n".join(lines) + "\n\n" + legend


def bias_summary(results: Results) -> List[str]:
    """Per task, the adaptive biases chosen (over all seeds), as ``class: min..max``."""
    out = []
    for task, per in results.items():
        by: Dict[str, List[int]] = {}
        for r in per.get("e5m2-adaptive", []):
            for k, b in r.biases.items():
                by.setdefault(k.split(":", 1)[0], []).append(b)
        if by:
            out.append(f"{task}: " + ", ".join(f"{c} {min(v)}..{max(v)}" for c, v in sorted(by.items())))
    return out


def median_summary(results: Results) -> List[str]:
    """Per task, the calibration medians of |x| the adaptive biases came from (over all seeds),
    as ``class: 2^lo..2^hi`` in log2 (E5M2 at bias 15 holds normals down to 2^-14, subnormals
    down to 2^-16)."""
    out = []
    for task, per in results.items():
        by: Dict[str, List[float]] = {}
        for r in per.get("e5m2-adaptive", []):
            for k, m in r.medians.items():
                if m:
                    by.setdefault(k.split(":", 1)[0], []).append(math.log2(m))
        if by:
            out.append(f"{task}: " + ", ".join(f"{c} 2^{min(v):.0f}..2^{max(v):.0f}" for c, v in sorted(by.items())))
    return out
