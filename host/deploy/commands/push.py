"""``sustainml-deploy push BUNDLE --board NAME [--board NAME ...] | --all``: deploy an overlay bundle."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from sustainml.host.progress import console

from ..fleet import Outcome
from ..inventory import BoardEntry
from ..options import add_common, inventory, report, selected
from ..push import push
from ..runtime_wheel import RuntimeWheel, build_runtime_wheel

COLUMNS = ("result", "overlay", "digest", "smoke test", "runtime", "seconds")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="upload, verify, smoke-test and activate an overlay bundle on boards")
    p.add_argument("bundle", type=Path, help="overlay bundle directory (overlays/NAME)")
    add_common(p)
    p.add_argument("--runtime-wheel", type=Path, metavar="WHL",
                   help="board runtime wheel to install (default: built from this project's source)")
    p.set_defaults(func=run)


def row(o: Outcome) -> Sequence[object]:
    v = o.value
    smoke = v["smoke"]
    return ["ok", v["release"]["name"], v["release"]["digest"][:12],
            f"pass: {smoke['outputs']} outputs bit-exact ({smoke['samples']} samples)",
            v["runtime"] + (" (installed)" if v["installed_runtime"] else ""), f"{o.seconds:.1f}"]


def finished(o: Outcome) -> str:
    """The line printed the moment one board's push ends."""
    if not o.ok:
        return f"{o.board.name}: FAILED ({o.kind}) after {o.seconds:.1f} s"
    v = o.value
    return f"{o.board.name}: ok, {v['release']['name']} {v['release']['digest'][:12]} active after {o.seconds:.1f} s"


def run(args: argparse.Namespace) -> int:
    inv = inventory(args)
    boards = selected(args, inv)
    wheel = RuntimeWheel.from_file(args.runtime_wheel) if args.runtime_wheel else build_runtime_wheel()
    if args.json:
        outcomes = push(args.bundle, boards, wheel, inv.known_hosts, args.accept_new_host_key)
    else:
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=console, transient=True) as prog:
            tasks = {b.name: prog.add_task(escape(b.name), total=None, info="waiting") for b in boards}

            def step(board: BoardEntry, what: str) -> None:
                prog.update(tasks[board.name], info=escape(what))

            def done(o: Outcome) -> None:
                prog.update(tasks[o.board.name], info="done" if o.ok else "FAILED")
                prog.console.print(finished(o), markup=False, highlight=False, soft_wrap=True)
                prog.console.file.flush()

            outcomes = push(args.bundle, boards, wheel, inv.known_hosts, args.accept_new_host_key, step, done)
    return report(args, f"push {args.bundle}", COLUMNS, outcomes, row)
