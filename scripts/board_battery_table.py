"""Print the on-board battery's measurements from a JUnit XML report as a Markdown table.

    .venv/bin/python -m pytest -m board --board NAME ... --junitxml battery.xml
    .venv/bin/python scripts/board_battery_table.py battery.xml

One row per board and batch: hardware time (p50) against the manifest's estimate, end-to-end
latency, driver overhead, throughput, idle/busy power and energy per inference, all taken from
the properties the battery recorded (``record_property``); simulated boards are labelled.
"""
from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Dict, List, Optional

COLUMNS = [("hw_us_p50", "hw p50 (µs)"), ("hw_us_estimate", "estimate (µs)"), ("latency_us_p50", "e2e p50 (µs)"),
           ("latency_us_p99", "e2e p99 (µs)"), ("overhead_us_p50", "overhead p50 (µs)"),
           ("throughput_sps", "throughput (samples/s)"), ("idle_w", "idle (W)"), ("busy_w", "busy (W)"),
           ("energy_uj", "energy/inference (µJ)")]


def collect(path: str) -> Dict[str, Dict[str, str]]:
    """{board: {property: value}} over every battery test case in the report."""
    out: Dict[str, Dict[str, str]] = defaultdict(dict)
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        if "[" not in name:
            continue
        board = name[name.index("[") + 1:].rstrip("]")
        board = re.sub(r"-(1|8|64)$", "", board)
        for p in case.iter("property"):
            out[board][p.get("name", "")] = p.get("value", "")
    return out


def table(props: Dict[str, Dict[str, str]]) -> List[str]:
    lines = ["| board | batch | " + " | ".join(h for _, h in COLUMNS) + " |",
             "|---|---:|" + "---:|" * len(COLUMNS)]
    for board, p in sorted(props.items()):
        label = f"{board} (simulated)" if p.get("simulated") == "True" else board
        for batch in (1, 8, 64):
            if f"hw_us_p50_b{batch}" not in p:
                continue
            cells = [_fmt(p.get(f"{key}_b{batch}")) for key, _ in COLUMNS]
            lines.append(f"| {label} | {batch} | " + " | ".join(cells) + " |")
    return lines


def _fmt(v: Optional[str]) -> str:
    if v is None:
        return "–"
    x = float(v)
    return f"{x:,.0f}" if x >= 1000 else f"{x:.4g}"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("junitxml", help="JUnit XML written by pytest --junitxml")
    args = ap.parse_args(argv)
    try:
        props = collect(args.junitxml)
    except (OSError, ET.ParseError) as exc:
        print(f"board_battery_table: error: {args.junitxml}: not a readable JUnit XML report ({exc})", file=sys.stderr)
        return 2
    if not props:
        print(f"board_battery_table: error: {args.junitxml}: no battery test cases in it", file=sys.stderr)
        return 2
    print("\n".join(table(props)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
