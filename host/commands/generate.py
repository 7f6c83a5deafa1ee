"""``sustainml generate MODEL_DIR --board pynq-z2 --out BUILD_DIR``: HLS + Vivado project of a model.

Accumulators are by default as wide as no input can overflow (``--acc-width bound``);
``--acc-width observed --margin-bits N`` narrows them to the calibration range + N bits (inputs
outside it can then wrap, the report and manifest say so) and ``--acc-overflow saturate`` makes
such an overflow clip instead of wrap. Chooses the per-layer unrolling (fastest design within
the part, ``--target-fps`` for the cheapest that meets a rate, or ``--objective dsp|energy``),
and writes the DNNU sources, testbench, Tcl scripts, cost estimates and report.md. ``--io fp8``
moves FP8 E5M2 codes over DMA (1 byte per value, bias registers in_bias/out_bias) instead of
integers.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sustainml.nas.catalogue import boards
from sustainml.nas.accumulators import WIDTHS
from sustainml.nas.folding import OBJECTIVES
from sustainml.nas.quantized import ACC_OVERFLOW

from ..generate import BACKENDS, IO_ENCODINGS, generate
from ..progress import console, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate the HLS/Vivado project of a trained model for a board",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path, help="model directory (model.yaml + weights.npz from `sustainml train`)")
    p.add_argument("--board", default="pynq-z2", help=f"catalogue board ({', '.join(boards())}; default: %(default)s)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--target-fps", type=float, default=None, help="cheapest design reaching this many inferences/s")
    goal.add_argument("--objective", choices=OBJECTIVES, default="latency",
                      help="latency: fastest within the part; dsp: fewest resources; energy: least energy per inference")
    p.add_argument("--clock", type=float, default=None, help="PL clock in MHz (default: the board's)")
    p.add_argument("--calibration", default=None,
                   help="dataset name/path or .npy of samples for the accumulator profile (default: the model's dataset)")
    acc = p.add_mutually_exclusive_group()
    acc.add_argument("--acc-width", choices=WIDTHS, default=None,
                     help="accumulator widths: bound = overflow-free for any input (default); observed = calibration "
                          "range + --margin-bits (inputs outside it can overflow)")
    acc.add_argument("--keep-acc-bits", action="store_true",
                     help="keep the model's accumulator widths (refused if the calibration data overflows one)")
    p.add_argument("--margin-bits", type=int, default=None, metavar="N",
                   help="--acc-width observed: headroom bits over the profiled range (default: 1)")
    p.add_argument("--acc-overflow", choices=ACC_OVERFLOW, default="wrap",
                   help="what a too-narrow accumulator does: wrap (two's complement; default) or saturate (clip)")
    p.add_argument("--cost-model", type=Path, default=None,
                   help="cost-model coefficients file (default: refined coefficients if present, else the prior)")
    p.add_argument("--io", choices=list(IO_ENCODINGS), default="int",
                   help="DMA data: int (quantized on the PS; default) or fp8 (E5M2 codes, quantized on chip)")
    p.add_argument("--in-bias", type=int, default=None, metavar="B",
                   help="FP8 I/O: default input bias register, 0..63 (default: from the calibration data)")
    p.add_argument("--out-bias", type=int, default=None, metavar="B",
                   help="FP8 I/O: default output bias register, 0..63 (default: from the calibration logits)")
    p.add_argument("--backend", choices=list(BACKENDS), default="hls",
                   help="hls: the Vitis HLS project (default); rtl: also the Verilog DNNU in BUILD_DIR/rtl "
                        "(for `build --rtlsim` and `synth`)")
    p.add_argument("--name", default=None, help="overlay name (default: the model's topology name)")
    p.add_argument("--out", type=Path, required=True, help="project directory to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    g = generate(args.model_dir, args.out, board=args.board, objective=args.objective, target_fps=args.target_fps,
                 clock_mhz=args.clock, calibration=args.calibration, margin_bits=args.margin_bits, name=args.name,
                 keep_acc_bits=args.keep_acc_bits, cost_model=args.cost_model, io=args.io, in_bias=args.in_bias,
                 out_bias=args.out_bias, acc_width=args.acc_width, acc_overflow=args.acc_overflow,
                 backend=args.backend)
    est = g.folding.estimate
    table(f"{g.record['name']} on {g.board.name} ({g.board.part}, {g.record['clock_mhz']:g} MHz), {g.folding.objective}",
          ["stage", "kind", "pe", "simd", "kp", "cycles", "DSP", "acc bits"],
          [[s.index, s.kind, s.pe, s.simd, s.kp, s.interval, s.dsp, g.model.stages[s.index].acc_bits if s.mults else "-"]
           for s in est.stages])
    d = est.to_dict()
    table("estimates (cost model)", ["quantity", "value"], [
        ["bottleneck", f"{d['bottleneck']}: {d['interval_cycles']} cycles/sample"],
        ["latency (batch 1)", f"{d['latency_us']} us"], ["throughput", f"{d['throughput_fps']} inferences/s"],
        ["LUT / FF / BRAM36 / DSP", " / ".join(str(d["resources"][k]) for k in ("lut", "ff", "bram36", "dsp"))],
        ["PL power", f"{d['power_w']['pl']} W"], ["energy per inference (PL)", f"{d['energy_per_inference_uj']} uJ"],
        ["project", str(g.build_dir)]])
    acc = g.record["accumulators"]
    c = acc["cost"]
    table(f"accumulators: {acc['width']} widths, {acc['overflow']} on overflow (cost model, this unrolling)",
          ["widths", "acc bits", "LUT", "FF", "BRAM36", "DSP"],
          [[k, " ".join(map(str, c[k]["acc_bits"]))] + [c[k][r] for r in ("lut", "ff", "bram36", "dsp")]
           for k in ("bound", "observed")])
    if acc["warning"]:
        console.print(f"[yellow]warning:[/] {acc['warning']}")
    if "dma_bytes_per_sample" in g.record:
        d, io = g.record["dma_bytes_per_sample"], g.record["io"]
        table("FP8 E5M2 I/O over DMA (bytes per sample)", ["stream", "bias register (default)", "bytes", "FP32 bytes"],
              [[side, f"{io[side]['register']} ({io[side]['bias']})", d[side], d[f"{side}_fp32"]]
               for side in ("input", "output")])
    return 0
