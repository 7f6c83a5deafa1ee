"""Topology IR: validation errors name layer and field; YAML round-trip; shapes and counts."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from sustainml.nas.quantized import plan_stages
from sustainml.nas.topology import LEGAL_BITS, Topology, TopologyError

BASE = {
    "name": "t",
    "input": {"length": 140, "channels": 1, "bits": 8},
    "classes": 5,
    "layers": [
        {"type": "Conv1D", "filters": 4, "kernel": 5, "padding": 2},
        {"type": "BatchNorm"},
        {"type": "ReLU"},
        {"type": "MaxPool1D", "pool": 2},
        {"type": "DepthwiseSeparableConv1D", "filters": 8, "kernel": 3},
        {"type": "ReLU"},
        {"type": "GlobalAvgPool1D"},
        {"type": "Dense", "units": 5, "act_bits": 16},
    ],
}


def with_layer(i, **change):
    d = yaml.safe_load(yaml.safe_dump(BASE))
    d["layers"][i].update(change)
    return d


@pytest.mark.parametrize("doc, message", [
    (with_layer(0, type="Conv2D"), "layer 0: unknown layer type 'Conv2D'"),
    (with_layer(0, kernel=300), "layer 0 (Conv1D): kernel=300 is longer than its input"),
    (with_layer(0, weight_bits=9), "layer 0 (Conv1D): weight_bits=9 is out of range"),
    (with_layer(7, act_bits=1), "layer 7 (Dense): act_bits=1 is out of range"),
    (with_layer(0, filters=0), "layer 0 (Conv1D): filters=0 must be a positive integer"),
    (with_layer(0, colour=3), "layer 0 (Conv1D): unknown field(s) ['colour']"),
    (with_layer(7, units=4), "layer 7 (Dense): classifier units=4 but classes=5"),
    (with_layer(3, pool=200), "layer 3 (MaxPool1D): pool=200 is longer than its input"),
    ({**BASE, "layers": BASE["layers"][:-1]}, "missing classifier"),
    ({**BASE, "layers": [{"type": "ReLU"}] + BASE["layers"]}, "layer 0 (ReLU): ReLU must follow a compute layer"),
    ({k: v for k, v in BASE.items() if k != "input"}, "missing field 'input'"),
    (with_layer(4, kernel="3"), "layer 4 (DepthwiseSeparableConv1D): kernel='3' must be an integer"),
])
def test_validation_errors_name_layer_and_field(doc, message):
    with pytest.raises(TopologyError) as err:
        Topology.from_dict(doc)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_shape_inference_and_counts():
    t = Topology.from_dict(BASE)
    shapes = t.shapes()
    assert (shapes[0].length, shapes[0].channels, shapes[0].signed) == (140, 4, False)
    assert (shapes[3].length, shapes[3].channels) == (70, 4)
    assert (shapes[4].length, shapes[4].channels) == (68, 8)
    assert (shapes[-1].length, shapes[-1].channels, shapes[-1].bits, shapes[-1].signed) == (1, 5, 16, True)
    # params: conv 5*1*4+4, dwsep 3*4 + 4*8 + 8, dense 8*5+5
    assert t.params() == 24 + 52 + 45
    assert t.macs() == 140 * 5 * 4 + 68 * 4 * (3 + 8) + 8 * 5
    kinds = [s.kind for s in plan_stages(t)]
    assert kinds == ["conv1d", "maxpool1d", "dwconv1d", "pwconv1d", "gap1d", "dense"]


conv = st.fixed_dictionaries({
    "type": st.sampled_from(["Conv1D", "DepthwiseSeparableConv1D"]),
    "filters": st.integers(1, 32), "kernel": st.integers(1, 7), "stride": st.integers(1, 2),
    "padding": st.integers(0, 3), "weight_bits": st.sampled_from(LEGAL_BITS), "act_bits": st.sampled_from(LEGAL_BITS)})


@settings(max_examples=60, deadline=None)
@given(st.lists(conv, min_size=1, max_size=4), st.booleans(), st.integers(2, 10))
def test_yaml_round_trip(convs, relu, classes):
    layers = []
    for c in convs:
        layers += [c, {"type": "BatchNorm"}] + ([{"type": "ReLU"}] if relu else [])
    layers += [{"type": "GlobalAvgPool1D"}, {"type": "Dense", "units": classes}]
    t = Topology.from_dict({"name": "rt", "input": {"length": 64, "channels": 2, "bits": 8}, "classes": classes, "layers": layers})
    back = Topology.from_yaml(t.to_yaml())
    assert back.to_dict() == t.to_dict()
    assert back.shapes() == t.shapes() and back.params() == t.params() and back.macs() == t.macs()


def test_cli_reports_invalid_topology_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_layer(0, kernel=300)))
    proc = subprocess.run([sys.executable, "-m", "sustainml.host.cli", "train", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "kernel=300 is longer than its input" in proc.stderr and "Traceback" not in proc.stderr
