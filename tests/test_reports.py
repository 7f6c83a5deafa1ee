"""Vitis HLS / Vivado report parsers, on snippets in the tools' formats (no tool run here)."""
from __future__ import annotations

import pytest

from sustainml.host.reports import ReportError, parse_csynth_xml, parse_timing_summary, parse_utilization

CSYNTH = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit><ProductFamily>zynq</ProductFamily><Part>xc7z020-clg400-1</Part>
    <TopModelName>dnnu</TopModelName><TargetClockPeriod>10.00</TargetClockPeriod>
    <ClockUncertainty>2.70</ClockUncertainty><FlowTarget>vivado</FlowTarget>
  </UserAssignments>
  <PerformanceEstimates>
    <PipelineType>dataflow</PipelineType>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>7.264</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit>
      <Best-caseLatency>39</Best-caseLatency><Average-caseLatency>undef</Average-caseLatency>
      <Worst-caseLatency>undef</Worst-caseLatency>
      <Interval-min>{imin}</Interval-min><Interval-max>undef</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>4</BRAM_18K><DSP>{dsp}</DSP><FF>8931</FF><LUT>10214</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>280</BRAM_18K><DSP>220</DSP><FF>106400</FF><LUT>53200</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""

UTIL_7SERIES = """Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.
| Tool Version : Vivado v.2023.2 (lin64) Build 4029153 Fri Oct 13 20:13:54 MDT 2023
| Command      : report_utilization -file utilization_routed.rpt
| Design       : ecg_baseline_wrapper
| Device       : xc7z020clg400-1
| Design State : Routed

1. Slice Logic
--------------

+----------------------------+-------+-------+------------+-----------+-------+
|          Site Type         |  Used | Fixed | Prohibited | Available | Util% |
+----------------------------+-------+-------+------------+-----------+-------+
| Slice LUTs                 | 12034 |     0 |          0 |     53200 | 22.62 |
|   LUT as Logic             | 11630 |     0 |          0 |     53200 | 21.86 |
| Slice Registers            | 14120 |     0 |          0 |    106400 | 13.27 |
+----------------------------+-------+-------+------------+-----------+-------+

3. Memory
---------

+-------------------+------+-------+------------+-----------+-------+
|     Site Type     | Used | Fixed | Prohibited | Available | Util% |
+-------------------+------+-------+------------+-----------+-------+
| Block RAM Tile    |  2.5 |     0 |          0 |       140 |  1.79 |
|   RAMB36/FIFO*    |    2 |     0 |          0 |       140 |  1.43 |
|   RAMB18          |    1 |     0 |          0 |       280 |  0.36 |
+-------------------+------+-------+------------+-----------+-------+

4. DSP
------

+----------------+------+-------+------------+-----------+-------+
|    Site Type   | Used | Fixed | Prohibited | Available | Util% |
+----------------+------+-------+------------+-----------+-------+
| DSPs           |  186 |     0 |          0 |       220 | 84.55 |
|   DSP48E1 only |  186 |       |            |           |       |
+----------------+------+-------+------------+-----------+-------+
"""

UTIL_ULTRASCALE = """| Device       : xczu7evffvc1156-2
+----------------------------+-------+-------+-----------+-------+
|          Site Type         |  Used | Fixed | Available | Util% |
+----------------------------+-------+-------+-----------+-------+
| CLB LUTs                   |  9876 |     0 |    230400 |  4.29 |
| CLB Registers              | 12000 |     0 |    460800 |  2.60 |
+----------------------------+-------+-------+-----------+-------+
+-------------------+------+-------+-----------+-------+
|     Site Type     | Used | Fixed | Available | Util% |
+-------------------+------+-------+-----------+-------+
| Block RAM Tile    |    3 |     0 |       312 |  0.96 |
| URAM              |    0 |     0 |        96 |  0.00 |
| DSPs              |   64 |     0 |      1728 |  3.70 |
+-------------------+------+-------+-----------+-------+
"""

TIMING = """------------------------------------------------------------------------------------------------
| Design Timing Summary
| ---------------------
------------------------------------------------------------------------------------------------

    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints  THS Total Endpoints     WPWS(ns)     TPWS(ns)  TPWS Failing Endpoints  TPWS Total Endpoints
    -------      -------  ---------------------  -------------------      -------      -------  ---------------------  -------------------     --------     --------  ----------------------  --------------------
     {wns}       {tns}                      0                31245        0.021        0.000                      0                31245        4.020        0.000                       0                 13012


{verdict}
"""


