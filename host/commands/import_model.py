"""``sustainml import model.onnx --out MODEL``: a QONNX 1D CNN into the flow.

Reads a QONNX graph (as Brevitas exports it, or as ``sustainml export`` writes it) into the
Topology IR and integer weights (``nas/interchange/qonnx_import.py``), ready for
``sustainml generate``. What the hardware library cannot build is refused naming the node.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sustainml.nas.interchange import qonnx_import

from ..progress import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="read a QONNX model into a model directory", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("onnx", type=Path, help="the QONNX .onnx file")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--dataset", default=None,
                   help="the dataset it was trained on (recorded; `generate` calibrates its accumulators on it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.onnx.is_file():
        raise FileNotFoundError(f"{args.onnx}: no such file")
    model, notes = qonnx_import.read(args.onnx)
    if args.dataset:
        model.metrics["dataset"] = args.dataset
    model.save(args.out)
    for note in notes:
        console.print(f"note: {note}")
    kinds = " ".join(s.kind for s in model.stages)
    console.print(f"model directory: {args.out} ({model.topology.name}: {kinds}; input frac {model.input_frac})")
    return 0
