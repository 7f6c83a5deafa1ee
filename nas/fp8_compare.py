"""The FP8 comparison: the same models trained with DRAM tensors in FP32, FP16, BF16, FP8 E5M2
(fixed bias 15), FP8 E4M3 and FP8 E5M2 with the adaptive bias; accuracy and DRAM bytes per
step as a markdown table (``sustainml fp8-bench``, ``scripts/bench_fp8.py``).

Tasks are IR topologies on UCR datasets; a topology's input length and class count are adapted
to the dataset. The seed's image models (VGG-16, ResNet18, MobileNet-V2, GoogleNet on
CIFAR-100/TinyImageNet) cannot be downloaded here; :func:`train_in_format` takes any torch
module and :meth:`Splits.from_torch_datasets` any torchvision-style dataset present locally.
"""
from __future__ import annotations

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


#: Reference model on ECG5000, the same model on a second UCR task, a larger VGG-style model.
DEFAULT_TASKS = (
    Task("ecg_baseline/ECG5000", "ecg_baseline.yaml", "ECG5000", epochs=30, batch_size=32),
    Task("ecg_baseline/FordA", "ecg_baseline.yaml", "FordA", epochs=12, batch_size=64),
    Task("vgg1d/ECG5000", "vgg1d.yaml", "ECG5000", epochs=20, batch_size=32),
)


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


def run_one(task: Task, storage: str, cfg: Optional[Fp8TrainConfig] = None) -> FormatResult:
    """Train ``task``'s model once with DRAM tensors in ``storage``."""
    topo, splits = load_task(task)
    cfg = replace(cfg or Fp8TrainConfig(), epochs=task.epochs, batch_size=task.batch_size)
    return train_in_format(lambda: QATNet(topo), splits, storage, cfg)


def run(tasks: Sequence[Task], formats: Sequence[str] = STORAGE_NAMES, cfg: Optional[Fp8TrainConfig] = None,
        jobs: int = 1) -> Dict[str, Dict[str, FormatResult]]:
    """Every (task, format) run, ``jobs`` processes at a time (one torch thread each)."""
    pairs = [(t, f) for t in tasks for f in formats]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            done = list(pool.map(run_one, [t for t, _ in pairs], [f for _, f in pairs], [cfg] * len(pairs)))
    else:
        done = [run_one(t, f, cfg) for t, f in pairs]
    out: Dict[str, Dict[str, FormatResult]] = {}
    for (t, f), r in zip(pairs, done):
        out.setdefault(t.name, {})[f] = r
    return out


def _mb(b: float) -> str:
    return f"{b / 1e6:.3f}"


def markdown(results: Dict[str, Dict[str, FormatResult]]) -> str:
    """One row per (task, format): test accuracy, its gap to FP32, DRAM MB per step (total and
    by tensor class), ratio to FP32."""
    head = ["task", "format", "test acc", "Δ vs FP32 (pp)", "DRAM MB/step", "× FP32"] + [f"{c} MB" for c in CLASSES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task, per in results.items():
        base = per.get("fp32")
        for name, r in per.items():
            gap = "" if base is None else f"{100 * (r.test_acc - base.test_acc):+.2f}"
            ratio = "" if base is None or not base.total_bytes else f"{r.total_bytes / base.total_bytes:.3f}"
            cls = [_mb(sum(r.bytes_per_step.get(c, (0.0, 0.0)))) for c in CLASSES]
            lines.append("| " + " | ".join([task, name, f"{100 * r.test_acc:.2f}%", gap, _mb(r.total_bytes), ratio] + cls) + " |")
    legend = ("Classes: w weights, g weight gradients, a layer outputs, s other tensors saved for backward, "
              "d activation gradients, o optimizer state; MB = 10^6 bytes read + written per training step "
              "after the FP32 calibration epochs.")
    return "\n".join(lines) + "\n\n" + legend


def bias_summary(results: Dict[str, Dict[str, FormatResult]]) -> List[str]:
    """Per task, the adaptive biases chosen, as ``class: min..max``."""
    out = []
    for task, per in results.items():
        r = per.get("e5m2-adaptive")
        if r is None or not r.biases:
            continue
        by: Dict[str, List[int]] = {}
        for k, b in r.biases.items():
            by.setdefault(k.split(":", 1)[0], []).append(b)
        out.append(f"{task}: " + ", ".join(f"{c} {min(v)}..{max(v)}" for c, v in sorted(by.items())))
    return out
