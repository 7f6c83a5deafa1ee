"""Overlays for a campaign that are built on the fly (simulated boards only).

* a NAS run's Pareto set (``RUN_DIR/pareto/<point>/``): each point is generated for the board
  (``sustainml generate --backend rtl``) and built as an rtlsim bundle (``sustainml build --rtlsim``),
  so the simulated board times it by the circuit's own cycle count (Verilator);
* *calibration designs*: ``n`` random topologies (conv / depthwise-separable / pooling /
  dense mixes, widths, kernels, bit widths) with random-weight parameters
  (:func:`sustainml.nas.synthetic.random_quantized_model`), each at an unrolling between fully
  folded and the fastest that fits, and at one of a few PL clocks. Latency and power do not
  depend on weight values, so these cover the cost model's feature space far better than a
  handful of trained models would.

``backend="hls"`` builds C-simulation bundles instead (fast, bit-exact, but without hardware timing
on the simulated board). Bitstream bundles need Vivado; for real boards list already built
bundles instead. Builds are cached: a bundle already under the work directory is reused (its
manifest hash identifies it in the database either way), and Verilator libraries are cached by
content hash (:mod:`sustainml.host.rtlgen.verilator`).
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from sustainml.board.bundle import MANIFEST
from sustainml.nas.catalogue import get_board
from sustainml.nas.folding import Folder, FoldingError
from sustainml.nas.quantized import plan_stages
from sustainml.nas.synthetic import random_quantized_model
from sustainml.nas.topology import Topology

from ..errors import UserError

Log = Callable[[str], None]
CLOCKS_MHZ = (50.0, 100.0, 125.0)
#: Campaign build backends: ``rtl`` (rtlsim bundle, the default) or ``hls`` (C-simulation bundle).
BACKENDS = ("rtl", "hls")


def _quiet(_: str) -> None:
    pass


def _build(model_dir: Optional[Path], model: Any, board: str, build_dir: Path, out_root: Path, name: str,
           objective: str = "dsp", target_fps: Optional[float] = None, clock_mhz: Optional[float] = None,
           calibration: Any = None, backend: str = "rtl") -> Path:
    from ..build import build_sim
    from ..generate import generate
    from ..rtlgen.bundle import build_rtlsim

    if backend not in BACKENDS:
        raise UserError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    dst = out_root / name
    if (dst / MANIFEST).is_file():
        return dst
    generate(model_dir or build_dir / "none", build_dir, board, objective=objective, target_fps=target_fps,
             clock_mhz=clock_mhz, calibration=calibration, model=model, name=name, backend=backend)
    return (build_rtlsim if backend == "rtl" else build_sim)(build_dir, out_root, name=name, echo=_quiet)


_KIND = {"rtl": "rtlsim", "hls": "sim"}


def _parallel(jobs: List[Callable[[], Path]], log: Log) -> List[Path]:
    out: List[Path] = []
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:  # g++ runs in subprocesses
        for i, p in enumerate(pool.map(lambda j: j(), jobs)):
            log(f"  [{i + 1}/{len(jobs)}] {p.name}")
            out.append(p)
    return out


# ---------------------------------------------------------------------------------- Pareto sets
def pareto_points(run_dir: Path) -> List[Path]:
    """The model directories of a NAS run's Pareto set."""
    root = run_dir / "pareto"
    points = sorted(p for p in root.glob("*") if (p / "model.yaml").is_file()) if root.is_dir() else []
    if not points:
        raise UserError(f"{run_dir}: no Pareto set (expected {root}/<point>/model.yaml from `sustainml search`)")
    return points


