"""Overflow-free accumulators by default (issue 21). With default settings the generated design's
C-simulation (its sim build) equals 32-bit accumulation on full-scale, alternating full-scale and
random inputs, for the trained reference model and for random models; the narrowed widths the
generator used to pick do wrap on those inputs. ``--acc-width observed --acc-overflow saturate``
gives the golden model's saturated result bit for bit, and the report and manifest say that
inputs outside the calibration range can overflow."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from random_models import random_model, random_topology, stress_inputs
from sustainml.board.bundle import load_bundle
from sustainml.host.build import build
from sustainml.host.cli import main
from sustainml.host.generate import generate
from sustainml.host.hlsgen import csim
from sustainml.nas import accumulators, golden
from sustainml.nas.quantized import QuantizedModel


def acc32(model: QuantizedModel) -> QuantizedModel:
    """The model with 32-bit wrapping accumulators everywhere."""
    return dataclasses.replace(model, stages=[dataclasses.replace(s, acc_bits=32, acc_overflow="wrap")
                                              for s in model.stages])


def sim_outputs(build_dir: Path, out_root: Path, x: np.ndarray) -> tuple:
    """(C-simulated outputs of the generated project's sim build, its manifest)."""
    bundle = load_bundle(build(build_dir, out_root, sim=True, echo=lambda _: None))
    return csim.run_dnnu(bundle.bitfile, bundle.manifest["io"], x), bundle.manifest


def _check_default_design(g, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    acc = g.record["accumulators"]
    assert acc["width"] == "bound" and acc["overflow"] == "wrap" and acc["warning"] is None
    assert all(r["safe"] and r["chosen_bits"] == r["bound_bits"] < 32 for r in acc["stages"])
    want = golden.run(acc32(g.model), x)
    assert np.array_equal(want, golden.run(g.model, x, emulate_acc=False))  # 32 bits are exact here
    hw, manifest = sim_outputs(g.build_dir, tmp_path / "overlays", x)
    assert np.array_equal(hw, want), f"{int((hw != want).any(axis=1).sum())} of {len(x)} samples differ"
    assert manifest["build"]["accumulators"]["width"] == "bound"
    return want


def test_reference_default_equals_32_bit_accumulation_on_full_scale_inputs(tmp_path, reference_model_dir):
    g = generate(reference_model_dir, tmp_path / "build", "pynq-z2")
    x = stress_inputs(g.model)
    want = _check_default_design(g, x, tmp_path)
    assert np.unique(want).size > 20  # the logits vary over the inputs: a wrong bit would show
    # the calibration-range widths (the former default, observed + 1 margin bit) wrap on these inputs
    x_cal = QuantizedModel.load(reference_model_dir)
    rows = accumulators.profile(g.model, g.model.quantize_input(_train_x(x_cal)), 1, "observed")
    narrowed = accumulators.apply(g.model, rows)
    assert any(r.chosen_bits < r.bound_bits for r in rows)
    assert (golden.run(narrowed, x) != want).any(axis=1).sum() > 0


def _train_x(model: QuantizedModel) -> np.ndarray:
    from sustainml.nas.data import load_dataset

    return load_dataset(model.metrics["dataset"]).train.x


@pytest.mark.parametrize("seed", [11, 12])
def test_random_models_default_equals_32_bit_accumulation(tmp_path, seed):
    rng = np.random.default_rng(seed)
    model = random_model(random_topology(rng), seed=seed)
    model.save(tmp_path / "model")
    cal = np.random.default_rng(seed).normal(size=(64, model.topology.input.length, model.topology.input.channels))
    g = generate(tmp_path / "model", tmp_path / "build", "pynq-z2", calibration=cal)
    _check_default_design(g, stress_inputs(g.model, seed), tmp_path)


def test_observed_widths_with_saturation_match_the_golden_model(tmp_path, reference_model_dir, ecg5000):
    g = generate(reference_model_dir, tmp_path / "build", "pynq-z2", acc_width="observed", margin_bits=1,
                 acc_overflow="saturate")
    assert all(s.acc_overflow == "saturate" for s in g.model.stages if s.is_compute)
    x = stress_inputs(g.model)
    want = golden.run(g.model, x)
    hw, manifest = sim_outputs(g.build_dir, tmp_path / "overlays", x)
    assert np.array_equal(hw, want), f"{int((hw != want).any(axis=1).sum())} of {len(x)} samples differ"
    # accumulators do leave their range on these inputs; saturation clips where wrap-around gives noise
    outside = []

    def observe(i: int, acc: np.ndarray) -> None:
        a = g.model.stages[i].acc_bits
        outside.append(int(((acc < -(1 << (a - 1))) | (acc > (1 << (a - 1)) - 1)).sum()))

    golden.run(g.model, x, observe=observe)
    assert sum(outside) > 0, outside
    wrapped = golden.run(accumulators.apply(g.model, [], "wrap"), x)
    exact = golden.run(g.model, x, emulate_acc=False)
    # (on full-scale inputs both can differ from the exact logits on every sample: compare how far)
    assert np.abs(wrapped - exact).mean() > np.abs(want - exact).mean()
    # the calibration data itself never saturates (widths hold its running sums at this unrolling)
    x_cal = g.model.quantize_input(ecg5000.train.x)
    assert np.array_equal(golden.run(g.model, x_cal), golden.run(g.model, x_cal, emulate_acc=False))
    warning = manifest["build"]["accumulators"]["warning"]
    assert warning and "outside the calibration range can clip" in warning
    assert warning in (g.build_dir / "report.md").read_text()


def test_observed_wrap_warns_and_bad_options_are_one_line(tmp_path, reference_model_dir, capsys):
    rc = main(["generate", str(reference_model_dir), "--acc-width", "observed", "--margin-bits", "0",
               "--out", str(tmp_path / "b1")])
    assert rc == 0
    assert "can wrap around" in capsys.readouterr().err
    report = (tmp_path / "b1" / "report.md").read_text()
    assert "inputs outside the calibration range can wrap around" in report and "| bound - observed |" in report
    rc = main(["generate", str(reference_model_dir), "--margin-bits", "2", "--out", str(tmp_path / "b2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--margin-bits applies to --acc-width observed" in err[0]
    assert not (tmp_path / "b2").exists()
