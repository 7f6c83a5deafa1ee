"""Board / part catalogue (``catalogue.yaml`` next to this module).

One entry per board: FPGA part, its resources, the PS type (``ps7`` = Zynq-7000
``processing_system7``; ``ps8`` = Zynq UltraScale+ ``zynq_ultra_ps_e``), default PL clock, the
width of the PS high-performance port the DNNU's DMA masters use, and which power rails PYNQ
can read, and plausibility bounds for measured power (``power_w``: idle range, busy maximum;
the on-board test battery checks measurements against them). The generator, the cost model
and the NAS all budget against these numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from sustainml.errors import SustainmlError

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
RESOURCES = ("lut", "ff", "bram36", "uram", "dsp")
PS_TYPES = ("ps7", "ps8")


class UnknownBoardError(SustainmlError, KeyError):
    """A board name is not in the catalogue; the message lists the known boards."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class CatalogueError(SustainmlError, ValueError):
    """The catalogue file itself is malformed."""


@dataclass(frozen=True)
class Board:
    """A catalogue entry."""

    name: str
    description: str
    part: str
    board_part: str
    family: str
    ps: str
    resources: Tuple[Tuple[str, int], ...]
    clock_mhz: float
    hp_port_bits: int
    rails: Tuple[str, ...]
    #: (idle_lo, idle_hi, busy_max) in W; None when the catalogue gives no bounds.
    power_w: Optional[Tuple[float, float, float]] = None

    def resource(self, kind: str) -> int:
        return dict(self.resources)[kind]

    @property
    def budget(self) -> Dict[str, int]:
        return dict(self.resources)

    @property
    def has_rails(self) -> bool:
        return bool(self.rails)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "description": self.description, "part": self.part,
                "board_part": self.board_part, "family": self.family, "ps": self.ps,
                "resources": dict(self.resources), "clock_mhz": self.clock_mhz,
                "hp_port_bits": self.hp_port_bits, "rails": list(self.rails),
                "power_w": None if self.power_w is None else
                {"idle": list(self.power_w[:2]), "busy_max": self.power_w[2]}}


def _entry(name: str, doc: Any, source: str) -> Board:
    where = f"{source}: board {name!r}"
    if not isinstance(doc, dict):
        raise CatalogueError(f"{where}: expected a mapping")
    missing = [k for k in ("part", "ps", "resources", "clock_mhz", "hp_port_bits") if k not in doc]
    if missing:
        raise CatalogueError(f"{where}: missing field(s) {missing}")
    if doc["ps"] not in PS_TYPES:
        raise CatalogueError(f"{where}: ps={doc['ps']!r} (known: {', '.join(PS_TYPES)})")
    res = doc["resources"]
    if not isinstance(res, dict) or sorted(res) != sorted(RESOURCES):
        raise CatalogueError(f"{where}: resources must give exactly {', '.join(RESOURCES)}")
    if any(not isinstance(v, int) or v < 0 for v in res.values()):
        raise CatalogueError(f"{where}: resources must be non-negative integers")
    return Board(name=name, description=str(doc.get("description", name)), part=str(doc["part"]),
                 power_w=_power_bounds(doc.get("power_w"), where),
                 board_part=str(doc.get("board_part", "")), family=str(doc.get("family", "")), ps=doc["ps"],
                 resources=tuple((k, int(res[k])) for k in RESOURCES), clock_mhz=float(doc["clock_mhz"]),
                 hp_port_bits=int(doc["hp_port_bits"]), rails=tuple(doc.get("rails") or ()))


def _power_bounds(doc: Any, where: str) -> Optional[Tuple[float, float, float]]:
    if doc is None:
        return None
    try:
        lo, hi = (float(v) for v in doc["idle"])
        busy = float(doc["busy_max"])
    except (TypeError, KeyError, ValueError):
        raise CatalogueError(f"{where}: power_w must be {{idle: [lo, hi], busy_max: W}}") from None
    if not 0 <= lo < hi <= busy:
        raise CatalogueError(f"{where}: power_w needs 0 <= idle lo < idle hi <= busy_max, got {doc}")
    return lo, hi, busy


@lru_cache(maxsize=None)
def _load(path: str) -> Dict[str, Board]:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: expected a mapping of board name to entry")
    return {name: _entry(name, doc, path) for name, doc in data.items()}


def boards(path: Path = CATALOGUE) -> List[str]:
    """Known board names, in catalogue order."""
    return list(_load(str(path)))


def get_board(name: str, path: Path = CATALOGUE) -> Board:
    """The catalogue entry of ``name``; raises :class:`UnknownBoardError` listing the known ones."""
    table = _load(str(path))
    if name not in table:
        raise UnknownBoardError(f"unknown board {name!r} (known: {', '.join(table)})")
    return table[name]
