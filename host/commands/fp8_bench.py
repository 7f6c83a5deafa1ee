"""``sustainml fp8-bench``: train the same models with DRAM tensors in FP32, FP16, BF16, FP8 E5M2
(bias 15), FP8 E4M3 and FP8 E5M2 with the adaptive bias, over several seeds; print accuracy
(mean ± std) and DRAM bytes per step as a markdown table (HALF seed, Section 5).

Default tasks: the reference 1D-CNN on ECG5000 with SGD and with AdamW (whose second-moment
state lies far below bias 15's range); ``--all`` adds FordA and the larger vgg1d model."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from sustainml.nas.fp8 import Fp8Error
from sustainml.nas.fp8_compare import DEFAULT_TASKS, TASKS, Task, bias_summary, markdown, median_summary, run
from sustainml.nas.fp8_storage import GRANULARITIES, STORAGE_NAMES
from sustainml.nas.fp8_training import CLASSES, Fp8TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fp8-bench", help="compare FP32/FP16/BF16/FP8 (fixed and adaptive bias) training: accuracy, DRAM bytes",
                       description=__doc__)
    names = [t.name for t in TASKS]
    p.add_argument("--task", action="append", choices=names,
                   help=f"task to run (repeatable; default: {', '.join(t.name for t in DEFAULT_TASKS)})")
    p.add_argument("--all", action="store_true", help="run every task")
    p.add_argument("--custom", nargs=2, metavar=("TOPOLOGY", "DATASET"), help="a topology YAML on a UCR dataset instead")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default=None, help="override every task's optimizer")
    p.add_argument("--lr", type=float, default=None, help="override every task's peak learning rate")
    p.add_argument("--format", action="append", choices=STORAGE_NAMES, help="storage format (repeatable; default: all)")
    p.add_argument("--epochs", type=int, default=None, help="override every task's epoch count")
    p.add_argument("--warmup-epochs", type=int, default=Fp8TrainConfig.warmup_epochs, help="FP32 calibration epochs")
    p.add_argument("--weight-rounding", choices=("nearest", "stochastic"), default="stochastic",
                   help="rounding of weight writes (no FP32 master copy; default: %(default)s)")
    p.add_argument("--granularity", choices=GRANULARITIES, default="tensor", help="adaptive bias sharing")
    p.add_argument("--fp32-classes", default="", metavar="CLASSES",
                   help=f"tensor classes kept in FP32 (letters of {''.join(CLASSES)}; ablation, default: none)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per (task, format): seed .. seed+N-1 (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=2, help="parallel training processes (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.custom:
        tasks = [Task(f"{Path(args.custom[0]).stem}/{args.custom[1]}", args.custom[0], args.custom[1])]
    elif args.all:
        tasks = list(TASKS)
    else:
        tasks = [t for t in TASKS if t.name in args.task] if args.task else list(DEFAULT_TASKS)
    if args.epochs is not None:
        if args.epochs <= args.warmup_epochs:
            raise Fp8Error(f"--epochs {args.epochs} must exceed --warmup-epochs {args.warmup_epochs}")
        tasks = [replace(t, epochs=args.epochs) for t in tasks]
    if args.optimizer is not None:
        tasks = [replace(t, optimizer=args.optimizer) for t in tasks]
    if args.lr is not None:
        if not args.lr > 0:
            raise Fp8Error(f"--lr {args.lr} must be positive")
        tasks = [replace(t, lr=args.lr) for t in tasks]
    if args.seeds < 1:
        raise Fp8Error(f"--seeds {args.seeds} must be at least 1")
    unknown = sorted(set(args.fp32_classes) - set(CLASSES))
    if unknown:
        raise Fp8Error(f"--fp32-classes {args.fp32_classes!r}: {''.join(unknown)} not a class (known: {''.join(CLASSES)})")
    stored = tuple(c for c in CLASSES if c not in args.fp32_classes)
    formats = args.format or list(STORAGE_NAMES)
    if "fp32" not in formats:
        formats = ["fp32"] + formats  # the baseline every gap is measured against
    cfg = Fp8TrainConfig(warmup_epochs=args.warmup_epochs, weight_rounding=args.weight_rounding,
                         granularity=args.granularity, seed=args.seed, stored=stored)
    seeds = list(range(args.seed, args.seed + args.seeds))
    results = run(tasks, formats, cfg, jobs=max(1, args.jobs), seeds=seeds)
    text = markdown(results)
    biases = bias_summary(results)
    if biases:
        text += "\n\nAdaptive biases chosen (per tensor, range by class):\n\n" + "\n".join(f"- {b}" for b in biases)
    medians = median_summary(results)
    if medians:
        text += ("\n\nMedian non-zero |x| per tensor at calibration (range by class; bias 15 holds normals down to 2^-14, "
                 "nothing below 2^-17):\n\n" + "\n".join(f"- {m}" for m in medians))
    optim = "; ".join(f"{t.name}: {t.epochs} epochs, batch {t.batch_size}, "
                      + ("SGD momentum 0.9, one-cycle LR" if t.optimizer == "sgd" else "AdamW, cosine LR")
                      + f" peak {t.lr if t.lr is not None else cfg.lr:g}" for t in tasks)
    kept = f"; kept in FP32: {args.fp32_classes}" if args.fp32_classes else ""
    text += (f"\n\nSchedule: {args.warmup_epochs} FP32 calibration epochs, then storage ({optim}); weight writes rounded "
             f"{args.weight_rounding}{kept}; seeds {seeds[0]}..{seeds[-1]}. Accuracy on the full UCR test split, "
             "with the storage format applied to weights and activations.")
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0
