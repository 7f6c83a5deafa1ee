"""Timing is a gate of the bitstream build: a routed design with negative slack is refused with
one line naming WNS and the clock, unless --allow-timing-failure, which bundles it and records
the failure in the manifest. Vitis HLS and Vivado are stand-ins here (shell scripts that copy
the hand-written report fixtures into place): what is tested is build's handling of the reports."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from random_models import random_model
from sustainml.board.bundle import load_bundle
from sustainml.host.build import TimingFailedError, build, timing_failure
from sustainml.host.cli import main
from sustainml.host.generate import generate
from sustainml.host.reports import parse_timing_summary
from sustainml.nas.topology import Topology

FIXTURES = Path(__file__).with_name("fixtures") / "reports"
TINY = Topology.from_dict({"name": "tiny", "input": {"length": 16, "channels": 1, "bits": 8}, "classes": 2,
                           "layers": [{"type": "Conv1D", "filters": 2, "kernel": 3, "padding": 1}, {"type": "ReLU"},
                                      {"type": "GlobalAvgPool1D"}, {"type": "Dense", "units": 2, "act_bits": 16}]})

FAKE_HLS = """#!/bin/sh
# stand-in for vitis_hls: drops a csynth.xml fixture where Vitis HLS writes it
mkdir -p dnnu_prj/sol1/syn/report && cp "$FIX/csynth_dataflow_7series.xml" dnnu_prj/sol1/syn/report/csynth.xml
"""
FAKE_VIVADO = """#!/bin/sh
# stand-in for vivado: writes placeholder outputs and copies the report fixtures
mkdir -p out reports && printf bit > out/tiny.bit && printf '<hwh/>' > out/tiny.hwh
cp "$FIX/utilization_placed_7series.rpt" reports/utilization_routed.rpt
cp "$FIX/$TIMING" reports/timing_summary_routed.rpt
"""


@pytest.fixture()
def project(tmp_path, monkeypatch):
    model = random_model(TINY, seed=3).save(tmp_path / "model")
    generate(model, tmp_path / "build", "pynq-z2", calibration=np.random.default_rng(0).normal(size=(16, 16, 1)))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("vitis_hls", FAKE_HLS), ("vivado", FAKE_VIVADO)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FIX", str(FIXTURES))
    return tmp_path


def test_failing_timing_refuses_the_bundle(project, monkeypatch, capsys):
    monkeypatch.setenv("TIMING", "timing_summary_routed_zuplus_failed.rpt")
    with pytest.raises(TimingFailedError, match=r"WNS -0\.412 ns on clock clk_pl_0 \(3\.333 ns, 300\.03 MHz\)"):
        build(project / "build", project / "overlays", echo=lambda _: None)
    assert not (project / "overlays" / "tiny").exists()
    assert main(["build", str(project / "build"), "--out", str(project / "overlays")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--allow-timing-failure" in err[0] and "WNS -0.412" in err[0]


def test_allowed_timing_failure_is_recorded(project, monkeypatch):
    monkeypatch.setenv("TIMING", "timing_summary_routed_zuplus_failed.rpt")
    dst = build(project / "build", project / "overlays", echo=lambda _: None, allow_timing_failure=True)
    m = load_bundle(dst).manifest
    tf = m["build"]["timing_failure"]
    assert tf["allowed"] and tf["wns_ns"] == -0.412 and "clk_pl_0" in tf["message"]
    assert m["reports"]["timing"]["met"] is False


def test_met_timing_bundles_without_a_failure_record(project, monkeypatch):
    monkeypatch.setenv("TIMING", "timing_summary_routed_7series_met.rpt")
    m = load_bundle(build(project / "build", project / "overlays", echo=lambda _: None)).manifest
    assert "timing_failure" not in m["build"] and m["reports"]["timing"]["wns_ns"] == 1.482
    assert m["reports"]["hls"]["m_axi_bundles"] == ["gmem0", "gmem1"]


def test_hold_violation_is_a_failure_too():
    t = parse_timing_summary(FIXTURES / "timing_summary_routed_7series_met.rpt")
    assert timing_failure(t) is None
    t = {**t, "whs_ns": -0.05, "clocks": [{**t["clocks"][0], "whs_ns": -0.05}]}
    want = "timing not met after routing: WHS -0.050 ns (hold) on clock clk_fpga_0 (10 ns, 100 MHz)"
    assert timing_failure(t) == want
