"""``sustainml refine --db DB --board NAME [--out cost-model.yaml]``: fit a board's cost model to measurements.

Fits the board's latency (the driver's fixed overhead per call and per-byte transfer, fitted on host
time; the hardware on its own time: for rtlsim designs the RTL pipeline form, start cycles, fill
and interval scales, per-stage cycles, else the template form's cycles per fold-loop trip by kind),
resource terms on Yosys counts of the designs' Verilog (``--synth``: DSP/BRAM mapping rules, LUT and
FF terms) and power coefficients (static, dynamic per DSP/LUT/FF/BRAM) with robust fits,
prints the prediction error before (prior) and after refinement on held-out designs (k-fold
by design: MAPE and max), and writes the coefficients fitted on every design. Default output:
where ``sustainml search`` and ``sustainml generate`` look for refined coefficients first
(``$SUSTAINML_COST_MODELS/<board>.yaml``, else ``~/.config/sustainml/cost-models/<board>.yaml``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..measure.db import open_existing
from ..measure.refine import STATS, SYNTH_MODES, changed_coefficients, default_output, refine, timing_sources
from ..measure.report import ERROR_COLUMNS, error_rows
from ..progress import console, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refine", help="fit a board's cost-model coefficients to measurements",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, required=True, help="measurements database (sustainml-deploy measure)")
    p.add_argument("--board", required=True, help="board name in the database (e.g. sim:pynq-z2, or pynq-z2)")
    p.add_argument("--out", type=Path, default=None, help="refined coefficients file (default: see above)")
    p.add_argument("--prior", type=Path, default=None,
                   help="coefficients to start from and compare against (default: the packaged prior)")
    p.add_argument("--folds", type=int, default=4, help="k of the k-fold (by design) held-out error (default 4)")
    p.add_argument("--stat", choices=STATS, default="min", help="latency statistic per call to fit (default min)")
    p.add_argument("--synth", choices=SYNTH_MODES, default="cached",
                   help="Yosys resource counts: cached (designs already synthesized, default), run (synthesize "
                        "the missing ones: minutes per design), off")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_existing(args.db) as db:
        with console.status(f"fitting {args.board} ..."):
            r = refine(db, args.board, args.prior, args.folds, args.stat, args.synth)
    console.print("hardware time of the designs: "
                  + ", ".join(f"{k}: {n}" for k, n in timing_sources(r.observations).items()))
    table(f"{r.db_board}: prediction error on held-out designs ({len(r.observations)} designs, {r.folds}-fold)",
          ERROR_COLUMNS, error_rows(r))
    table("coefficients", ["coefficient", "prior", "refined"],
          [[n, f"{a:.4g}", f"{b:.4g}"] for n, a, b in changed_coefficients(r)])
    out = args.out or default_output(r.board)
    out.parent.mkdir(parents=True, exist_ok=True)
    r.refined.save(out)
    console.print(f"refined coefficients: {out}")
    return 0
