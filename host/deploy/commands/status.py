"""``sustainml-deploy status``: what each board runs (active and previous release, runtime, leftovers)."""
from __future__ import annotations

import argparse
from typing import Any, Sequence

from ..fleet import Outcome
from ..options import add_common, board_infos, report

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
    return report(args, "status", COLUMNS, board_infos(args), row)