def test_csynth_xml(tmp_path):
    p = tmp_path / "csynth.xml"
    p.write_text(CSYNTH.format(imin=1273, dsp=186))
    r = parse_csynth_xml(p)
    assert r["top"] == "dnnu" and r["part"] == "xc7z020-clg400-1" and r["version"] == "2023.2"
    assert r["target_clock_ns"] == 10.0 and r["estimated_clock_ns"] == pytest.approx(7.264)
    assert r["latency_best_cycles"] == 39 and r["interval_min_cycles"] == 1273
    assert r["latency_worst_cycles"] is None and r["interval_max_cycles"] is None  # 'undef': batch-dependent
    assert r["resources"] == {"lut": 10214, "ff": 8931, "dsp": 186, "bram18": 4, "uram": 0}
    p.write_text(CSYNTH.format(imin=9, dsp=3).replace("<DSP>3</DSP>", "<DSP48E>3</DSP48E>"))  # older tag
    assert parse_csynth_xml(p)["resources"]["dsp"] == 3


def test_utilization_both_families(tmp_path):
    a, b = tmp_path / "a.rpt", tmp_path / "b.rpt"
    a.write_text(UTIL_7SERIES)
    b.write_text(UTIL_ULTRASCALE)
    ra, rb = parse_utilization(a), parse_utilization(b)
    assert ra["device"] == "xc7z020clg400-1"
    assert ra["resources"] == {"lut": 12034, "ff": 14120, "bram36": 2.5, "uram": None, "dsp": 186}
    assert ra["available"]["dsp"] == 220
    assert rb["resources"] == {"lut": 9876, "ff": 12000, "bram36": 3, "uram": 0, "dsp": 64}
    assert rb["available"]["lut"] == 230400


@pytest.mark.parametrize("wns,tns,met", [("1.873", "0.000", True), ("-0.412", "-23.118", False)])
def test_timing_summary(tmp_path, wns, tns, met):
    p = tmp_path / "t.rpt"
    p.write_text(TIMING.format(wns=wns, tns=tns, verdict="All user specified timing constraints are met." if met
                               else "Timing constraints are not met."))
    r = parse_timing_summary(p)
    assert r["wns_ns"] == float(wns) and r["tns_ns"] == float(tns) and r["whs_ns"] == 0.021 and r["met"] is met


def test_wrong_files_are_named(tmp_path):
    p = tmp_path / "x.rpt"
    p.write_text("hello\n")
    for parse in (parse_csynth_xml, parse_utilization, parse_timing_summary):
        with pytest.raises(ReportError, match="x.rpt"):
            parse(p)
    with pytest.raises(ReportError, match="not found"):
        parse_utilization(tmp_path / "missing.rpt")


# ---------------------------------------------------------------- hand-written full-structure fixtures
FIXTURES = __import__("pathlib").Path(__file__).with_name("fixtures") / "reports"


def test_csynth_of_a_dataflow_top_with_two_bundles():
    r = parse_csynth_xml(FIXTURES / "csynth_dataflow_7series.xml")
    assert r["top"] == "dnnu" and r["part"] == "xc7z020-clg400-1" and r["version"] == "2022.1"
    assert r["pipeline_type"] == "dataflow" and r["m_axi_bundles"] == ["gmem0", "gmem1"]
    assert r["latency_best_cycles"] is None and r["interval_min_cycles"] is None  # undef, not 0
    assert r["dataflow_throughput_cycles"] is None
    assert r["estimated_clock_ns"] == 7.268 and r["target_clock_ns"] == 10.0
    assert r["resources"] == {"lut": 14210, "ff": 9377, "dsp": 12, "bram18": 6, "uram": 0}


@pytest.mark.parametrize("name, device, want", [
    ("utilization_placed_7series.rpt", "xc7z020clg400-1",
     {"lut": 14892, "ff": 18233, "bram36": 5.5, "uram": None, "dsp": 24}),
    ("utilization_placed_zuplus.rpt", "xck26-sfvc784-2LV-c",
     {"lut": 9120, "ff": 12410, "bram36": 3, "uram": 0, "dsp": 0}),
])
def test_utilization_fixtures(name, device, want):
    r = parse_utilization(FIXTURES / name)
    assert r["device"] == device and r["resources"] == want
    assert r["available"]["lut"] in (53200, 117120)


def test_timing_fixtures_with_clocks():
    met = parse_timing_summary(FIXTURES / "timing_summary_routed_7series_met.rpt")
    assert met["met"] and met["wns_ns"] == 1.482 and met["whs_ns"] == 0.041
    assert met["clocks"] == [{"name": "clk_fpga_0", "period_ns": 10.0, "frequency_mhz": 100.0, "wns_ns": 1.482,
                              "whs_ns": 0.041}]
    bad = parse_timing_summary(FIXTURES / "timing_summary_routed_zuplus_failed.rpt")
    assert not bad["met"] and bad["wns_ns"] == -0.412 and bad["tns_ns"] == -37.906
    assert bad["worst_clock"] == "clk_pl_0" and bad["clocks"][0]["period_ns"] == 3.333
