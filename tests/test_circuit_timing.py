"""The simulated board times rtlsim bundles by the circuit, and the cost model cannot see that ground truth.

* A benchmark of an rtlsim bundle reports, per call, the Verilator cycle count (ap_start -> ap_done)
  at the PL clock as hardware time, the driver's time apart, and says so in its notes.
* The memory model behind the HP port is ground truth the host never reads: changing it (in the
  bundle's manifest, as another board family's DDR would) leaves the prior cost model's predictions
  unchanged, leaves a refined model's predictions unchanged until the designs are measured again,
  and moves the refined prediction once they are.
* So are the simulated board's energies per event (board/sim/power.py): with them changed (a
  modified constants file, ``$SUSTAINML_SIM_PARAMS``) the prior's and a refined model's power
  predictions do not move; the measured energy does, and the refined model follows only after
  the designs are measured again.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from random_models import SMALL, random_model
from sustainml.board import sim
from sustainml.board.bundle import read_manifest, write_manifest
from sustainml.board.dnnu import Dnnu
from sustainml.board.sim.rtlsim import MemoryModel, Rtlsim
from sustainml.host.deploy_cli import main as deploy_main
from sustainml.host.generate import generate
from sustainml.host.measure.db import MeasurementDB
from sustainml.host.measure.refine import load_observations, predict, refine
from sustainml.host.rtlgen.bundle import build_rtlsim
from sustainml.nas.costmodel import load_coefficients

CLOCKS = (50.0, 62.5, 100.0, 125.0)  # refinement needs >= 4 designs
SLOW_DDR = MemoryModel(read_latency=4000, write_latency=2000)  # cycles; defaults are tens


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """The small design as rtlsim bundles at four PL clocks (one Verilated library, cached)."""
    root = tmp_path_factory.mktemp("circuit")
    model_dir = random_model(SMALL, seed=7).save(root / "small")
    cal = np.random.default_rng(0).normal(size=(64, 32, 1))
    out = []
    for clock in CLOCKS:
        name = f"small{int(clock)}"
        generate(model_dir, root / "build" / name, "pynq-z2", calibration=cal, clock_mhz=clock, backend="rtl",
                 name=name)
        out.append(build_rtlsim(root / "build" / name, root / "fast", name=name, echo=lambda _: None))
    return out


def with_memory(bundle: Path, dst_root: Path, memory: MemoryModel) -> Path:
    """A copy of ``bundle`` whose simulated DDR is ``memory`` (same circuit, same stages)."""
    dst = dst_root / bundle.name
    shutil.copytree(bundle, dst)
    doc = read_manifest(dst)
    doc["rtlsim"]["memory"] = memory.to_dict()
    doc.pop("files", None)
    write_manifest(dst, doc)
    return dst


def test_benchmark_hardware_time_is_the_circuits_cycle_count(bundles):
    b = bundles[2]
    sim.activate("pynq-z2")
    try:
        d = Dnnu.load(b, max_batch=32)
        res = d.benchmark(n=8, batch=32, warmup=1)
        core = d.device.dnnu
        x = np.ascontiguousarray(d.input_buffer[:32])
        manifest = read_manifest(b)
        direct = Rtlsim(b / manifest["rtlsim"]["library"], b / "rtl", "direct")
        r = direct.run_bytes(x, np.zeros((32,) + d.output_spec.shape, d.output_spec.np_dtype), 32,
                             MemoryModel.from_dict(manifest["rtlsim"]["memory"]))
        direct.close()
        assert core.last_cycles == r.cycles  # the board's call is the circuit's, cycle for cycle
        assert core.last_hw_ns == round(r.cycles * 1e3 / d.clock_mhz) and d.clock_mhz == pytest.approx(100.0)
        # the driver reads its clock after the ap_start write and polls ap_done: its reading is the
        # circuit's time give or take that host-side slack
        assert res.hw_us["p50"] == pytest.approx(r.cycles / d.clock_mhz, rel=0.5)
        assert res.overhead_us["min"] > 0  # driver time on this host, kept apart from the hardware time
        assert "Verilator cycle count" in res.notes[0] and "host" in res.notes[0]
        d.close()
    finally:
        sim.deactivate()


def _measure(bundle_dirs, work: Path, power: bool = False) -> Path:
    camp = work / "c.yaml"
    meter = {"interval_s": 0.004, "idle_s": 0.05, "meter": "sim"} if power else False
    camp.write_text(yaml.safe_dump({"name": work.name, "boards": ["sim:pynq-z2"], "batches": [1, 8],
                                    "calls": 40 if power else 6, "overlays": [str(p) for p in bundle_dirs],
                                    "repetitions": 1, "warmup": 1, "power": meter}))
    assert deploy_main(["measure", str(camp)]) == 0
    return work / "measurements.sqlite"


def _hw_predictions(db_path: Path, coeffs) -> dict:
    """Predicted hardware time of a batch-8 call per PL clock, from a cost model and the stages."""
    with MeasurementDB(db_path) as db:
        board, obs = load_observations(db, "sim:pynq-z2")
    return {o.clock_mhz: predict(o, board, coeffs).hw_s[8] for o in obs}


def _measured_hw(db_path: Path) -> dict:
    with MeasurementDB(db_path) as db:
        _, obs = load_observations(db, "sim:pynq-z2")
    return {o.clock_mhz: o.hw_s[8] for o in obs}


@pytest.mark.slow
def test_cost_model_cannot_see_the_memory_model(bundles, tmp_path):
    fast_dir, slow_dir = tmp_path / "fast", tmp_path / "slow"
    fast_dir.mkdir()
    slow_dir.mkdir()
    slow = [with_memory(b, tmp_path / "slow_bundles", SLOW_DDR) for b in bundles]
    fast_db = _measure(bundles, fast_dir)
    prior = load_coefficients("pynq-z2")
    with MeasurementDB(fast_db) as db:
        r = refine(db, "sim:pynq-z2", folds=3)
    refined_fast = r.refined
    assert "hardware time: 4 circuit cycles (Verilator)" in refined_fast.source
    within = r.errors["after"]["hardware time"]["within10_pct"]
    assert 0.0 <= within <= 100.0 and r.errors["after"]["hardware time"]["n"] == 8

    # the slower DDR is real to the circuit: every measured call takes longer
    slow_db = _measure(slow, slow_dir)
    m_fast, m_slow = _measured_hw(fast_db), _measured_hw(slow_db)
    print("measured hw_s fast", m_fast, "slow", m_slow)
    assert all(m_slow[c] > m_fast[c] + 0.5 * SLOW_DDR.read_latency / c * 1e-6 for c in CLOCKS)

    # the prior predicts from the stages and clock alone: identical for both memories
    assert _hw_predictions(slow_db, prior) == _hw_predictions(fast_db, prior)
    # a refined model does not move until it is refined on the new measurements ...
    assert _hw_predictions(slow_db, refined_fast) == _hw_predictions(fast_db, refined_fast)
    # ... and then it follows them
    with MeasurementDB(slow_db) as db:
        refined_slow = refine(db, "sim:pynq-z2", folds=3).refined
    p_fast, p_slow = _hw_predictions(fast_db, refined_fast), _hw_predictions(slow_db, refined_slow)
    assert all(p_slow[c] > p_fast[c] for c in CLOCKS)
    err = lambda p, m: max(abs(p[c] - m[c]) / m[c] for c in CLOCKS)  # noqa: E731
    assert err(p_slow, m_slow) < err(p_fast, m_slow)


def _power_predictions(db_path: Path, coeffs) -> dict:
    """Predicted dynamic energy per inference (J) at the largest batch, per PL clock, from a cost model
    and the stages."""
    with MeasurementDB(db_path) as db:
        board, obs = load_observations(db, "sim:pynq-z2")
    return {o.clock_mhz: predict(o, board, coeffs).dyn_energy_j[o.batches[-1]] for o in obs}


def _measured_power(db_path: Path) -> dict:
    with MeasurementDB(db_path) as db:
        _, obs = load_observations(db, "sim:pynq-z2")
    return {o.clock_mhz: o.dyn_energy_j[o.batches[-1]] for o in obs}


@pytest.mark.slow
def test_cost_model_cannot_see_the_energy_per_event(bundles, tmp_path, monkeypatch):
    from sustainml.board.sim import model as sim_model
    from sustainml.board.sim import power as sim_power

    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    db_a = _measure(bundles, a_dir, power=True)
    prior = load_coefficients("pynq-z2")
    with MeasurementDB(db_a) as db:
        refined_a = refine(db, "sim:pynq-z2", folds=3).refined
    before = {"prior": _power_predictions(db_a, prior), "refined": _power_predictions(db_a, refined_a)}

    # another ground truth: every energy per event x20 (what a much hungrier process would draw)
    doc = yaml.safe_load(sim_model.PARAMS.read_text())
    doc["pynq-z2"]["power"]["energy_pj"] = {k: 20 * v for k, v in sim_power.PJ.items()}
    hungry = tmp_path / "hungry.yaml"
    hungry.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv(sim_model.PARAMS_ENV, str(hungry))  # inherited by the campaign's board processes
    # the host's predictions cannot see it: the same designs, the same numbers
    assert _power_predictions(db_a, prior) == before["prior"]
    assert _power_predictions(db_a, refined_a) == before["refined"]

    db_b = _measure(bundles, b_dir, power=True)
    m_a, m_b = _measured_power(db_a), _measured_power(db_b)
    print("measured dynamic J per inference", m_a, "x20 energies", m_b)
    assert all(m_b[c] > 5 * m_a[c] > 0 for c in CLOCKS)  # the circuit draws what the new constants say
    # the re-measured designs are the same designs: neither model's prediction moves by itself ...
    assert _power_predictions(db_b, prior) == before["prior"]
    assert _power_predictions(db_b, refined_a) == before["refined"]
    # ... until the model is refined on the new measurements, and then it follows them
    with MeasurementDB(db_b) as db:
        refined_b = refine(db, "sim:pynq-z2", folds=3).refined
    p_a, p_b = before["refined"], _power_predictions(db_b, refined_b)
    assert all(p_b[c] > 2 * p_a[c] for c in CLOCKS)
    err = lambda p, m: max(abs(p[c] - m[c]) / m[c] for c in CLOCKS)  # noqa: E731
    assert err(p_b, m_b) < err(p_a, m_b)
