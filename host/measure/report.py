"""Static HTML report of a measurements database (``sustainml report``): PNG plots, a few tables.

Per board: predicted vs measured latency and power (prior coefficients, and the refined ones on
held-out designs), the per-call latency distribution of every overlay, and the Pareto front of
(latency, energy per inference) as the prior and the refined cost model see it, drawn over the
measured designs. Plots use matplotlib's Agg backend (no display needed).
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .db import Measurement, MeasurementDB, rows_by_design
from .refine import METRICS, RefineError, Refinement, changed_coefficients, metric_pairs, refine

BEFORE, AFTER, MEASURED = "#1f77b4", "#ff7f0e", "#222222"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_indices(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the points no other point beats on both coordinates (both minimized)."""
    out = []
    for i, (a, b) in enumerate(points):
        if not any((c <= a and d <= b) and (c, d) != (a, b) for c, d in points):
            out.append(i)
    return sorted(out, key=lambda i: points[i])


# ---------------------------------------------------------------------------------- plots
def plot_predicted_vs_measured(r: Refinement, path: Path) -> Path:
    plt = _plt()
    panels = [("latency", "call latency (µs)", 1e6), ("dynamic energy", "dynamic PL energy / inference (µJ)", 1e6),
              ("energy", "board energy / inference (µJ)", 1e6)]
    panels = [p for p in panels if p[0] in r.errors.get("before", {})]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    for ax, (metric, label, scale) in zip(axes[0], panels):
        seen: List[float] = []
        for preds, colour, when in ((r.before, BEFORE, "before"), (r.held_out, AFTER, "after")):
            pairs = metric_pairs(r.observations, preds, metric)
            if not pairs:
                continue
            p, y = np.array(pairs).T * scale
            seen += list(p) + list(y)
            e = r.errors[when][metric]
            name = "prior" if when == "before" else "refined (held out)"
            ax.scatter(y, p, s=18, c=colour, alpha=0.8,
                       label=f"{name}: MAPE {e['mape_pct']:.1f}%, max {e['max_pct']:.1f}%")
        lo, hi = min(seen) * 0.9, max(seen) * 1.1
        ax.plot([lo, hi], [lo, hi], color=MEASURED, lw=0.8, ls="--")
        if metric in ("latency", "energy", "dynamic energy"):  # spans decades
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(f"measured {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.set_title(metric)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{r.db_board}: cost model vs measurements ({len(r.observations)} designs, "
                 f"{r.folds}-fold by design)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency_distributions(rows: Sequence[Measurement], names: Dict[str, str], board: str, path: Path) -> Path:
    """Per overlay and batch: min-p99 whisker, p50-p95 bar, p50 tick, max dot (pooled over repetitions)."""
    plt = _plt()
    by = rows_by_design(list(rows))
    order = sorted(by, key=lambda h: names.get(h, h))
    batches = sorted({m.batch for m in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 0.32 * len(order) + 1.6), squeeze=False,
                             sharey=True)
    for ax, b in zip(axes[0], batches):
        for y, h in enumerate(order):
            ms = [m for m in by[h] if m.batch == b]
            if not ms:
                continue
            q = {k: float(np.median([m.latency_us[k] for m in ms])) for k in ("p50", "p95", "p99")}
            lo, hi = min(m.latency_us["min"] for m in ms), max(m.latency_us["max"] for m in ms)
            ax.hlines(y, lo, q["p99"], color=MEASURED, lw=1)
            ax.hlines(y, q["p50"], q["p95"], color=AFTER, lw=6)
            ax.plot([q["p50"]], [y], "|", color=MEASURED, ms=10)
            ax.plot([hi], [y], ".", color="#999999", ms=4)
        ax.set_xscale("log")
        ax.set_xlabel(f"end-to-end latency per call (µs), batch {b}")
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].set_yticks(range(len(order)))
    axes[0][0].set_yticklabels([names.get(h, h[:12]) for h in order], fontsize=7)
    fig.suptitle(f"{board}: latency distribution per overlay (line min–p99, bar p50–p95, dot max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pareto(r: Refinement, path: Path) -> Optional[Path]:
    """Measured (latency, energy) of every design; rings: the front each cost model predicts."""
    idx = [i for i, o in enumerate(r.observations) if o.energy_j is not None]
    if len(idx) < 2:
        return None
    plt = _plt()
    obs = [r.observations[i] for i in idx]
    b0 = min(obs[0].batches)
    meas = [(o.latency_s[b0] * 1e6, o.energy_j * 1e6) for o in obs]
    fig, ax = plt.subplots(figsize=(6.8, 5.0))
    ax.scatter(*np.array(meas).T, s=14, c="#bbbbbb", label="designs (measured)")
    front = pareto_indices(meas)
    ax.plot(*np.array([meas[i] for i in front]).T, "-", color=MEASURED, lw=1, label="measured front")
    for preds, colour, marker, name in ((r.before, BEFORE, "o", "prior"), (r.held_out, AFTER, "s", "refined")):
        pts = [(preds[i].latency_s[b0], preds[i].energy_j) for i in idx]
        sel = pareto_indices(pts)
        hits = len(set(sel) & set(front))
        ax.scatter(*np.array([meas[i] for i in sel]).T, s=90 if marker == "o" else 55, facecolors="none",
                   edgecolors=colour, marker=marker, lw=1.5,
                   label=f"front predicted by the {name} model ({hits}/{len(sel)} on the measured front)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"measured latency per call, batch {b0} (µs)")
    ax.set_ylabel("measured board energy per inference (µJ)")
    ax.set_title(f"{r.db_board}: Pareto front before and after refinement")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------- html
def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def exact_cell(e: Dict[str, float]) -> str:
    """``exact% / within-one%`` of a count metric (DSP, BRAM18), else ``-``."""
    return f"{e['exact_pct']:.0f}% / {e['off1_pct']:.0f}%" if "exact_pct" in e else "-"


def error_row(m: str, b: Dict[str, float], a: Dict[str, float]) -> List[str]:
    """One metric: prior (b) and refined (a) MAPE, max, bias, share within ±10%, exact / off by one."""
    return [m, f"{b['mape_pct']:.1f}%", f"{b['max_pct']:.1f}%", f"{b['bias_pct']:+.1f}%", f"{b['within10_pct']:.0f}%",
            exact_cell(b), f"{a['mape_pct']:.1f}%", f"{a['max_pct']:.1f}%", f"{a['within10_pct']:.0f}%",
            exact_cell(a), str(a["n"])]


def error_rows(r: Refinement) -> List[List[str]]:
    rows = []
    for m in METRICS:
        b, a = r.errors["before"].get(m), r.errors["after"].get(m)
        if b and a:
            rows.append(error_row(m, b, a))
    return rows


ERROR_COLUMNS = ["metric", "prior MAPE", "prior max", "prior bias", "prior ±10%", "prior exact / ±1",
                 "refined MAPE (held out)", "refined max", "refined ±10%", "refined exact / ±1", "points"]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def write_report(db: MeasurementDB, out: Union[str, Path], boards: Optional[Sequence[str]] = None,
                 stat: str = "min", folds: int = 4) -> Path:
    """Write ``out/index.html`` and its PNGs; returns the HTML path."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {h: d.name for h, d in db.designs().items()}
    chosen = list(boards) if boards else db.boards()
    parts = [f"<h1>Measurements: {html.escape(db.path.name)}</h1>",
             f"<p>{db.count()} measurement units on {len(db.boards())} board(s). "
             f"Latency statistic for the fits: <code>{stat}</code> of the end-to-end time per call. "
             "Rows from simulated boards are simulated measurements.</p>"]
    for board in chosen:
        rows = db.measurements(board)
        slug = "".join(ch if ch.isalnum() else "_" for ch in board)
        sim = any(m.simulated for m in rows)
        parts.append(f"<h2>{html.escape(board)}{' (simulated board)' if sim else ''}</h2>")
        first = rows[0] if rows else None
        if first:
            parts.append(f"<p>{len(rows)} units, {len(rows_by_design(rows))} overlays; part {html.escape(first.part)}, "
                         f"PYNQ {html.escape(str(first.pynq_version))}, measured by sustainml "
                         f"{html.escape(first.project_version)}.</p>")
        try:
            r = refine(db, board, folds=folds, stat=stat)
        except RefineError as exc:
            parts.append(f"<p>No refinement: {html.escape(str(exc))}</p>")
            r = None
        if r is not None:
            parts.append(_table(ERROR_COLUMNS, error_rows(r)))
            img = plot_predicted_vs_measured(r, out_dir / f"{slug}_predicted_vs_measured.png")
            parts.append(f'<p><img src="{img.name}" alt="predicted vs measured"></p>')
            pf = plot_pareto(r, out_dir / f"{slug}_pareto.png")
            if pf:
                parts.append(f'<p><img src="{pf.name}" alt="Pareto front before and after refinement"></p>')
            parts.append("<h3>Refined coefficients</h3>")
            parts.append(_table(["coefficient", "prior", "refined"],
                                [[n, _fmt(a), _fmt(b)] for n, a, b in changed_coefficients(r)]))
        dist = plot_latency_distributions(rows, names, board, out_dir / f"{slug}_latency_distribution.png")
        parts.append(f'<p><img src="{dist.name}" alt="latency distribution per overlay"></p>')
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}th{background:#f3f3f3}img{max-width:100%}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>sustainml measurements</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    index = out_dir / "index.html"
    index.write_text(page)
    return index

