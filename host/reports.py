"""Parsers for the tool reports a real build produces.

* Vitis HLS ``csynth.xml`` (``<solution>/syn/report/``): estimated clock, latency/interval in
  cycles (``None`` where the tool reports ``undef``, e.g. a loop bound set by ``batch``, or a
  dataflow top), LUT/FF/DSP/BRAM_18K/URAM of the top, the pipeline type (``dataflow``) and the
  m_axi bundles of its interface.
* Vivado ``report_utilization`` text (post-route): Slice/CLB LUTs and registers, Block RAM
  tiles, URAM and DSPs ("Used" column, found by header, so both the 7-series and the
  UltraScale+ layouts, with or without the ``Prohibited`` column, parse).
* Vivado ``report_timing_summary`` text: WNS/TNS/WHS/THS of the design timing summary, and per
  clock its period, frequency, WNS and WHS (Clock Summary, Intra Clock Table).

Each parser raises :class:`ReportError` naming the file when the text is not the report it
expects, never returns made-up numbers.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Union

from sustainml.errors import SustainmlError

PathLike = Union[str, Path]


class ReportError(SustainmlError, ValueError):
    """A tool report is missing or not in the expected format; the message names the file."""


def _num(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    t = text.strip().split()[0] if text.strip() else ""
    try:
        return float(t)
    except ValueError:
        return None  # "undef", "-", "?"


def _int(text: Optional[str]) -> Optional[int]:
    v = _num(text)
    return None if v is None else int(v)


def _read(path: PathLike) -> str:
    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{p}: report not found")
    return p.read_text(errors="replace")


def parse_csynth_xml(path: PathLike) -> Dict[str, object]:
    """Top-level results of a Vitis HLS ``csynth.xml``."""
    text = _read(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ReportError(f"{path}: not valid XML ({exc})") from None
    res = root.find("AreaEstimates/Resources")
    perf = root.find("PerformanceEstimates")
    if res is None or perf is None:
        raise ReportError(f"{path}: not a Vitis HLS csynth report (no AreaEstimates/Resources or PerformanceEstimates)")
    lat = perf.find("SummaryOfOverallLatency")
    get = lambda node, tag: node.findtext(tag) if node is not None else None  # noqa: E731
    dsp = res.findtext("DSP") if res.find("DSP") is not None else res.findtext("DSP48E")
    out: Dict[str, object] = {
        "tool": "vitis_hls",
        "version": root.findtext("ReportVersion/Version"),
        "part": root.findtext("UserAssignments/Part"),
        "top": root.findtext("UserAssignments/TopModelName"),
        "target_clock_ns": _num(root.findtext("UserAssignments/TargetClockPeriod")),
        "estimated_clock_ns": _num(get(perf, "SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        "latency_best_cycles": _int(get(lat, "Best-caseLatency")),
        "latency_worst_cycles": _int(get(lat, "Worst-caseLatency")),
        "interval_min_cycles": _int(get(lat, "Interval-min")),
        "interval_max_cycles": _int(get(lat, "Interval-max")),
        "resources": {"lut": _int(res.findtext("LUT")), "ff": _int(res.findtext("FF")), "dsp": _int(dsp),
                      "bram18": _int(res.findtext("BRAM_18K")), "uram": _int(res.findtext("URAM"))},
        "pipeline_type": perf.findtext("PipelineType"),
        "dataflow_throughput_cycles": _int(get(lat, "DataflowPipelineThroughput")),
        "m_axi_bundles": sorted({p.findtext("Object") for p in root.iterfind("InterfaceSummary/RtlPorts")
                                 if p.findtext("IOProtocol") == "m_axi"} - {None}),
    }
    return out


_UTIL_ROWS = {
    "lut": ("Slice LUTs", "CLB LUTs"),
    "ff": ("Slice Registers", "CLB Registers"),
    "bram36": ("Block RAM Tile",),
    "uram": ("URAM",),
    "dsp": ("DSPs",),
}


def _table_rows(text: str) -> List[List[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.strip().startswith("|")]


def parse_utilization(path: PathLike) -> Dict[str, object]:
    """Used resources from a Vivado ``report_utilization`` text report."""
    text = _read(path)
    used: Dict[str, Optional[float]] = {k: None for k in _UTIL_ROWS}
    avail: Dict[str, Optional[float]] = {k: None for k in _UTIL_ROWS}
    col_used = col_avail = None
    for row in _table_rows(text):
        if row and row[0] == "Site Type":
            col_used = row.index("Used") if "Used" in row else None
            col_avail = row.index("Available") if "Available" in row else None
            continue
        if col_used is None or not row:
            continue
        for key, labels in _UTIL_ROWS.items():
            if row[0] in labels and used[key] is None and len(row) > col_used:
                used[key] = _num(row[col_used])
                if col_avail is not None and len(row) > col_avail:
                    avail[key] = _num(row[col_avail])
    if used["lut"] is None:
        raise ReportError(f"{path}: not a Vivado utilization report (no Slice LUTs / CLB LUTs row)")
    m = re.search(r"\|\s*Device\s*:\s*(\S+)", text)
    return {"tool": "vivado", "device": m.group(1) if m else None,
            "resources": {k: (int(v) if v is not None and float(v).is_integer() else v) for k, v in used.items()},
            "available": {k: (int(v) if v is not None else None) for k, v in avail.items()}}


def _clock_tables(lines: List[str]) -> Dict[str, Dict[str, Optional[float]]]:
    """Per clock: period/frequency (Clock Summary) and WNS/WHS (Intra Clock Table)."""
    clocks: Dict[str, Dict[str, Optional[float]]] = {}
    for i, line in enumerate(lines):
        head = line.strip()
        if not head.startswith("Clock ") or i + 1 >= len(lines) or not lines[i + 1].strip().startswith("-----"):
            continue
        rows = []
        for row in lines[i + 2:]:
            if not row.strip():
                break
            rows.append(row)
        if "Period(ns)" in head:  # Clock  Waveform(ns)  Period(ns)  Frequency(MHz)
            for row in rows:
                m = re.match(r"^\s*(\S+)\s+\{[^}]*\}\s+(\S+)\s+(\S+)", row)
                if m:
                    clocks.setdefault(m.group(1), {}).update(period_ns=_num(m.group(2)), frequency_mhz=_num(m.group(3)))
        elif "WNS(ns)" in head and "Intra Clock" in "\n".join(lines[max(0, i - 4):i]):
            heads = re.split(r"\s{2,}", head)
            for row in rows:
                vals = row.split()
                if len(vals) == len(heads):
                    t = dict(zip(heads, vals))
                    clocks.setdefault(vals[0], {}).update(wns_ns=_num(t.get("WNS(ns)")), whs_ns=_num(t.get("WHS(ns)")))
    return clocks


def parse_timing_summary(path: PathLike) -> Dict[str, object]:
    """WNS/TNS/WHS/THS (ns) of the design timing summary of a Vivado ``report_timing_summary``
    text report, whether all constraints are met, and per clock (``clocks``: period, frequency,
    WNS, WHS from the Clock Summary and Intra Clock tables) with ``worst_clock`` (least WNS)."""
    text = _read(path)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "WNS(ns)" in line and not line.strip().startswith("Clock"):
            heads = re.split(r"\s{2,}", line.strip())
            for values_line in lines[i + 1:i + 4]:
                if re.match(r"^\s*-?\d", values_line):
                    vals = values_line.split()
                    table = dict(zip(heads, vals))
                    wns = _num(table.get("WNS(ns)"))
                    clocks = _clock_tables(lines)
                    with_wns = [(c["wns_ns"], n) for n, c in clocks.items() if c.get("wns_ns") is not None]
                    return {"tool": "vivado", "wns_ns": wns, "tns_ns": _num(table.get("TNS(ns)")),
                            "whs_ns": _num(table.get("WHS(ns)")), "ths_ns": _num(table.get("THS(ns)")),
                            "met": "All user specified timing constraints are met" in text,
                            "clocks": [{"name": n, **c} for n, c in clocks.items()],
                            "worst_clock": min(with_wns)[1] if with_wns else None}
    raise ReportError(f"{path}: not a Vivado timing summary (no WNS(ns) table)")
