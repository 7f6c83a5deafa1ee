#!/usr/bin/env python3
"""Accumulator widths on the reference design: markdown tables for the README (issue 21).

    .venv/bin/python scripts/bench_accumulators.py [--model DIR] [--board pynq-z2]

Trains the reference model (nas/examples/ecg_baseline.yaml on ECG5000, default schedule, seed 0)
unless ``--model`` is given, then generates it three ways: the default (overflow-free widths,
wrap), ``--acc-width observed --margin-bits 1`` (wrap) and the same with ``--acc-overflow
saturate``. Each generated project is built as a sim overlay and C-simulated (g++ against the
Xilinx ap_types headers; the result is checked equal to the golden model). Printed:

1. per design: accumulator bits per compute stage and the cost-model resource estimate (not
   synthesis) at the unrolling generate chose;
2. per design and input set: samples of the 4500 ECG5000 test samples whose logits / predicted
   class differ from 32-bit accumulation. Input sets: the test split; scaled x2 and x4; plus
   Gaussian noise (sigma 1, the data are z-normalised); full scale (every value at the rail of
   its sign, a saturated front end); and 4500 alternating full-scale patterns (periods 1-8).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

DESIGNS = [("default: bound, wrap", {}),
           ("observed +1, wrap", {"acc_width": "observed", "margin_bits": 1}),
           ("observed +1, saturate", {"acc_width": "observed", "margin_bits": 1, "acc_overflow": "saturate"})]


def input_sets(model, test_x: np.ndarray) -> dict:
    rng = np.random.default_rng(0)
    length, ch = model.topology.input.length, model.topology.input.channels
    rail = 1 << (model.input_bits - 1)
    t = np.arange(length)[None, :, None] + np.arange(ch)[None, None, :]
    period = 1 << (np.arange(len(test_x)) % 4)[:, None, None]
    phase = (np.arange(len(test_x)) // 4 % 2)[:, None, None]
    alternating = np.where((t // period + phase) % 2 == 0, rail - 1, -rail)
    q = model.quantize_input
    return {"test split": q(test_x), "x2": q(test_x * 2), "x4": q(test_x * 4),
            "+ noise": q(test_x + rng.normal(size=test_x.shape)),
            "full scale": q(np.sign(test_x) * 1e6), "alternating full scale": alternating.astype(np.int64)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="trained model dir (default: train the reference)")
    ap.add_argument("--board", default="pynq-z2")
    args = ap.parse_args()
    from sustainml.board.bundle import load_bundle
    from sustainml.host.build import build
    from sustainml.host.generate import generate
    from sustainml.host.hlsgen import csim
    from sustainml.host.progress import markdown_table
    from sustainml.nas import golden
    from sustainml.nas.data import load_dataset
    from sustainml.nas.quantized import QuantizedModel

    ds = load_dataset("ECG5000")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = args.model
        if model_dir is None:
            from sustainml.nas.topology import load_topology
            from sustainml.nas.train import train
            model_dir = train(load_topology(ROOT / "nas" / "examples" / "ecg_baseline.yaml"), ds).model.save(work / "m")
        base = QuantizedModel.load(model_dir)
        ref = dataclasses.replace(base, stages=[dataclasses.replace(s, acc_bits=32, acc_overflow="wrap")
                                                for s in base.stages])
        sets = input_sets(base, ds.test.x)
        want = {k: golden.run(ref, x) for k, x in sets.items()}
        cost_rows, diff_rows = [], []
        for label, opts in DESIGNS:
            tag = f"design{len(cost_rows)}"  # own overlay path: a loaded C-sim library is cached by its path
            g = generate(model_dir, work / tag, args.board, **opts)
            bundle = load_bundle(build(g.build_dir, work / tag / "overlays", sim=True, echo=lambda _: None))
            res = g.folding.estimate.resources
            bits = " ".join(str(s.acc_bits) for s in g.model.stages if s.is_compute)
            cost_rows.append([label, bits, res["lut"], res["ff"], res["bram36"], res["dsp"]])
            row = [label]
            for k, x in sets.items():
                hw = csim.run_dnnu(bundle.bitfile, bundle.manifest["io"], x)
                if not np.array_equal(hw, golden.run(g.model, x)):
                    raise SystemExit(f"{label}, {k}: C-simulation differs from the golden model")
                logits, classes = (hw != want[k]).any(axis=1).sum(), (hw.argmax(1) != want[k].argmax(1)).sum()
                row.append(f"{int(logits)} / {int(classes)}")
            diff_rows.append(row)
    print(f"Accumulators of the reference design on {args.board}: widths and cost-model resources "
          "(estimate, not synthesis) at the unrolling `sustainml generate` chose\n")
    print(markdown_table(["design", "acc bits per compute stage", "LUT", "FF", "BRAM36", "DSP"], cost_rows))
    print("\nSamples (of 4500) whose logits / predicted class differ from 32-bit accumulation "
          "(C-simulation of the generated design, equal to the golden model)\n")
    print(markdown_table(["design"] + list(sets), diff_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
