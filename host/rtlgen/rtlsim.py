"""Host side of rtlsim: build a project's Verilated DNNU and run integer batches through it.

Contract: :func:`open_project` builds (cached, :mod:`.verilator`) and opens the DNNU of an RTL
project folder; :func:`run_model_io` runs container-typed inputs (N, L, C) and returns the
outputs and per-call :class:`~sustainml.board.sim.rtlsim.RunResult` (cycles from ap_start to
ap_done). :data:`MEMORY_DEFAULTS` is the documented default memory model per PS family.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from sustainml.board.sim.rtlsim import MemoryModel, Rtlsim, RunResult

from . import verilator
from .top import RtlProject

#: Default memory model per PS family (catalogue ``ps``). Assumed figures, not measured here: a
#: DDR read through an HP port and the PS interconnect takes tens of PL cycles at 100-200 MHz
#: (the paths are described in the Zynq-7000 TRM, UG585, and the Zynq UltraScale+ TRM, UG1085);
#: we take 40 cycles (ps7) and 30 cycles (ps8) to the first read beat, 20 / 16 cycles from a
#: write burst's last beat to its response, no stalls.
MEMORY_DEFAULTS = {"ps7": MemoryModel(40, 20), "ps8": MemoryModel(30, 16)}

__all__ = ["MEMORY_DEFAULTS", "MemoryModel", "Rtlsim", "RunResult", "open_project", "run_model_io"]


def open_project(project: RtlProject, design: str, stalls: bool = False) -> Tuple[Rtlsim, verilator.RtlLibrary]:
    """Build (or reuse) the rtlsim library of ``project`` and open it with its ROM files."""
    lib = verilator.build(project.folder, project.sources, design, stalls)
    return Rtlsim(lib.path, project.folder, design), lib


def run_model_io(sim: Rtlsim, x: np.ndarray, out_shape: Sequence[int], out_dtype: np.dtype,
                 memory: MemoryModel = MemoryModel(), chunk: int = 0) -> Tuple[np.ndarray, List[RunResult]]:
    """Outputs and per-call results for container-typed inputs ``x`` (N, L, C)."""
    return sim.run(np.ascontiguousarray(x), tuple(out_shape), np.dtype(out_dtype), memory, chunk)


def project_of(folder: Path) -> List[str]:
    """Compile-order sources of a written project folder (its ``sources.txt``)."""
    return [ln for ln in (Path(folder) / "sources.txt").read_text().splitlines() if ln.strip()]
