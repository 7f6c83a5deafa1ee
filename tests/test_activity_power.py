"""Power from the circuit's activity: the monitor counts what the simulation did, the simulated board
turns the counts into energy (board/sim/power.py, a model), and the host never reads either.

* The monitor's counters are facts of the simulation: stream beats and bit toggles equal what the
  data implies; fold steps equal the folded stages' work.
* A call's dynamic energy follows the data (all-zero vs random inputs: same cycles, same ROM and
  DRAM traffic, different logic energy), so power is not a formula of the design's parameters.
* Power over time: static power always, each call's energy spread over its busy interval.
"""
from __future__ import annotations

import numpy as np
import pytest

from sustainml.board.sim import power as pw
from sustainml.board.sim.rtlsim import activity_counters
from sustainml.host.rtlgen import stages as rtl_stages
from sustainml.host.rtlgen import top
from sustainml.host.rtlgen.rtlsim import MemoryModel, open_project
from rtl_models import check_model, container, kind_model


def _popcount(a: np.ndarray) -> int:
    return int(np.unpackbits(a.view(np.uint8)).sum())


def test_pass_through_counts_every_beat_and_toggle(tmp_path):
    """13 steps x 3 channels of 16 bits: a beat is the three values side by side (48 bits); its
    toggles are the bits that differ from the previous beat (the first from zero)."""
    sim, _ = open_project(top.passthrough_project(tmp_path, 13, 3, 16), "pass-through")
    x = np.random.default_rng(4).integers(-32768, 32768, size=(5, 13, 3)).astype(np.int16)
    y, res = sim.run(x, (13, 3), np.int16, MemoryModel(17, 5, 0.3, 0.3, 9))
    assert np.array_equal(y, x)
    act = dict(zip(activity_counters([]), res[0].activity))
    beats = x.reshape(-1, 3)
    prev = np.vstack([np.zeros((1, 3), np.int16), beats[:-1]])
    assert act["st0.beats"] == 5 * 13
    assert act["st0.toggles"] == _popcount(np.ascontiguousarray(beats ^ prev))
    # a second call counts afresh (the harness resets the DNNU, and the monitor with it)
    _, res2 = sim.run(x[:1], (13, 3), np.int16)
    assert dict(zip(activity_counters([]), res2[0].activity))["st0.beats"] == 13
    sim.close()


def test_fold_steps_are_the_stages_work_and_energy_follows_the_data(tmp_path):
    model, x = kind_model("conv-avg-ds-gap", "random", seed=3)
    res = check_model(model, x, tmp_path, stalls=True)  # same project as test_rtl_dnnu's: cached library
    kinds = [s.kind for s in model.stages]
    act = dict(zip(activity_counters(kinds), res[0].activity))
    n = len(x)
    for i, s in enumerate(model.stages):
        if s.is_compute:
            per_sample = rtl_stages.fold_count(s) * (1 if s.kind == "dense" else s.out_len)
            assert act[f"s{i}.steps"] == n * per_sample, (i, s.kind)
            assert act[f"s{i}.rom_reads"] >= act[f"s{i}.steps"]
        assert act[f"st{i}.beats"] == n * s.in_len
    assert act[f"st{len(kinds)}.beats"] == n * model.stages[-1].out_len

    # the same circuit on all-zero inputs: same work and traffic, less switching, less logic energy
    sim, _ = open_project(top.write_project(model, tmp_path / "again"), model.topology.name, stalls=True)
    io = top.TopIO.of_model(model)
    zeros = np.zeros_like(x).astype(container(io.in_bits))
    rand = x.astype(container(io.in_bits))
    runs = {name: sim.run(v, (io.out_len * io.out_ch,), container(io.out_bits))[1][0]
            for name, v in (("zero", zeros), ("rand", rand))}
    sim.close()
    stages = [s.to_dict() for s in model.stages]
    e = {k: pw.call_energy_j(stages, dict(zip(activity_counters(kinds), r.activity)), r.read_beats + r.write_beats,
                             pw.FAMILIES["zynq7"]) for k, r in runs.items()}
    assert runs["zero"].cycles == runs["rand"].cycles
    assert e["zero"]["bram"] == e["rand"]["bram"] and e["zero"]["dram"] == e["rand"]["dram"]
    assert e["rand"]["logic"] > 1.2 * e["zero"]["logic"] > 0
    # the 16 nm family spends less on the same activity (CV^2 scaling), DRAM aside
    zu = pw.call_energy_j(stages, dict(zip(activity_counters(kinds), runs["rand"].activity)),
                          runs["rand"].read_beats + runs["rand"].write_beats, pw.FAMILIES["zynqmp"])
    assert zu["logic"] < e["rand"]["logic"] and zu["dram"] == e["rand"]["dram"]


def test_energy_per_event_figures_and_their_scaling():
    assert pw.FAMILIES["zynq7"].scale == pytest.approx(28 / 45 * (1.0 / 0.9) ** 2)
    assert pw.FAMILIES["zynqmp"].scale == pytest.approx(16 / 45 * (0.85 / 0.9) ** 2)
    stage = {"kind": "pwconv1d", "in_ch": 4, "out_ch": 4, "pe": 2, "simd": 2, "kp": 1, "w_bits": 8, "in_bits": 8,
             "acc_bits": 32}
    fam = pw.Family(45.0, 0.9)  # the reference node: Horowitz's figures as they are
    one = lambda name: pw.call_energy_j([stage], {name: 1}, 0, fam)  # noqa: E731
    # one operand bit toggle: 0.2 pJ / 8 bits per operand side, fanned out to PE=2 lanes, x14 (FPGA)
    assert one("s0.x_toggles")["logic"] == pytest.approx(2 * 0.2 / 8 * 14 * 1e-12)
    assert one("s0.w_toggles")["logic"] == pytest.approx(0.2 / 8 * 14 * 1e-12)
    # a fold step: PE*CHUNK = 4 additions of 32 bits (0.1 pJ each), x14
    assert one("s0.steps")["logic"] == pytest.approx(4 * 0.1 * 14 * 1e-12)
    # a ROM read: PE*CHUNK*8 weight bits + PE*32 bias bits at 10 pJ per 64 bits, no FPGA ratio
    assert one("s0.rom_reads")["bram"] == pytest.approx((32 + 64) * 10 / 64 * 1e-12)
    assert pw.call_energy_j([stage], {}, 3, fam)["dram"] == pytest.approx(3 * 1.95e-9)


def test_power_over_time_spreads_each_call_over_its_busy_interval():
    params = {"power": {"family": "zynqmp", "static_w": 2.0,
                        "rails": {"VCCINT": {"static_w": 0.5, "events": ["logic"]},
                                  "VCC1V2": {"static_w": 0.25, "events": ["dram"]}}}}
    m = pw.PowerModel(params)
    m.call(1_000, 2_000, {"logic": 4e-9, "bram": 1e-9, "dram": 2e-9})
    m.call(5_000, 5_000, {"logic": 1e-9})  # a zero-length call deposits its energy at once
    assert m.energy_j(0, 1_000) == pytest.approx(2.0 * 1e-6)
    assert m.energy_j(1_000, 1_500) == pytest.approx(2.0 * 0.5e-6 + 3.5e-9)
    assert m.energy_j(0, 10_000) == pytest.approx(2.0 * 1e-5 + 8e-9)
    assert m.energy_j(0, 10_000, "VCCINT") == pytest.approx(0.5 * 1e-5 + 5e-9)
    assert m.energy_j(1_250, 1_750, "VCC1V2") == pytest.approx(0.25 * 5e-7 + 1e-9)
