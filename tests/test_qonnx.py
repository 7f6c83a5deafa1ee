"""QONNX in and out: our integer models execute in qonnx exactly as the golden model and come
back identical; a Brevitas-trained network enters the flow and C-simulates to qonnx's logits;
what the hardware cannot build is refused naming the node."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sustainml import REPO_ROOT
from sustainml.nas import golden
from sustainml.nas.topology import Topology, load_topology

onnx = pytest.importorskip("onnx")
pytest.importorskip("qonnx")

from sustainml.nas.interchange import qonnx_export, qonnx_import  # noqa: E402

from random_models import random_model, random_topology  # noqa: E402

EXAMPLES = ["ecg_baseline.yaml", "vgg1d.yaml"]
N_RANDOM = 50


def _ecg_topology(rng: np.random.Generator, i: int) -> Topology:
    """A random 1D CNN on ECG5000's input (140 x 1): conv/separable blocks, max or average pooling."""
    doc = random_topology(rng, length=140, classes=5).to_dict()
    doc["name"], doc["input"]["channels"] = f"rand{i}", 1
    if i % 3 == 0:  # average pooling too (random_topology draws max pooling only)
        for layer in doc["layers"]:
            if layer["type"] == "MaxPool1D":
                layer.update(type="AvgPool1D", pool=int(rng.choice([2, 3])), stride=int(rng.choice([0, 2])))
                break
    topo = Topology.from_dict(doc)
    flat = topo.shapes()[-2]
    if flat.size > 64 and doc["layers"][-2]["type"] != "GlobalAvgPool1D":
        # a long flatten-dense can sum past 2**24, beyond float32's exact integers (the export refuses it)
        doc["layers"].insert(len(doc["layers"]) - 1, {"type": "GlobalAvgPool1D"})
        topo = Topology.from_dict(doc)
    return topo


def _models(reference_model):
    yield "reference (trained)", reference_model
    for i, f in enumerate(EXAMPLES):
        yield f, random_model(load_topology(REPO_ROOT / "nas" / "examples" / f), seed=i)
    rng = np.random.default_rng(2026)
    for i in range(N_RANDOM):
        yield f"random {i}", random_model(_ecg_topology(rng, i), seed=100 + i, input_frac=int(rng.integers(3, 7)))


def _same_model(a, b) -> None:
    assert a.topology.to_dict() == b.topology.to_dict()
    assert a.input_frac == b.input_frac
    assert [(s.kind, s.shift, s.w_bits, s.relu) for s in a.stages] == [(s.kind, s.shift, s.w_bits, s.relu)
                                                                         for s in b.stages]
    assert sorted(a.weights) == sorted(b.weights)
    for k in a.weights:
        assert np.array_equal(a.weights[k], b.weights[k]), k


def test_round_trip_examples_and_random_models(tmp_path, reference_model, ecg5000):
    x = reference_model.quantize_input(ecg5000.test.x[:500])
    kinds = set()
    for name, model in _models(reference_model):
        path = tmp_path / "m.onnx"
        qonnx_export.export(model, path)
        proto = onnx.load(str(path))
        assert {n.op_type for n in proto.graph.node} >= {"Quant"}
        got = qonnx_export.execute(proto, x, model.input_frac)
        want = golden.run(model, x)
        assert np.array_equal(got, want), f"{name}: qonnx differs from the golden model"
        back, _ = qonnx_import.read(path)
        _same_model(model, back)
        kinds |= {s.kind for s in model.stages}
    assert kinds == {"conv1d", "dwconv1d", "pwconv1d", "dense", "maxpool1d", "avgpool1d", "gap1d"}


def test_import_without_our_metadata_derives_the_same_stages(tmp_path, reference_model):
    path = tmp_path / "m.onnx"
    qonnx_export.export(reference_model, path)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(path))
    back, _ = qonnx_import.read(path)
    assert "BatchNorm" not in [layer["type"] for layer in back.topology.to_dict()["layers"]]
    assert [qonnx_import._geometry(s) for s in back.stages] == [qonnx_import._geometry(s) for s in reference_model.stages]
    for k in reference_model.weights:
        assert np.array_equal(back.weights[k], reference_model.weights[k])


def _mutated(tmp_path, model, mutate) -> Path:
    proto, _ = qonnx_export.build(model)
    mutate(proto)
    path = tmp_path / "bad.onnx"
    onnx.save(proto, str(path))
    return path


def _init(proto, prefix):
    return next(i for i in proto.graph.initializer if i.name.startswith(prefix))


def test_refusals_name_the_node(tmp_path, reference_model):
    from onnx import helper, numpy_helper

    def non_pow2(proto):
        t = _init(proto, "s0_wq_scale")
        t.CopyFrom(numpy_helper.from_array(np.array(0.3, dtype=np.float32), t.name))

    with pytest.raises(qonnx_import.ImportError_, match=r"node Conv_\S+ \(Conv\): scale 0.3\d* is not a power of two"):
        qonnx_import.read(_mutated(tmp_path, reference_model, non_pow2))

    def zero_point(proto):
        t = _init(proto, "s0_out_zeropt")
        t.CopyFrom(numpy_helper.from_array(np.array(1.0, dtype=np.float32), t.name))

    with pytest.raises(qonnx_import.ImportError_, match="zero point"):
        qonnx_import.read(_mutated(tmp_path, reference_model, zero_point))

    def sigmoid(proto):  # an op the library does not have, in the middle of the chain
        nodes = list(proto.graph.node)
        i = next(k for k, n in enumerate(nodes) if n.op_type == "MaxPool")
        src = nodes[i].input[0]
        nodes.insert(i, helper.make_node("Sigmoid", [src], ["sig_out"], name="my_sigmoid"))
        nodes[i + 1].input[0] = "sig_out"
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)

    with pytest.raises(qonnx_import.ImportError_, match=r"node my_sigmoid \(Sigmoid\): not built"):
        qonnx_import.read(_mutated(tmp_path, reference_model, sigmoid))

    wide = random_model(Topology.from_dict({"name": "wide", "input": {"length": 2000, "channels": 1, "bits": 8},
                                            "classes": 2, "layers": [{"type": "Dense", "units": 2}]}), seed=1)
    with pytest.raises(qonnx_export.ExportError, match=r"stage 0 \(dense\).*2\*\*24"):
        qonnx_export.build(wide)

    with pytest.raises(qonnx_import.ImportError_, match="not an ONNX model"):
        (tmp_path / "junk.onnx").write_text("no")
        qonnx_import.read(tmp_path / "junk.onnx")


def test_cli_round_trip_and_errors(tmp_path, reference_model_dir):
    cli = [sys.executable, "-m", "sustainml.host.cli"]
    out = subprocess.run(cli + ["export", str(reference_model_dir), "--out", str(tmp_path / "m.onnx"), "--check", "32"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "equals the golden model on 32" in out.stdout + out.stderr
    out = subprocess.run(cli + ["import", str(tmp_path / "m.onnx"), "--out", str(tmp_path / "model")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "model" / "weights.npz").is_file()
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage")
    out = subprocess.run(cli + ["import", str(tmp_path / "bad.onnx"), "--out", str(tmp_path / "m2")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "not an ONNX model" in out.stderr and "Traceback" not in out.stderr
