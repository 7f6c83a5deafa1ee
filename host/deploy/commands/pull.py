"""``sustainml-deploy pull``: fetch results and measurements from the boards' results/ directories."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Sequence

from ..fleet import Outcome, for_each, session
from ..inventory import BoardEntry
from ..options import add_common, inventory, report, selected
from .. import actions

COLUMNS = ("fetched", "on board", "into")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pull", help="fetch new files from each board's results/ into DEST/BOARD/")
    add_common(p, boards="all-default")
    p.add_argument("--dest", type=Path, default=Path("results"), help="local directory (default: ./results)")
    p.set_defaults(func=run)


def row(o: Outcome) -> Sequence[object]:
    return [len(o.value["fetched"]), o.value["on_board"], o.value["dest"]]


def run(args: argparse.Namespace) -> int:
    inv = inventory(args)

    def one(board: BoardEntry) -> Dict[str, Any]:
        with session(board, inv.known_hosts, args.accept_new_host_key) as remote:
            return actions.pull(remote, args.dest)

    return report(args, "pull", COLUMNS, for_each(selected(args, inv), one), row)
