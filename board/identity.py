"""Which board this is: name, FPGA part and PS type (``boards.yaml`` next to this module).

On a PYNQ image the board name comes from ``$BOARD`` or ``/proc/device-tree/chosen/pynq_board``;
the simulated device carries its own. The part is what a bundle is checked against.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from .errors import BoardError

BOARDS = Path(__file__).with_name("boards.yaml")
DT_BOARD = Path("/proc/device-tree/chosen/pynq_board")


@dataclass(frozen=True)
class BoardInfo:
    name: str
    part: str
    ps: str  # ps7 (Zynq-7000) | ps8 (Zynq UltraScale+)

    @property
    def arch(self) -> str:
        """``platform.machine()`` of the board's CPU (what pynq.ps.Clocks dispatches on)."""
        return "armv7l" if self.ps == "ps7" else "aarch64"


@lru_cache(maxsize=1)
def _table() -> Dict[str, Dict[str, Any]]:
    return yaml.safe_load(BOARDS.read_text())


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def lookup(name: str) -> BoardInfo:
    """The board called ``name`` (catalogue name or PYNQ's $BOARD spelling, any case)."""
    for key, e in _table().items():
        if _norm(name) in [_norm(key)] + [_norm(n) for n in e.get("pynq_board", [])]:
            return BoardInfo(key, e["part"], e["ps"])
    raise BoardError(f"board {name!r} is unknown (known: {', '.join(_table())})")


def on_real_board() -> bool:
    """True on a PYNQ image (device tree names a board, or an FPGA manager is present)."""
    return DT_BOARD.exists() or Path("/sys/class/fpga_manager/fpga0/firmware").exists()


def detect(device: Any = None) -> Optional[BoardInfo]:
    """The board of ``device`` (the sim device names it), else of this PYNQ image, else None."""
    sim_board = getattr(device, "board", None)
    if isinstance(sim_board, BoardInfo):
        return sim_board
    name = os.environ.get("BOARD")
    if not name and DT_BOARD.exists():
        name = DT_BOARD.read_text().strip("\x00\n ")
    return lookup(name) if name else None
