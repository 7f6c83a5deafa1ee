"""``sustainml-deploy infer --board NAME INPUT.npy``: run the board's active overlay on a batch."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Sequence

import numpy as np

from ..fleet import Outcome, for_each, session
from ..inputs import InputError, load_batch
from ..inventory import BoardEntry
from ..options import add_common, inventory, report, selected
from .. import actions

COLUMNS = ("overlay", "samples", "classes", "outputs", "saved to")
SHOWN = 8


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="run the active overlay on INPUT.npy (floats: raw samples, preprocessed as the "
                                     "bundle records, then quantized; integers used as-is)")
    p.add_argument("input", type=Path, help=".npy batch (N, L, C), or (N, L) for one channel; N >= 1")
    add_common(p, boards="one")
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="let NaN / +-Inf through to the board's quantizer (clipped) instead of refusing them")
    p.add_argument("--out", type=Path, metavar="NPY", help="where the outputs go (default: INPUT.BOARD.out.npy)")
    p.set_defaults(func=run)


def row(o: Outcome) -> Sequence[object]:
    v = o.value
    y = v["outputs"]
    more = f" ... ({len(y)} total)" if len(y) > SHOWN else ""
    return [v["overlay"], len(y), " ".join(map(str, v["classes"][:SHOWN])) + more,
            np.array2string(y[:SHOWN], max_line_width=80) + more, v["local"]]


def run(args: argparse.Namespace) -> int:
    inv = inventory(args)
    boards = selected(args, inv)
    x = load_batch(args.input, args.allow_nonfinite)  # before connecting: bad input exits 2
    out = args.out or args.input.with_name(f"{args.input.stem}.{args.board}.out.npy")

    def one(board: BoardEntry) -> Dict[str, Any]:
        with session(board, inv.known_hosts, args.accept_new_host_key) as remote:
            return actions.infer(remote, args.input, out, x)

    outcomes = for_each(boards, one)
    if any(o.kind == InputError.__name__ for o in outcomes):  # refused against the overlay: still bad input
        print(f"sustainml-deploy: error: {outcomes[0].error}", file=sys.stderr)
        return 2
    return report(args, f"infer {args.input}", COLUMNS, outcomes, row)
