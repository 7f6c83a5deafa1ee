"""``sustainml report --db DB --out DIR``: a static HTML page of a measurements database, with PNG plots.

Per board: predicted vs measured latency and power (prior, and refined on held-out designs),
the latency distribution of every overlay, and the Pareto front before and after refinement.
Open ``DIR/index.html`` in a browser.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..measure.db import open_existing
from ..measure.refine import STATS
from ..measure.report import write_report
from ..progress import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML report with plots of a measurements database",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, required=True, help="measurements database")
    p.add_argument("--out", type=Path, required=True, help="output directory (index.html + PNGs)")
    p.add_argument("--board", action="append", default=None, help="only this board (repeatable; default: all)")
    p.add_argument("--folds", type=int, default=4, help="k of the k-fold held-out error (default 4)")
    p.add_argument("--stat", choices=STATS, default="min", help="latency statistic per call (default min)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_existing(args.db) as db:
        with console.status("plotting ..."):
            index = write_report(db, args.out, args.board, args.stat, args.folds)
    console.print(f"report: {index}")
    return 0
