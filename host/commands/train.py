"""``sustainml train TOPOLOGY.yaml --dataset ECG5000 --out DIR``: QAT training + integer export."""
from __future__ import annotations

import argparse
from pathlib import Path

from sustainml.nas.data import DEFAULT_DATASET, load_dataset
from sustainml.nas.topology import load_topology
from sustainml.nas.train import TrainConfig, train

from ..progress import table, training_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a topology with quantization-aware training and export the integer model",
                       description=__doc__)
    p.add_argument("topology", type=Path, help="topology YAML (e.g. nas/examples/ecg_baseline.yaml)")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="UCR archive name, .npz file, or a *_TRAIN.tsv/.arff file or its folder (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="model directory to write (default: runs/train/<name>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="short schedule (smoke tests)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    topo = load_topology(args.topology)
    data = load_dataset(args.dataset)
    cfg = TrainConfig.quick() if args.quick else TrainConfig()
    cfg.seed = args.seed
    with training_progress(topo.name) as progress:
        result = train(topo, data, cfg, progress)
    out = args.out or Path("runs") / "train" / topo.name
    result.model.save(out)
    m = result.metrics
    t = m["training"]
    table(f"{topo.name} on {data.name}", ["metric", "value"], [
        ["test accuracy (integer model, %d samples)" % m["test_samples"], f"{m['test_acc']:.4f}"],
        ["test accuracy (torch QAT model)", f"{m['test_acc_torch']:.4f}"],
        ["integer vs torch agreement", f"{m['golden_torch_agreement']:.4f}"],
        ["parameters", m["params"]], ["MACs", m["macs"]], ["training time (s)", m["train_time_s"]],
        ["protocol", f"{t['protocol']} ({t['train_samples']} train / {t['val_samples']} validation samples)"],
        ["preprocessing", data.preprocessing["method"]],
        ["model directory", out],
    ])
    return 0
