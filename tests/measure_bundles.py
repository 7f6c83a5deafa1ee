"""Test helpers for measurement campaigns: many sim bundles of varied designs, built in milliseconds.

The simulated board's cycle and power model reads a bundle's stages (with their unrolling)
from the manifest, so timing/power campaigns need varied *stage lists*, not varied arithmetic.
These bundles carry the stages of random ECG-sized topologies at random legal unrollings and
share one compiled protocol test kernel (tests/sim_bundles.py) as their C simulation; their
outputs are the kernel's, never a model's. The benchmark script (scripts/bench_refine.py)
measures real HLS C-simulation designs instead.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List

import numpy as np

from sim_bundles import PROTOCOL_KERNEL, compile_kernel, protocol_reference, write_sim_bundle
from sustainml.host.measure.designs import random_topology
from sustainml.nas.costmodel import unroll_dims
from sustainml.nas.folding import divisors
from sustainml.nas.quantized import Stage, plan_stages

LENGTH, CLASSES = 140, 5
IO = {"input": {"shape": [LENGTH, 1], "dtype": "int8", "bits": 8, "signed": True, "frac": 5},
      "output": {"shape": [CLASSES], "dtype": "int32", "bits": 32, "signed": True, "frac": 0}}


def random_unrolling(stages: List[Stage], rng: np.random.Generator, max_mults: int = 32) -> List[Stage]:
    """Each stage at a random legal (pe, simd, kp), at most ``max_mults`` multipliers per stage."""
    out = []
    for s in stages:
        dp, ds, dk = unroll_dims(s)
        opts = [(p, q, k) for p in divisors(dp) for q in divisors(ds) for k in divisors(dk) if p * q * k <= max_mults]
        p, q, k = opts[int(rng.integers(len(opts)))]
        out.append(dataclasses.replace(s, pe=p, simd=q, kp=k))
    return out


def timing_bundles(root: Path, board: str, part: str, n: int, seed: int = 0, clock_mhz: float = 100.0) -> List[Path]:
    """``n`` sim bundles for ``board`` with the stages of varied designs (see module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    lib = root / "kernel.so"
    if not lib.exists():
        compile_kernel(PROTOCOL_KERNEL, lib, {"LEN": LENGTH, "CLASSES": CLASSES})
    rng = np.random.default_rng(seed)
    gin = rng.integers(-128, 128, size=(2, LENGTH, 1)).astype(np.int8)
    out = []
    for i in range(n):
        name = f"t{seed}_{i:02d}"
        stages = random_unrolling(plan_stages(random_topology(rng, LENGTH, 1, CLASSES, name)), rng)
        out.append(write_sim_bundle(root / board / name, lib, name, board, part, IO, [s.to_dict() for s in stages],
                                    (gin, protocol_reference(gin, CLASSES)), clock_mhz=clock_mhz))
    return out


def bundle_for(root: Path, name: str, board: str, part: str, stages: List[Stage], clock_mhz: float = 100.0) -> Path:
    """One timing bundle with the given stages (e.g. a folding's choice)."""
    lib = root / "kernel.so"
    if not lib.exists():
        root.mkdir(parents=True, exist_ok=True)
        compile_kernel(PROTOCOL_KERNEL, lib, {"LEN": LENGTH, "CLASSES": CLASSES})
    gin = np.zeros((2, LENGTH, 1), np.int8)
    return write_sim_bundle(root / board / name, lib, name, board, part, IO, [s.to_dict() for s in stages],
                            (gin, protocol_reference(gin, CLASSES)), clock_mhz=clock_mhz)
