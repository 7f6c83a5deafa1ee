"""``sustainml flow [--config flow.yaml]``: the whole HALF loop on embedded defaults.

search → generate → build → push + smoke test → accuracy on the board → measurement campaign
→ refine the cost model → search again with it → HTML report. Each stage is printed as the
command that re-runs it alone; finished stages are skipped when the flow is run again.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..flow import Flow, FlowOptions
from ..progress import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flow", help="the whole loop: search, generate, build, push, measure, refine, search, report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None, help="flow.yaml overriding host/flow_defaults.yaml")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: flow-out)")
    p.add_argument("--board", default=None,
                   help="inventory board to deploy to and measure on (default: a simulated board on this machine)")
    p.add_argument("--inventory", type=Path, default=None, help="boards.yaml for --board")
    p.add_argument("--hardware", action="store_true", help="build bitstreams with Vitis HLS + Vivado (must be on PATH)")
    p.add_argument("--restart", action="store_true", help="run every stage again, even those already done")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.board and not args.inventory:
        from ..errors import UserError

        raise UserError("--board needs --inventory boards.yaml (see docs/DEPLOY.md)")
    summary = Flow(FlowOptions(args.config, args.out, args.board, args.inventory, args.hardware, args.restart)).run()
    acc = summary["board_accuracy"]
    console.print(f"[bold green]flow done[/]: chosen {summary['chosen']}, accuracy on the "
                  f"{'simulated ' if summary['simulated'] else ''}board {acc['accuracy']:.4f} "
                  f"({acc['samples']} samples); report: {summary['report']}")
    return 0
