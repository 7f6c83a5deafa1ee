#!/usr/bin/env python3
"""Streaming of the Verilog DNNU, measured in rtlsim (Verilator, cycle-accurate): a README table.

    .venv/bin/python scripts/bench_rtl.py [--model DIR] [--board pynq-z2] [--batch 256]

For the reference design (nas/examples/ecg_baseline.yaml trained on ECG5000 with the default
schedule; ``--model`` reuses a trained model directory) at three unrollings chosen by
``generate`` (``--objective dsp``, a ``--target-fps`` in between, ``--objective latency``), it
builds the DNNU's rtlsim library (no stall injection) and runs, through the AXI4-Lite/AXI4 path
at the board family's default memory model (host/rtlgen/rtlsim.py ``MEMORY_DEFAULTS``):

* a batch of ``--batch`` random samples: measured cycles (ap_start -> ap_done) per sample, and
  the steady state ``(cycles(batch) - cycles(1)) / (batch - 1)``;
* one sample: the first-sample latency in cycles;
* ideal = the bottleneck stage's cycles per sample (``stages.ideal_cycles``: its fold count, or
  its input positions when it is input-bound), or the DMA's words per sample if larger;
* the HLS cost model's estimate for the same unrolling (``interval_cycles`` and the batch-1
  ``latency_cycles`` of nas/costmodel.py, what generate reports).

Every output is also checked against nas/golden.py. Nothing is timed in wall-clock: all numbers
are simulated clock cycles of the generated RTL.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def reference_model(model_dir):
    from sustainml.nas.quantized import QuantizedModel

    default = ROOT / "runs" / "reference" / "model"  # what scripts/build_reference trains
    if model_dir or (default / "model.yaml").is_file():
        return QuantizedModel.load(model_dir or default)
    from sustainml.nas.data import load_dataset
    from sustainml.nas.topology import load_topology
    from sustainml.nas.train import train

    print("training the reference model (default schedule, seed 0) ...", file=sys.stderr)
    return train(load_topology(ROOT / "nas" / "examples" / "ecg_baseline.yaml"), load_dataset("ECG5000")).model


def measure(model, folder: Path, memory, batch: int) -> dict:
    from sustainml.host.rtlgen import stages, top
    from sustainml.host.rtlgen.rtlsim import open_project
    from sustainml.nas import golden

    proj = top.write_project(model, folder)
    t0 = time.perf_counter()
    dut, lib = open_project(proj, model.topology.name)
    build_s = time.perf_counter() - t0
    t = model.topology.input
    x = np.random.default_rng(0).integers(-(1 << (t.bits - 1)), 1 << (t.bits - 1), size=(batch, t.length, t.channels))
    xin = x.astype("int8" if t.bits <= 8 else "int16")
    out_dtype = np.dtype("int8" if proj.io.out_bits <= 8 else "int16" if proj.io.out_bits <= 16 else "int32")
    t0 = time.perf_counter()
    y, res = dut.run(xin, (proj.io.out_ch,), out_dtype, memory)
    sim_s = time.perf_counter() - t0
    _, one = dut.run(xin[:1], (proj.io.out_ch,), out_dtype, memory)
    exact = bool(np.array_equal(y.astype(np.int64), golden.run(model, x)))
    ideal = [stages.ideal_cycles(s) for s in model.stages]
    dma = max(math.ceil(xin[0].nbytes / 8), math.ceil(proj.io.out_ch * out_dtype.itemsize / 8))
    return {"ideal": max(max(ideal), dma), "bottleneck": int(np.argmax(ideal)), "dma_words": dma,
            "per_sample": res[0].cycles / batch, "steady": (res[0].cycles - one[0].cycles) / (batch - 1),
            "first": one[0].cycles, "exact": exact, "build_s": build_s, "cached": lib.cached,
            "sim_cycles_per_s": res[0].cycles / sim_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="trained model dir (default: train the reference)")
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()

    from sustainml.host.generate import generate
    from sustainml.host.rtlgen.rtlsim import MEMORY_DEFAULTS
    from sustainml.nas.catalogue import get_board

    model = reference_model(args.model)
    board = get_board(args.board)
    memory = MEMORY_DEFAULTS[board.ps]
    work = Path(tempfile.mkdtemp(prefix="bench-rtl-"))
    lo = generate("unused", work / "dsp", args.board, objective="dsp", model=model, backend="rtl")
    hi = generate("unused", work / "latency", args.board, objective="latency", model=model, backend="rtl")
    mid_cycles = math.sqrt(lo.folding.interval * hi.folding.interval)
    mid_fps = lo.record["clock_mhz"] * 1e6 / mid_cycles
    mid = generate("unused", work / "mid", args.board, target_fps=mid_fps, model=model, backend="rtl")
    rows = []
    for label, g in (("dsp (fewest multipliers)", lo), (f"target {mid_fps:.0f} fps", mid), ("latency (fastest)", hi)):
        r = measure(g.model, work / f"rtl-{label.split()[0]}", memory, args.batch)
        est = g.folding.estimate
        s = g.model.stages[r["bottleneck"]]
        unroll = " ".join(f"{x.pe}/{x.simd}/{x.kp}" for x in g.model.stages if x.is_compute)
        err = (r["per_sample"] - r["ideal"]) / r["ideal"] * 100
        rows.append([label, unroll, f"{r['bottleneck']} {s.kind}", r["ideal"], f"{r['per_sample']:.1f}",
                     f"{r['steady']:.1f}", f"{err:+.1f}%", r["first"], est.interval, est.latency_cycles,
                     "yes" if r["exact"] else "NO"])
        built = "cached" if r["cached"] else f"built in {r['build_s']:.0f} s"
        print(f"  {label}: rtlsim library {built}, "
              f"{r['sim_cycles_per_s'] / 1e3:.0f} k cycles/s simulated", file=sys.stderr)
    print(f"\nReference design on {board.name} ({board.part}), batch {args.batch}, memory model "
          f"{memory.read_latency}/{memory.write_latency} cycles read/write latency (rtlsim, Verilator; simulated "
          "clock cycles of the generated RTL)\n")
    print(table(["unrolling (objective)", "pe/simd/kp per compute stage", "bottleneck stage", "ideal cycles/sample",
                 f"measured cycles/sample (batch {args.batch})", "steady state", "measured vs ideal",
                 "first-sample latency (cycles)", "HLS cost model cycles/sample", "HLS cost model latency (cycles)",
                 "bit-exact"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
