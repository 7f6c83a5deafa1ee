"""Parsers for the tool reports a real build produces.

* Vitis HLS ``csynth.xml`` (``<solution>/syn/report/``): estimated clock, latency/interval in
  cycles (``None`` where the tool reports ``undef``, e.g. a loop bound set by ``batch``),
  LUT/FF/DSP/BRAM_18K/URAM of the top.
* Vivado ``report_utilization`` text (post-route): Slice/CLB LUTs and registers, Block RAM
  tiles, URAM and DSPs ("Used" column, found by header, so both the 7-series and the
  UltraScale+ layouts, with or without the ``Prohibited`` column, parse).
* Vivado ``report_timing_summary`` text: WNS/TNS/WHS/THS of the design timing summary.

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


def parse_timing_summary(path: PathLike) -> Dict[str, object]:
    """WNS/TNS/WHS/THS (ns) from a Vivado ``report_timing_summary`` text report."""
    text = _read(path)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "WNS(ns)" in line:
            heads = re.split(r"\s{2,}", line.strip())
            for values_line in lines[i + 1:i + 4]:
                if re.match(r"^\s*-?\d", values_line):
                    vals = values_line.split()
                    table = dict(zip(heads, vals))
                    wns = _num(table.get("WNS(ns)"))
                    return {"tool": "vivado", "wns_ns": wns, "tns_ns": _num(table.get("TNS(ns)")),
                            "whs_ns": _num(table.get("WHS(ns)")), "ths_ns": _num(table.get("THS(ns)")),
                            "met": "All user specified timing constraints are met" in text}
    raise ReportError(f"{path}: not a Vivado timing summary (no WNS(ns) table)")
