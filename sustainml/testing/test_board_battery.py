"""The on-board test battery: what a pushed overlay must do on a board (marker ``board``).

Run it on boards from the inventory with the plugin (:mod:`sustainml.pytest_plugin`)::

    pytest -m board --board NAME --board-inventory boards.yaml --board-bundle overlays/NAME [--board-db m.sqlite]

Tests, in order, once per board (fixtures from the plugin):

* push + smoke test: the bundle uploads, its sha256 verify on the board, the golden input gives
  the golden output bit for bit, and it becomes the active release;
* golden vectors: the board's outputs equal the golden outputs, which equal the bundle's own
  integer model run on the host (``nas.golden``); with a test set in the bundle, every prediction
  and the accuracy on the whole set equal the golden model's;
* latency and throughput at batches 1, 8, 64: the hardware time (ap_start -> ap_done, p50) lies
  in the band the manifest states (``estimates.hw_time_band``, from the cost-model estimate);
  end-to-end latency, driver overhead and throughput are reported;
* power: rails are readable exactly where the catalogue says so; measured idle and busy power
  lie within the catalogue's bounds for the board; energy per inference is reported;
* fault recovery: a call that never finishes times out with a clear error, the runtime resets
  the DNNU, and the golden input then runs bit-exact;
* rollback: the release that was active before the push is active again.

Every measured value goes to the test report with ``record_property`` (JUnit XML properties)
and, with ``--board-db``, to the measurements database.
"""
from __future__ import annotations

import numpy as np
import pytest

from sustainml.testing.onboard import BATCHES, bundle_test_set, hw_time_band

pytestmark = pytest.mark.board


def test_push_verifies_smoke_tests_and_activates(board_run, record_property):
    assert board_run.push_error is None, board_run.push_error
    res = board_run.require_pushed()
    smoke = res["smoke"]
    record_property("push_s", round(board_run.push_seconds, 3))
    record_property("smoke_samples", smoke["samples"])
    record_property("smoke_mismatches", smoke["mismatches"])
    record_property("simulated", bool(smoke.get("simulated")))
    assert smoke["ok"] and smoke["mismatches"] == 0, smoke
    active = board_run.active()
    assert active and active["release"] == res["release"]["release"], (active, res["release"])
    assert active["name"] == board_run.bundle.name


def test_golden_vectors_bit_exact(board_run, golden_vectors, golden_model, record_property):
    board_run.require_pushed()
    gx, gy = golden_vectors
    y = board_run.infer(gx)
    mism = int(np.count_nonzero(y.reshape(gy.shape) != gy))
    record_property("golden_samples", int(len(gx)))
    record_property("golden_mismatches", mism)
    assert y.dtype == gy.dtype and mism == 0, f"{mism} of {gy.size} golden outputs differ on the board"
    if golden_model is not None and not board_run.bundle.input.fp8:
        from sustainml.nas import golden

        ref = golden.run(golden_model, gx.astype(np.int64))
        assert np.array_equal(ref, gy.astype(np.int64)), "the bundle's golden outputs are not its model's outputs"


def test_test_set_accuracy_equals_golden_model(board_run, golden_model, record_property):
    board_run.require_pushed()
    ts = bundle_test_set(board_run.bundle)
    if ts is None:
        pytest.skip(f"bundle {board_run.bundle.name} carries no test set (manifest test_set)")
    if golden_model is None:
        pytest.skip(f"bundle {board_run.bundle.name} carries no model (model.yaml + weights.npz)")
    from sustainml.nas import golden

    x, labels = ts
    y = board_run.infer(x).reshape(len(x), -1)
    ref = golden.run(golden_model, x.astype(np.int64)).reshape(len(x), -1)
    board_acc = float(np.mean(y.argmax(1) == labels))
    model_acc = float(np.mean(ref.argmax(1) == labels))
    differ = int(np.count_nonzero((y != ref).any(axis=1)))
    record_property("test_samples", int(len(x)))
    record_property("test_accuracy_board", board_acc)
    record_property("test_accuracy_golden", model_acc)
    record_property("test_samples_differing", differ)
    assert differ == 0, f"{differ} of {len(x)} test samples give other outputs than the golden model"
    assert board_acc == model_acc


