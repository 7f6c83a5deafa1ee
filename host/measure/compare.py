"""One measured design, predicted vs measured: what ``sustainml flow`` reports for its chosen design.

Contract: :func:`compare_design` reads the design's measurements from a campaign database (by
bundle name) and its Yosys counts from the synthesis cache (host/measure/resources.py; the flow
runs ``sustainml synth`` on it first), and returns one row per metric: latency and hardware time
of a call at each measured batch, energy per inference, LUT, FF, DSP, BRAM18, each as predicted by
every given cost model (prior, refined, ...) and as measured, with the error of each prediction.
Measured rows say what was simulated (``source``): the board's hardware time is the circuit's
cycle count on rtlsim bundles, its power the simulated board's model, resources Yosys cell counts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

from sustainml.nas.costmodel import load_coefficients

from ..errors import UserError
from .db import MeasurementDB
from .refine import load_observations, predict

def compare_design(db_path: Union[str, Path], board: str, bundle_name: str,
                   models: Mapping[str, Union[str, Path]]) -> List[Dict[str, Any]]:
    """Rows ``{metric, unit, measured, source, <model>: predicted, <model> error: fraction}`` of the
    bundle named ``bundle_name`` (or, failing that, ``bundle_name-<digest>``: a campaign's build of it)."""
    with MeasurementDB(db_path) as db:
        cat, obs = load_observations(db, board)
    # a campaign names the bundles it builds from a NAS run's Pareto point ``<point>-<digest>``
    found = [o for o in obs if o.design.name == bundle_name] or [
        o for o in obs if o.design.name.startswith(f"{bundle_name}-")]
    if not found:
        raise UserError(f"{db_path}: no measurements of {bundle_name} on {board}")
    o = found[0]
    preds = {tag: predict(o, cat, load_coefficients(cat, path)) for tag, path in models.items()}
    timing = "circuit cycles (Verilator)" if o.design.kind == "rtlsim" else "no circuit timing"
    rows: List[Dict[str, Any]] = []

    def add(metric: str, unit: str, measured: float, source: str, picks: Dict[str, float]) -> None:
        row: Dict[str, Any] = {"metric": metric, "unit": unit, "measured": measured, "source": source}
        for tag, v in picks.items():
            row[tag] = v
            row[f"{tag} error"] = (v - measured) / measured if measured else None
        rows.append(row)

    for b in o.batches:
        add(f"latency, batch {b}", "µs", o.latency_s[b] * 1e6, f"end to end: hardware ({timing}) + driver (host time)",
            {t: p.latency_s[b] * 1e6 for t, p in preds.items()})
        add(f"hardware time, batch {b}", "µs", o.hw_s[b] * 1e6, timing,
            {t: p.hw_s[b] * 1e6 for t, p in preds.items()})
    for b, e in sorted(o.dyn_energy_j.items()):
        add(f"dynamic energy / inference, batch {b}", "µJ", e * 1e6, f"simulated board ({o.power_source}): dynamic part",
            {t: p.dyn_energy_j[b] * 1e6 for t, p in preds.items()})
    if o.energy_j:
        add("energy / inference", "µJ", o.energy_j * 1e6, f"simulated board power ({o.power_source}) x time",
            {t: p.energy_j * 1e6 for t, p in preds.items()})
    if o.resources is not None:
        for key, name in (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"), ("bram18", "BRAM18")):
            add(name, "cells", o.resources[key], "Yosys synth_xilinx (not Vivado)",
                {t: p.resources[key] for t, p in preds.items()})
    return rows