def build_pareto(run_dir: Path, board: str, work: Path, objective: str = "latency", log: Log = _quiet,
                 backend: str = "rtl") -> List[Path]:
    """Bundles (rtlsim, or sim for ``backend="hls"``) of every Pareto point of ``run_dir`` for ``board``
    (cached under ``work``)."""
    points = pareto_points(run_dir)
    tag = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]
    jobs = []
    for p in points:
        digest = hashlib.sha256((p / "model.yaml").read_bytes() + (p / "weights.npz").read_bytes()
                                + objective.encode() + backend.encode()).hexdigest()[:10]
        name = f"{p.name}-{digest}"
        jobs.append(lambda p=p, name=name: _build(p, None, board, work / "builds" / board / tag / name,
                                                  work / "overlays" / board, name, objective, backend=backend))
    log(f"building {len(jobs)} Pareto point(s) of {run_dir} for {board} ({_KIND[backend]})")
    return _parallel(jobs, log)


# ---------------------------------------------------------------------------------- calibration
def random_topology(rng: np.random.Generator, length: int, channels: int, classes: int, name: str) -> Topology:
    """A random 1D-CNN in the shape the NAS explores (1-3 blocks, pooling, dense classifier)."""
    layers: List[Dict[str, Any]] = []
    cur = length
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.choice([3, 5, 7]))
        wb, ab = int(rng.integers(3, 9)), int(rng.integers(4, 9))
        kind = str(rng.choice(["Conv1D", "DepthwiseSeparableConv1D"]))
        layers += [{"type": kind, "filters": int(rng.choice([4, 6, 8, 12, 16])), "kernel": k, "padding": k // 2,
                    "weight_bits": wb, "act_bits": ab}, {"type": "ReLU"}]
        if cur >= 16 and rng.random() < 0.6:
            pool = int(rng.choice([2, 4]))
            layers.append({"type": str(rng.choice(["MaxPool1D", "AvgPool1D"])), "pool": pool})
            cur //= pool
    if rng.random() < 0.5:
        layers.append({"type": "GlobalAvgPool1D"})
    layers.append({"type": "Dense", "units": classes, "weight_bits": int(rng.integers(4, 9)), "act_bits": 16})
    return Topology.from_dict({"name": name, "input": {"length": length, "channels": channels, "bits": 8},
                               "classes": classes, "layers": layers})


def _target_fps(model: Any, board: str, clock_mhz: float, rng: np.random.Generator) -> Optional[float]:
    """A throughput between fully folded and the fastest that fits (None: stay folded)."""
    try:
        f = Folder(plan_stages(model.topology), board, clock_mhz=clock_mhz)
        t_min, _ = f.min_interval()
    except FoldingError:
        return None
    t_max = max(f.intervals)
    if t_max <= t_min:
        return None
    t = t_min * (t_max / t_min) ** float(rng.random())
    return clock_mhz * 1e6 / t


def build_calibration(board: str, n: int, work: Path, seed: int = 0, length: int = 140, channels: int = 1,
                      classes: int = 5, log: Log = _quiet, backend: str = "rtl") -> List[Path]:
    """``n`` calibration bundles (rtlsim; sim for ``backend="hls"``) for ``board`` (see module
    docstring); deterministic per seed."""
    if n < 1:
        raise UserError(f"calibration: n={n} must be >= 1")
    get_board(board)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, length, channels))
    jobs = []
    for i in range(n):
        name = f"cal-{board}-s{seed}-{i:03d}" + ("" if backend == "rtl" else "-hls")
        topo = random_topology(rng, length, channels, classes, name)
        clock = float(rng.choice(CLOCKS_MHZ))
        model = random_quantized_model(topo, seed=seed * 1000 + i, x_calib=x)
        fps = _target_fps(model, board, clock, rng) if rng.random() < 0.75 else None
        jobs.append(lambda model=model, name=name, clock=clock, fps=fps: _build(
            None, model, board, work / "builds" / board / name, work / "overlays" / board, name,
            "dsp" if fps is None else "latency", fps, clock, x, backend))
    log(f"building {n} calibration design(s) for {board} ({_KIND[backend]}, seed {seed})")
    return _parallel(jobs, log)
