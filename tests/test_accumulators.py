"""Accumulator profiler: narrower than the naive width, overflow detected, never silently wrapped."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from random_models import random_model
from sustainml.host.cli import main
from sustainml.nas import accumulators, golden
from sustainml.nas.accumulators import AccumulatorOverflowError, bits_for


def test_bits_for_is_the_narrowest_twos_complement_width():
    for lo, hi in ((-1, 0), (-128, 127), (-129, 0), (0, 128), (-5, 1000), (-(2 ** 40), 3)):
        b = bits_for(lo, hi)
        assert -(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1
        assert not (-(1 << (b - 2)) <= lo and hi <= (1 << (b - 2)) - 1) or b == 2


def test_reference_model_accumulators_shrink_and_hold_on_the_test_set(reference_model, ecg5000):
    x_cal = reference_model.quantize_input(ecg5000.train.x)
    rows = accumulators.profile(reference_model, x_cal, margin_bits=1, width="observed")
    assert len(rows) == sum(s.is_compute for s in reference_model.stages)
    for r in rows:
        assert r.observed_bits <= r.chosen_bits <= min(r.bound_bits, r.naive_bits)
    assert all(r.chosen_bits < r.naive_bits for r in rows), accumulators.table(rows)
    narrowed = accumulators.apply(reference_model, rows)
    x_test = reference_model.quantize_input(ecg5000.test.x)
    assert accumulators.check(accumulators.profile(narrowed, x_test, width="observed")) == []
    assert np.array_equal(golden.run(narrowed, x_test), golden.run(narrowed, x_test, emulate_acc=False))


def test_weight_bound_holds_for_any_input(reference_topology):
    model = random_model(reference_topology, seed=3)
    rng = np.random.default_rng(0)
    extreme = rng.choice([-128, 127], size=(64, 140, 1))  # saturated inputs push the sums to their extremes
    for r in accumulators.profile(model, extreme, margin_bits=0):
        assert r.observed_bits <= r.bound_bits <= r.naive_bits


def test_deliberately_narrowed_accumulator_is_detected(reference_topology, tmp_path, capsys):
    model = random_model(reference_topology, seed=1)
    x = np.random.default_rng(1).integers(-128, 128, size=(32, 140, 1))
    rows = accumulators.profile(model, x, margin_bits=0, width="observed")
    victim = rows[1]
    stages = list(model.stages)
    stages[victim.stage] = dataclasses.replace(stages[victim.stage], acc_bits=victim.observed_bits - 1)
    narrow = dataclasses.replace(accumulators.apply(model, rows), stages=stages)
    bad = accumulators.check(accumulators.profile(narrow, x, width="observed"))
    assert len(bad) == 1 and bad[0].startswith(f"stage {victim.stage} (conv1d)")
    # the overflow is real: the wrapping hardware would compute different logits
    assert not np.array_equal(golden.run(narrow, x), golden.run(narrow, x, emulate_acc=False))
    with pytest.raises(AccumulatorOverflowError, match=f"stage {victim.stage} .*acc_bits={victim.observed_bits - 1}"):
        accumulators.require_no_overflow(narrow, x)
    # the generator refuses to keep such widths, in one line
    narrow.save(tmp_path / "narrow")
    np.save(tmp_path / "cal.npy", x)
    rc = main(["generate", str(tmp_path / "narrow"), "--keep-acc-bits", "--calibration", str(tmp_path / "cal.npy"),
               "--out", str(tmp_path / "build")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "accumulator overflow" in err[0] and f"stage {victim.stage}" in err[0]
    assert not (tmp_path / "build").exists()


def test_bound_widths_hold_every_running_sum_at_any_unrolling(reference_topology):
    """The default widths are exact in both overflow modes: no running sum, in any fold order,
    leaves the bound (full-scale and random inputs, several SIMD/KP)."""
    from sustainml.nas.costmodel import unroll_dims
    from sustainml.nas.folding import divisors

    model = random_model(reference_topology, seed=5)
    rng = np.random.default_rng(2)
    x = np.concatenate([np.full((1, 140, 1), 127), np.full((1, 140, 1), -128),
                        rng.choice([-128, 127], size=(16, 140, 1)), rng.integers(-128, 128, size=(16, 140, 1))])
    rows = accumulators.profile(model, x)  # default: bound
    assert all(r.chosen_bits == r.bound_bits and r.safe for r in rows)
    safe = accumulators.apply(model, rows, "saturate")
    for pick in (0.0, 0.5, 1.0):  # fully folded, middle, fully unrolled
        stages = []
        for s in safe.stages:
            _, ds, dk = unroll_dims(s)
            simd, kp = (divisors(d)[round(pick * (len(divisors(d)) - 1))] for d in (ds, dk))
            stages.append(dataclasses.replace(s, simd=simd, kp=kp))
        folded = dataclasses.replace(safe, stages=stages)
        for i, (lo, hi) in golden.running_ranges(folded, x).items():
            assert bits_for(lo, hi) <= folded.stages[i].acc_bits
        assert np.array_equal(golden.run(folded, x), golden.run(folded, x, emulate_acc=False))


def test_overflow_free_width_beyond_64_bits_is_one_clear_error(reference_topology):
    model = random_model(reference_topology, seed=1)
    model.weights["s0_b"] = np.full_like(model.weights["s0_b"], np.iinfo(np.int64).max)
    with pytest.raises(AccumulatorOverflowError, match=r"stage 0 \(conv1d\): the overflow-free accumulator needs \d+"):
        accumulators.profile(model, np.zeros((1, 140, 1), dtype=np.int64))
