"""Host side of rtlsim: build a project's Verilated DNNU and open it for calls.

Contract: :func:`open_project` builds (cached, :mod:`.verilator`) and opens the DNNU of an RTL
project folder; calls go through :class:`~sustainml.board.sim.rtlsim.Rtlsim` (``run`` /
``run_bytes``: outputs plus the cycles from ap_start to ap_done). :data:`MEMORY_DEFAULTS` is the
documented default memory model per PS family, what ``build --rtlsim`` records in the bundle.
"""
from __future__ import annotations

from typing import Tuple

from sustainml.board.sim.rtlsim import MemoryModel, Rtlsim, RunResult

from . import verilator
from .top import RtlProject

#: Default memory model per PS family (catalogue ``ps``). Assumed figures, not measured here: a
#: DDR read through an HP port and the PS interconnect takes tens of PL cycles at 100-200 MHz
#: (the paths are described in the Zynq-7000 TRM, UG585, and the Zynq UltraScale+ TRM, UG1085);
#: we take 40 cycles (ps7) and 30 cycles (ps8) to the first read beat, 20 / 16 cycles from a
#: write burst's last beat to its response, no stalls.
MEMORY_DEFAULTS = {"ps7": MemoryModel(40, 20), "ps8": MemoryModel(30, 16)}

__all__ = ["MEMORY_DEFAULTS", "MemoryModel", "Rtlsim", "RunResult", "open_project"]


def open_project(project: RtlProject, design: str, stalls: bool = False) -> Tuple[Rtlsim, verilator.RtlLibrary]:
    """Build (or reuse) the rtlsim library of ``project`` and open it with its ROM files;
    ``stalls`` builds the variant with stall injectors on every internal stream."""
    lib = verilator.build(project.folder, project.sources, design, stalls)
    return Rtlsim(lib.path, project.folder, design), lib
