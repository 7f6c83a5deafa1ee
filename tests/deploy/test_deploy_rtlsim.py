"""sustainml-deploy unchanged on an rtlsim bundle: push (smoke test on the board), infer bit for bit,
on a loopback OpenSSH sim board whose runtime runs the Verilated RTL."""
from __future__ import annotations

import json

import numpy as np

from deploy_helpers import SMALL_TOPOLOGY
from random_models import random_model
from sustainml.board.bundle import load_bundle
from sustainml.host.build import build
from sustainml.host.deploy_cli import main
from sustainml.host.generate import generate
from sustainml.nas.topology import Topology


def test_push_and_infer_an_rtlsim_bundle(make_inventory, runtime_wheel, tmp_path, capsys):
    model_dir = random_model(Topology.from_dict(SMALL_TOPOLOGY), seed=3).save(tmp_path / "model")
    generate(model_dir, tmp_path / "build", "pynq-z2", calibration=np.random.default_rng(0).normal(size=(32, 32, 1)),
             backend="rtl")
    bundle = build(tmp_path / "build", tmp_path / "overlays", rtlsim=True, echo=lambda _: None)
    assert load_bundle(bundle).kind == "rtlsim"
    inv = ["--inventory", str(make_inventory())]
    code = main(["push", str(bundle), "--board", "sim-a", *inv, "--runtime-wheel", str(runtime_wheel.path), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    res = json.loads(out.out)["sim-a"]
    assert res["ok"] and res["smoke"]["ok"] and res["smoke"]["mismatches"] == 0
    gx, gy = load_bundle(bundle).golden()
    np.save(tmp_path / "x.npy", gx)
    code = main(["infer", "--board", "sim-a", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy"), *inv])
    assert code == 0, capsys.readouterr().err
    assert np.array_equal(np.load(tmp_path / "y.npy"), gy)
