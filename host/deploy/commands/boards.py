"""``sustainml-deploy boards``: reachability, part, PYNQ and Python versions, free disk, active overlay."""
from __future__ import annotations

import argparse
from typing import Any, Dict, Sequence

from ..fleet import Outcome
from ..inventory import BoardEntry
from ..options import add_common, board_infos, report
from ..push import reported_part

COLUMNS = ("address", "board / part", "PYNQ", "Python", "free disk", "active overlay")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("boards", help="check the boards: reachable, part, PYNQ/Python versions, disk, overlay")
    add_common(p, boards="all-default")
    p.set_defaults(func=run)


def part_check(board: BoardEntry, info: Dict[str, Any]) -> str:
    """The declared board and part, and whether the board itself agrees."""
    declared = f"{board.board} {board.part}"
    reported, part = reported_part(info)
    if board.simulated:
        return f"{declared} (simulated)"
    if not reported:
        return f"{declared} (not reported by the board)"
    if not part:
        return f"{declared} (board says {reported}: unknown)"
    return f"{declared} ({'ok' if part.lower() == board.part.lower() else f'MISMATCH: board says {reported} {part}'})"


def row(o: Outcome) -> Sequence[object]:
    info = o.value
    act = info.get("active")
    return [o.board.address, part_check(o.board, info), info.get("pynq") or "missing", info["python"],
            f"{info['free_bytes'] / 2**20:.0f} MB",
            f"{act['name']} ({act['kind']}, {act['pushed_at']})" if act else "none"]


def run(args: argparse.Namespace) -> int:
    return report(args, "boards", COLUMNS, board_infos(args), row)
