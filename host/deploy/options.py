"""Options every ``sustainml-deploy`` command shares, and how they turn into boards to act on."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from rich.markup import escape

from sustainml.host.progress import table

from .fleet import Outcome, for_each, session
from .inventory import ENV_VAR, BoardEntry, Inventory, load_inventory


def add_common(p: argparse.ArgumentParser, boards: str = "many") -> None:
    """``boards``: "one" (exactly one --board), "many" (--board repeatable or --all) or "all-default"."""
    p.add_argument("--inventory", metavar="PATH", help=f"board inventory (default ${ENV_VAR}, else ./boards.yaml)")
    p.add_argument("--known-hosts", metavar="PATH", type=Path,
                   help="known_hosts file host keys are checked against (default: the inventory's, else ~/.ssh/known_hosts)")
    p.add_argument("--accept-new-host-key", action="store_true",
                   help="first contact: record a board's unknown host key (a changed key is always refused)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    if boards == "one":
        p.add_argument("--board", required=True, metavar="NAME", help="inventory board name")
    else:
        p.add_argument("--board", action="append", default=[], metavar="NAME",
                       help="inventory board name (repeatable)" + ("; default: all" if boards == "all-default" else ""))
        p.add_argument("--all", action="store_true", help="every board in the inventory")
    p.set_defaults(all_by_default=boards == "all-default")


def inventory(args: argparse.Namespace) -> Inventory:
    return load_inventory(args.inventory, args.known_hosts)


def selected(args: argparse.Namespace, inv: Inventory) -> List[BoardEntry]:
    names = [args.board] if isinstance(args.board, str) else args.board
    everything = getattr(args, "all", False) or (not names and args.all_by_default)
    return inv.select(names, everything)


def board_infos(args: argparse.Namespace) -> List[Outcome]:
    """The agent's ``info`` of every selected board, concurrently (``boards`` and ``status``)."""
    inv = inventory(args)

    def probe(board: BoardEntry) -> Dict[str, Any]:
        with session(board, inv.known_hosts, args.accept_new_host_key) as remote:
            return remote.info()

    return for_each(selected(args, inv), probe)


def report(args: argparse.Namespace, title: str, columns: Sequence[str], outcomes: Sequence[Outcome],
           row: Callable[[Outcome], Sequence[object]]) -> int:
    """One table row per board (``row(outcome)``: a cell per column) or JSON; each error also goes to
    stderr as one line.

    Returns 0 when every board succeeded, 1 otherwise.
    """
    if args.json:
        doc: Dict[str, Any] = {o.board.name: ({"ok": True, **o.value} if o.ok else
                                              {"ok": False, "kind": o.kind, "error": o.error}) for o in outcomes}
        print(json.dumps(doc, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
    else:
        rows = [[o.board.name, *(row(o) if o.ok else [f"FAILED ({o.kind})"] + [""] * (len(columns) - 1))]
                for o in outcomes]  # cells are data, never rich markup ("[bf39...]" is a digest)
        table(escape(title), ["board", *columns], [[escape(str(c)) for c in r] for r in rows])
    for o in outcomes:
        if not o.ok:
            print(f"sustainml-deploy: error: {o.error}", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1
