"""The cost model's RTL pipeline timing (nas/rtl_timing.py) and its form in nas/costmodel.py, and the
resource-rule fit of host/measure/resources.py on counts with a known mapping."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sustainml.host.measure.resources import fit_resources, yosys_counts
from sustainml.nas import rtl_timing
from sustainml.nas.catalogue import get_board
from sustainml.nas.costmodel import estimate, load_coefficients
from sustainml.nas.quantized import Stage, plan_stages
from sustainml.nas.topology import Topology


def _topology(seed: int) -> Topology:
    from sustainml.host.measure.designs import random_topology

    return random_topology(np.random.default_rng(seed), 140, 1, 5, f"t{seed}")


def test_sample_latency_of_a_pointwise_stage():
    """One pwconv1d stage: input beat j arrives at cycle j+1, every output beat takes F cycles, so
    the last one is done at 1 + L*F (the stage is the bottleneck when F >= 1)."""
    s = Stage("pwconv1d", 0, 20, 4, 8, True, 20, 6, 8, True, w_bits=8, acc_bits=20, pe=2, simd=2)
    f = rtl_timing.fold_count(s)
    assert f == 3 * 2
    assert rtl_timing.sample_latency([s]) == 1 + 20 * f
    faster = dataclasses.replace(s, pe=6, simd=4)
    assert rtl_timing.sample_latency([faster]) < rtl_timing.sample_latency([s])


def test_rtl_form_of_the_cost_model():
    """A coefficients file with the ``rtl`` group times a call as start + fill*L1 + (B-1)*interval*T + stage*n."""
    prior = load_coefficients("pynq-z2")
    rt = {"rtl_start_cycles": 100.0, "rtl_fill": 1.1, "rtl_interval": 1.05, "rtl_stage_cycles": 7.0}
    c = prior.replace("rtl", rt)
    stages = plan_stages(_topology(3))
    n = len(stages)
    l1 = rtl_timing.sample_latency(stages)
    t, _ = rtl_timing.bottleneck([rtl_timing.stage_period(s) for s in stages], stages)
    for batch in (1, 8):
        e = estimate(stages, "pynq-z2", c, batch=batch)
        want = 100.0 + 1.1 * l1 + 7.0 * n + (batch - 1) * 1.05 * t
        assert e.latency_cycles == pytest.approx(want)
        assert e.interval == pytest.approx(1.05 * t)
    assert estimate(stages, "pynq-z2", prior).latency_cycles != pytest.approx(100.0 + 1.1 * l1 + 7.0 * n)
    assert c.to_dict()["rtl"] == rt


def test_rtl_form_round_trips_through_a_file(tmp_path):
    from sustainml.nas.costmodel import _load_coeffs

    c = load_coefficients("zcu104").replace("rtl", {"rtl_fill": 0.9}).replace("structure", {"dsp_base": 4})
    p = c.save(tmp_path / "zcu104.yaml")
    _load_coeffs.cache_clear()
    back = load_coefficients("zcu104", p)
    assert back.table("rtl")["rtl_fill"] == 0.9 and back.table("structure")["dsp_base"] == 4
    stages = plan_stages(_topology(5))
    assert estimate(stages, "zcu104", back).dsp == estimate(stages, "zcu104").dsp + 4


def test_resource_rules_are_recovered_from_counts_with_a_known_mapping():
    """Counts made by a known rule (products of >= 7 bits on DSP48s, 3 DSPs in the shell, a DSP48 per global
    average-pooling lane but none per pooling-window lane, a known LUT and FF mix): the fit finds the DSP
    rule and shell exactly and the LUT/FF within 1%."""
    board = get_board("pynq-z2")
    prior = load_coefficients(board)
    truth = prior.replace("structure", {"dsp_min_product_bits": 7.0, "dsp_base": 3.0, "bram_min_bits": 4096.0,
                                        "dsp_pool_lane": 0.0, "dsp_gap_lane": 1.0})
    truth = truth.replace("lut", {"lut_base": 2700.0, "lut_stage": 300.0, "lut_lane_bit": 4.0})
    truth = truth.replace("ff", {"ff_base": 1150.0, "ff_stage": 400.0})
    designs = [plan_stages(_topology(s)) for s in range(16)]
    kinds = {st.kind for d in designs for st in d}
    assert {"gap1d", "avgpool1d"} <= kinds  # both lane rules are exercised

    def estimates(c):
        return [estimate(d, board, c) for d in designs]

    counts = [{"lut": e.lut, "ff": e.ff, "dsp": float(e.dsp), "bram18": float(e.bram18)} for e in estimates(truth)]
    lane_dsp = {(c.kind, c.dsp > 0) for e in estimates(truth) for c in e.stages if c.kind in ("gap1d", "avgpool1d")}
    assert lane_dsp == {("gap1d", True), ("avgpool1d", False)}  # the truth maps the two kinds differently
    fitted = fit_resources(estimates, counts, prior)
    got = estimates(fitted)
    assert [e.dsp for e in got] == [c["dsp"] for c in counts]
    assert [e.bram18 for e in got] == [c["bram18"] for c in counts]
    for key in ("lut", "ff"):
        err = [abs(getattr(e, key) - c[key]) / c[key] for e, c in zip(got, counts)]
        assert max(err) < 0.01, (key, max(err))
    assert [e.dsp for e in estimates(prior)] != [c["dsp"] for c in counts]  # the prior did not already fit


def test_yosys_counts_only_reads_the_cache_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("SUSTAINML_CACHE", str(tmp_path / "cache"))
    rtl = tmp_path / "bundle" / "rtl"
    rtl.mkdir(parents=True)
    (rtl / "dnnu.v").write_text("module dnnu(input wire a, output wire y); assign y = a; endmodule\n")
    (rtl / "sources.txt").write_text("dnnu.v\n")
    board = get_board("pynq-z2")
    assert yosys_counts(str(tmp_path / "bundle"), board, run=False) is None
    assert yosys_counts(None, board) is None
    assert yosys_counts(str(tmp_path / "nowhere"), board) is None


def test_a_simulation_only_verilog_file_does_not_change_the_synthesis_key(tmp_path):
    from sustainml.host import yosys

    (tmp_path / "dnnu.v").write_text("module dnnu(input wire a, output wire y); assign y = a; endmodule\n")
    (tmp_path / "s0_w.hex").write_text("01\n")
    key = yosys.cache_key(tmp_path, "v", "script", ["dnnu.v"])
    (tmp_path / "dnnu_act.v").write_text("module dnnu_act; endmodule\n")
    assert yosys.cache_key(tmp_path, "v", "script", ["dnnu.v"]) == key
    assert yosys.cache_key(tmp_path, "v", "script") != key  # without sources: every Verilog file counts
    (tmp_path / "s0_w.hex").write_text("02\n")
    assert yosys.cache_key(tmp_path, "v", "script", ["dnnu.v"]) != key  # a ROM image is part of the key


def test_changed_coefficients_lists_the_resource_and_rtl_terms_a_fit_adds():
    from types import SimpleNamespace

    from sustainml.host.measure.refine import changed_coefficients

    prior = load_coefficients("pynq-z2")
    refined = (prior.replace("rtl", {"rtl_fill": 0.9}).replace("lut", {"lut_sample_bit": 0.3})
               .replace("ff", {"ff_sample_bit": 2.0}).replace("structure", {"dsp_base": 4.0}))
    names = {n for n, _, _ in changed_coefficients(SimpleNamespace(prior=prior, refined=refined))}
    assert {"rtl.rtl_fill", "lut.lut_sample_bit", "ff.ff_sample_bit", "structure.dsp_base"} <= names



def test_the_driver_poll_offset_is_fitted_in_seconds_not_cycles():
    """Hardware times of one-stage pwconv1d pipelines (cycles 1 + L*F + (B-1)*L*F by the RTL form,
    plus 20 start cycles) to which the driver adds a constant 3 µs (its poll of ap_done), at 50/100/125
    MHz: the fit recovers the offset in seconds (a start term in cycles cannot: it would scale with the
    clock) and predicts every call within 1%; the form without the offset misses the short calls."""
    from sustainml.host.measure.db import Design
    from sustainml.host.measure.refine import Observation, fit_latency, predict

    board = get_board("pynq-z2")
    prior = load_coefficients(board)
    form = {"rtl_start_cycles": 20.0, "rtl_fill": 1.0, "rtl_interval": 1.0, "rtl_stage_cycles": 0.0}
    truth = prior.replace("rtl", form).replace("latency", {"hw_fixed_s": 3e-6, "c_cycle": 1.0})
    obs = []
    for i, (length, pe, simd) in enumerate((l, p, s) for l in (20, 60, 140) for p, s in ((6, 4), (2, 2), (1, 1))):
        stage = Stage("pwconv1d", 0, length, 4, 8, True, length, 6, 8, True, w_bits=8, acc_bits=20, pe=pe, simd=simd)
        f = rtl_timing.fold_count(stage)
        o = Observation(Design(f"h{i:02d}", f"d{i}", "pynq-z2", board.part, 100.0, "rtlsim", {}), [stage],
                        (50.0, 100.0, 125.0)[i % 3], {1: 1.0, 8: 1.0}, {}, {})
        o.hw_s = predict(o, board, truth).hw_s
        for b, t in o.hw_s.items():  # the form by hand: start + fill * (1 + L*F) + interval * (B-1) * L*F
            assert t == pytest.approx(3e-6 + (20 + 1 + length * f + (b - 1) * length * f) / (o.clock_mhz * 1e6))
        o.overhead_s = {b: 40e-6 for b in o.hw_s}
        obs.append(o)
    assert min(o.hw_s[1] for o in obs) < 10e-6  # short calls, where 3 µs is far beyond 10%
    fitted = fit_latency(obs, board, prior)
    assert fitted.table("latency")["hw_fixed_s"] == pytest.approx(3e-6, rel=0.05)
    for o in obs:
        got = predict(o, board, fitted).hw_s
        assert all(got[b] == pytest.approx(o.hw_s[b], rel=0.01) for b in o.hw_s), o.name
    without = prior.replace("rtl", form).replace("latency", {"hw_fixed_s": 0.0, "c_cycle": 1.0})
    short = min(obs, key=lambda o: o.hw_s[1])
    assert predict(short, board, without).hw_s[1] < 0.9 * short.hw_s[1]
