"""``sustainml-deploy status``: what each board runs (active and previous release, runtime, leftovers)."""
from __future__ import annotations

import argparse
from typing import Any, Dict, Sequence

from ..fleet import Outcome, for_each, session
from ..inventory import BoardEntry
from ..options import add_common, inventory, report, selected

COLUMNS = ("active overlay", "pushed", "runtime", "previous", "staging", "results")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="active / previous overlay, runtime, pending uploads and results per board")
    add_common(p, boards="all-default")
    p.set_defaults(func=run)


def _release(r: Any) -> str:
    return f"{r['name']} [{r['digest'][:12]}]" if r else "none"


def row(o: Outcome) -> Sequence[object]:
    info = o.value
    act = info.get("active")
    return [_release(act), f"{act['pushed_at']} by {act['origin']}" if act else "", act["runtime"] if act else "",
            _release(info.get("previous")), len(info["staging"]), len(info["results"])]


def run(args: argparse.Namespace) -> int:
    inv = inventory(args)

    def one(board: BoardEntry) -> Dict[str, Any]:
        with session(board, inv.known_hosts, args.accept_new_host_key) as remote:
            return remote.info()

    return report(args, "status", COLUMNS, for_each(selected(args, inv), one), row)
