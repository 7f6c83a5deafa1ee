"""A two-channel ``.npz`` dataset through every stage a user types: search → generate →
build --sim → push to the simulated board → infer on raw samples. The board applies the
model's recorded preprocessing to the raw input, so its accuracy equals the golden model's on
the loader's preprocessed test set, and its logits equal the golden logits bit for bit."""
from __future__ import annotations

import getpass
import subprocess
import sys

import numpy as np
import yaml

from sustainml.nas import golden
from sustainml.nas.data import load_dataset
from sustainml.nas.quantized import QuantizedModel

from two_channel_data import write_npz

REQ = {
    "board": "pynq-z2", "seed": 0,
    "constraints": {"min_accuracy": 0.0},
    "objectives": {"accuracy": "max", "energy_uj": "min"},
    "budget": {"evaluations": 3, "initial": 2, "population": 1, "mutants": 16, "generations": 1, "wall_time_min": 5},
    "training": {"schedule": "quick", "short_fraction": 0.5, "reduction_factor": 2},
    "space": {"blocks": [1, 2], "filters": [4, 8], "kernels": [3, 5], "strides": [1], "pools": [0, 2]},
}


def cli(*args: str, prog: str = "sustainml.host.cli", timeout: int = 900) -> str:
    proc = subprocess.run([sys.executable, "-m", prog, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[0]}: {proc.stderr[-3000:]}"
    return proc.stdout


def test_two_channel_npz_search_generate_build_board_infer(tmp_path):
    npz = write_npz(tmp_path / "two_leads.npz")
    req = tmp_path / "req.yaml"
    req.write_text(yaml.safe_dump({"dataset": "two_leads.npz", **REQ}))  # relative to the requirements file
    cli("search", str(req), "--out", str(tmp_path / "search"), "--workers", "1")
    points = yaml.safe_load((tmp_path / "search" / "pareto.yaml").read_text())["points"]
    best = max(points, key=lambda p: p["val_acc"])
    model_dir = tmp_path / "search" / "pareto" / best["name"]
    model = QuantizedModel.load(model_dir)
    assert model.topology.input.channels == 2
    doc = yaml.safe_load((model_dir / "model.yaml").read_text())
    assert doc["preprocessing"]["method"] == "standardize" and len(doc["preprocessing"]["mean"]) == 2
    assert doc["metrics"]["training"]["protocol"] == "fixed-schedule"  # 192 training samples < 300

    cli("generate", str(model_dir), "--board", "pynq-z2", "--out", str(tmp_path / "build"))
    cli("build", str(tmp_path / "build"), "--out", str(tmp_path / "overlays"), "--name", "twolead", "--sim")
    manifest = yaml.safe_load((tmp_path / "overlays" / "twolead" / "manifest.yaml").read_text())
    assert manifest["model"]["preprocessing"] == doc["preprocessing"]
    assert manifest["io"]["input"]["shape"] == [64, 2]

    inv = tmp_path / "boards.yaml"
    (tmp_path / "board-root").mkdir()
    inv.write_text(yaml.safe_dump({"boards": {"sim-local": {
        "host": "local", "user": getpass.getuser(), "board": "pynq-z2", "root": str(tmp_path / "board-root"),
        "python": sys.executable, "simulated": True}}}))
    deploy = ("--board", "sim-local", "--inventory", str(inv))
    cli("push", str(tmp_path / "overlays" / "twolead"), *deploy, "--json", prog="sustainml.host.deploy_cli")

    data = load_dataset(npz)
    raw = tmp_path / "raw_test.npy"
    np.save(raw, data.raw_test_x)  # raw units: the board preprocesses
    cli("infer", *deploy, str(raw), "--out", str(tmp_path / "logits.npy"), prog="sustainml.host.deploy_cli")
    logits = np.load(tmp_path / "logits.npy")
    expected = golden.run(model, model.quantize_input(data.test.x))
    assert np.array_equal(logits, expected)
    board_acc = float((logits.argmax(1) == data.test.y).mean())
    golden_acc = float((golden.predict(model, data.test.x) == data.test.y).mean())
    assert board_acc == golden_acc == model.metrics["test_acc"]
    assert board_acc >= 0.8  # the class needs both channels: one channel alone is at chance
