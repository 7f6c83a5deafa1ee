"""Test helpers: small rtlsim bundles (Verilated RTL, libraries cached by content) for the tests
that need hardware time or power, which only a circuit has on the simulated board."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np

from random_models import SMALL, random_model
from sustainml.host.generate import generate
from sustainml.host.rtlgen.bundle import build_rtlsim
from sustainml.nas.topology import Topology

PARTS: Dict[str, str] = {"pynq-z2": "xc7z020clg400-1", "zcu104": "xczu7ev-ffvc1156-2-e"}


def small_rtlsim(root: Path, board: str = "pynq-z2", clock_mhz: float = 100.0, name: str = "",
                 topology: Topology = SMALL, seed: int = 7, objective: str = "latency",
                 cost_model: Optional[Path] = None) -> Path:
    """An rtlsim bundle of ``topology`` (random weights, ``seed``) for ``board`` under ``root``,
    unrolled by the generator for ``objective`` with ``cost_model`` (default: the prior)."""
    name = name or f"{topology.name}_{board.replace('-', '')}_{objective}_{int(clock_mhz)}"
    model_dir = root / "models" / f"{topology.name}{seed}"
    if not model_dir.is_dir():
        random_model(topology, seed=seed).save(model_dir)
    cal = np.random.default_rng(0).normal(size=(64, topology.input.length, topology.input.channels))
    generate(model_dir, root / "build" / name, board, objective=objective, calibration=cal, clock_mhz=clock_mhz,
             backend="rtl", name=name, cost_model=cost_model)
    return build_rtlsim(root / "build" / name, root / "overlays", name=name, echo=lambda _: None)