@pytest.mark.parametrize("batch", BATCHES)
def test_latency_and_throughput_within_band(board_run, board_measurements, batch, record_property):
    unit = board_measurements["units"].get(batch)
    assert unit is not None, f"no measurement at batch {batch}"
    lat = unit["latency"]
    if lat["hw_us"] is None:  # a C-simulation bundle on the simulated board: no circuit, no hardware time
        assert lat["simulated"] and board_run.bundle.kind == "sim", "a hardware time is missing"
        pytest.skip(f"bundle {board_run.bundle.name}: hardware time: none (C-simulation, no circuit); "
                    "build --rtlsim to time the circuit")
    hw, e2e, over = lat["hw_us"]["p50"], lat["latency_us"], lat["overhead_us"]
    record_property(f"hw_us_p50_b{batch}", round(hw, 3))
    record_property(f"latency_us_p50_b{batch}", round(e2e["p50"], 3))
    record_property(f"latency_us_p99_b{batch}", round(e2e["p99"], 3))
    record_property(f"overhead_us_p50_b{batch}", round(over["p50"], 3))
    record_property(f"throughput_sps_b{batch}", round(lat["throughput_sps"], 1))
    record_property("simulated", bool(lat["simulated"]))
    assert 0 < hw <= e2e["p50"] and over["p50"] >= 0
    assert lat["throughput_sps"] > 0
    band = hw_time_band(board_run.bundle).get(batch)
    if band is None:
        pytest.skip(f"bundle {board_run.bundle.name} states no hardware-time band for batch {batch} "
                    "(built before estimates.hw_time_band; rebuild it)")
    record_property(f"hw_us_estimate_b{batch}", band["estimate_us"])
    assert band["lo_us"] <= hw <= band["hi_us"], (
        f"hardware time {hw:.2f} us at batch {batch} is outside the manifest's band "
        f"[{band['lo_us']}, {band['hi_us']}] us (estimate {band['estimate_us']} us)")


def test_power_plausible_and_energy_reported(board_run, board_measurements, record_property):
    from sustainml.nas.catalogue import get_board

    entry = board_run.target.entry
    cat = get_board(entry.board)
    units = board_measurements["units"]
    reports = {b: u.get("power") for b, u in units.items()}
    sources = {p["source"] for p in reports.values() if p}
    record_property("power_source", ",".join(sorted(sources)) or "none")
    if cat.has_rails:
        assert sources == {"rails"}, f"{cat.name} has readable rails ({', '.join(cat.rails)}), got {sources or 'none'}"
    else:
        assert "rails" not in sources, f"{cat.name} has no readable rails, yet rails were reported"
    if not sources:
        pytest.skip(f"{entry.name}: no readable rails and no meter: idle/busy power not measurable here")
    lo, hi, busy_max = cat.power_w or (0.0, float("inf"), float("inf"))
    for batch, p in sorted(reports.items()):
        assert p and p["idle_w"] is not None, f"batch {batch}: power not measured ({(p or {}).get('note')})"
        e_uj = p["energy_per_inference_j"] * 1e6
        record_property(f"idle_w_b{batch}", round(p["idle_w"], 4))
        record_property(f"busy_w_b{batch}", round(p["busy_w"], 4))
        record_property(f"energy_uj_b{batch}", round(e_uj, 5))
        assert lo <= p["idle_w"] <= hi, f"idle power {p['idle_w']:.3f} W outside [{lo}, {hi}] W ({cat.name})"
        assert p["idle_w"] * 0.98 <= p["busy_w"] <= busy_max, (
            f"busy power {p['busy_w']:.3f} W implausible (idle {p['idle_w']:.3f} W, max {busy_max} W)")
        # the dynamic energy of one inference cannot exceed the whole busy board's over one call
        per_call_s = units[batch]["latency"]["latency_us"]["p50"] * 1e-6
        assert 0 <= e_uj * 1e-6 <= busy_max * per_call_s, f"energy per inference {e_uj:.4f} uJ implausible"


def test_hung_accelerator_times_out_and_recovers(board_run, record_property):
    board_run.require_pushed()
    res = board_run.recovery()
    record_property("fault", res["fault"])
    record_property("recovery_timeout_s", res["timeout_s"])
    record_property("seconds_to_error", res["seconds_to_error"])
    record_property("mismatches_after_reset", res["mismatches_after"])
    assert res["timed_out"] and "did not raise ap_done within" in res["error"], res["error"]
    assert res["reset"], f"the runtime did not reset the DNNU: {res['error']}"
    assert res["timeout_s"] <= res["seconds_to_error"] < res["timeout_s"] + 5
    assert res["recovered"] and res["mismatches_after"] == 0, res


def test_rollback_restores_the_previous_release(board_run, record_property):
    pushed = board_run.require_pushed()
    before = board_run.before
    if before is None:
        pytest.skip(f"{board_run.target.entry.name} had no active release before the push; nothing to restore")
    res = board_run.rollback()
    record_property("restored_release", res["active"]["release"])
    assert res["smoke"]["ok"], res["smoke"]
    active = board_run.active()
    assert active["release"] == before["release"] and active["digest"] == before["digest"]
    assert res["previous"]["release"] == pushed["release"]["release"]
