"""``sustainml fp8-bench``: train the same models with DRAM tensors in FP32, FP16, BF16, FP8 E5M2
(bias 15), FP8 E4M3 and FP8 E5M2 with the adaptive bias; print accuracy and DRAM bytes per step
as a markdown table (HALF seed, Section 5)."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from sustainml.nas.fp8 import Fp8Error
from sustainml.nas.fp8_compare import DEFAULT_TASKS, Task, bias_summary, markdown, run
from sustainml.nas.fp8_storage import GRANULARITIES, STORAGE_NAMES
from sustainml.nas.fp8_training import Fp8TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fp8-bench", help="compare FP32/FP16/BF16/FP8 (fixed and adaptive bias) training: accuracy, DRAM bytes",
                       description=__doc__)
    names = [t.name for t in DEFAULT_TASKS]
    p.add_argument("--task", action="append", choices=names, help="task to run (repeatable; default: all)")
    p.add_argument("--custom", nargs=2, metavar=("TOPOLOGY", "DATASET"), help="a topology YAML on a UCR dataset instead")
    p.add_argument("--format", action="append", choices=STORAGE_NAMES, help="storage format (repeatable; default: all)")
    p.add_argument("--epochs", type=int, default=None, help="override every task's epoch count")
    p.add_argument("--warmup-epochs", type=int, default=Fp8TrainConfig.warmup_epochs, help="FP32 calibration epochs")
    p.add_argument("--weight-rounding", choices=("nearest", "stochastic"), default="stochastic",
                   help="rounding of weight writes (no FP32 master copy; default: %(default)s)")
    p.add_argument("--granularity", choices=GRANULARITIES, default="tensor", help="adaptive bias sharing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="parallel training processes (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.custom:
        tasks = [Task(f"{Path(args.custom[0]).stem}/{args.custom[1]}", args.custom[0], args.custom[1])]
    else:
        tasks = [t for t in DEFAULT_TASKS if not args.task or t.name in args.task]
    if args.epochs is not None:
        if args.epochs <= args.warmup_epochs:
            raise Fp8Error(f"--epochs {args.epochs} must exceed --warmup-epochs {args.warmup_epochs}")
        tasks = [replace(t, epochs=args.epochs) for t in tasks]
    formats = args.format or list(STORAGE_NAMES)
    if "fp32" not in formats:
        formats = ["fp32"] + formats  # the baseline every gap is measured against
    cfg = Fp8TrainConfig(warmup_epochs=args.warmup_epochs, weight_rounding=args.weight_rounding,
                         granularity=args.granularity, seed=args.seed)
    results = run(tasks, formats, cfg, jobs=max(1, args.jobs))
    text = markdown(results)
    biases = bias_summary(results)
    if biases:
        text += "\n\nAdaptive biases chosen (per tensor, range by class):\n\n" + "\n".join(f"- {b}" for b in biases)
    text += (f"\n\nSchedule: {args.warmup_epochs} FP32 calibration epochs, then storage; SGD momentum 0.9, one-cycle LR; "
             f"weight writes rounded {args.weight_rounding}; seed {args.seed}. Accuracy on the full UCR test split, "
             "with the storage format applied to weights and activations.")
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0
