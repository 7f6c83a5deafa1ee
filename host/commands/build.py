"""``sustainml build BUILD_DIR [--sim] [--out overlays/]``: overlay bundle of a generated project.

Without ``--sim`` it runs Vitis HLS and Vivado (both must be on PATH) and bundles NAME.bit +
NAME.hwh with the parsed synthesis/implementation reports. ``--sim`` compiles the same
generated sources with g++ into a C-simulation library instead (no Xilinx tools needed) and
bundles it as ``kind: sim`` (default name NAME_sim). ``--rtlsim`` verilates the Verilog DNNU of a
``generate --backend rtl`` project with a harness that plays the PS (cycle-accurate) and bundles
it as ``kind: rtlsim`` (default name NAME_rtlsim); the simulated board runs either.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..build import build
from ..progress import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build the overlay bundle of a generated project (bitstream, or --sim)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build_dir", type=Path, help="project directory written by `sustainml generate`")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sim", action="store_true", help="C-simulation overlay (g++), no Vitis HLS/Vivado needed")
    mode.add_argument("--rtlsim", action="store_true",
                      help="RTL simulation overlay (Verilator, cycle-accurate) of a `generate --backend rtl` project")
    p.add_argument("--out", type=Path, default=None, help="overlays root (default: overlays/ of the repository)")
    p.add_argument("--name", default=None,
                   help="bundle name (default: the project's, +_sim with --sim, +_rtlsim with --rtlsim)")
    p.add_argument("--cosim", action="store_true", help="also run C/RTL co-simulation in Vitis HLS")
    p.add_argument("--allow-timing-failure", action="store_true",
                   help="bundle a routed design with negative slack anyway (recorded in the manifest)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dst = build(args.build_dir, args.out, sim=args.sim, name=args.name, cosim=args.cosim, rtlsim=args.rtlsim,
                allow_timing_failure=args.allow_timing_failure,
                echo=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
    print(dst)
    return 0
