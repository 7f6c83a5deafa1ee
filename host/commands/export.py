"""``sustainml export MODEL --format qonnx --out model.onnx``: the integer model as QONNX.

The graph (``nas/interchange/qonnx_export.py``) computes exactly the golden model on power-of-two
scaled values, for FINN, hls4ml's QONNX front end or qonnx's executor. ``--check N`` runs N
random full-range inputs through qonnx's reference executor and the golden model and
compares the logits.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sustainml.nas import golden
from sustainml.nas.interchange import qonnx_export
from sustainml.nas.quantized import QuantizedModel

from ..errors import UserError
from ..progress import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a trained integer model as QONNX", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="model directory (model.yaml + weights.npz)")
    p.add_argument("--format", choices=("qonnx",), default="qonnx", help="interchange format (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--check", type=int, default=64, metavar="N",
                   help="compare qonnx execution with the golden model on N random inputs (0: skip; default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = QuantizedModel.load(args.model)
    if args.out.suffix != ".onnx":
        raise UserError(f"--out {args.out}: expected a .onnx file name")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for warning in qonnx_export.export(model, args.out):
        console.print(f"warning: {warning}")
    console.print(f"QONNX model: {args.out} ({len(model.stages)} stages)")
    if args.check > 0:
        import onnx

        topo = model.topology
        lo, hi = -(1 << (model.input_bits - 1)), (1 << (model.input_bits - 1))
        x = np.random.default_rng(0).integers(lo, hi, (args.check, topo.input.length, topo.input.channels))
        got = qonnx_export.execute(onnx.load(str(args.out)), x, model.input_frac)
        want = golden.run(model, x)
        if not np.array_equal(got, want):
            raise UserError(f"{args.out}: qonnx execution differs from the golden model on "
                            f"{int((got != want).any(axis=1).sum())} of {args.check} random inputs")
        console.print(f"qonnx execution equals the golden model on {args.check} random inputs")
    return 0
