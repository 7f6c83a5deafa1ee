"""``sustainml-deploy rollback --board NAME``: make the previous overlay active again."""
from __future__ import annotations

import argparse
from typing import Any, Dict, Sequence

from ..fleet import Outcome, for_each, session
from ..inventory import BoardEntry
from ..options import add_common, inventory, report, selected
from .. import actions

COLUMNS = ("active overlay", "release", "smoke test", "previous")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollback", help="switch back to the previous overlay (atomically) and smoke-test it")
    add_common(p)
    p.set_defaults(func=run)


def row(o: Outcome) -> Sequence[object]:
    v = o.value
    prev = v.get("previous")
    return [v["active"]["name"], v["active"]["release"], f"pass: {v['smoke']['outputs']} outputs bit-exact",
            prev["release"] if prev else "none"]


def run(args: argparse.Namespace) -> int:
    inv = inventory(args)

    def one(board: BoardEntry) -> Dict[str, Any]:
        with session(board, inv.known_hosts, args.accept_new_host_key) as remote:
            return actions.rollback(remote)

    return report(args, "rollback", COLUMNS, for_each(selected(args, inv), one), row)
