"""Resources of a measured design from Yosys, and the cost model's resource terms fitted to them.

Contract:

* :func:`yosys_counts`: LUT sites, FF, DSP48 and BRAM18 (a RAMB36 counts 2) of an rtlsim bundle's
  Verilog (``<bundle>/rtl``, ``sources.txt``) under Yosys ``synth_xilinx`` for the board's family
  (``xc7`` for Zynq-7000, ``xcup`` for Zynq UltraScale+; :data:`sustainml.host.yosys.FAMILIES`).
  Results are cached by content hash (:mod:`sustainml.host.yosys`); ``run=False`` only reads the
  cache (None when the design was never synthesized), so a campaign can bound its synthesis time.
  Yosys cell counts, not Vivado place and route.
* :func:`fit_resources`: the cost model's resource terms refined on those counts (nas/costmodel.py):
  the DSP mapping rule (``dsp_min_product_bits``: products at least that wide go to a DSP48) and
  whether constant-weight products (``dsp_const``), average-pooling lanes (``dsp_pool_lane``) and global
  average-pooling lanes (``dsp_gap_lane``) are DSP48s, and the DSP48s outside the stages (``dsp_base``, the
  AXI shell's address/batch arithmetic), chosen to make the most designs exact; the ROM mapping rule (``bram_min_bits``)
  likewise for BRAM18; then the LUT and FF terms :data:`LUT_FIT` / :data:`FF_FIT` (the shell
  constant ``lut_base``/``ff_base``, per stage, adder bits, window and dense-sample buffer bits,
  LUT-ROM columns) by non-negative least squares on relative errors. Designs without a
  Yosys result are left out of the fit and of the resource metrics.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from sustainml.nas.catalogue import Board
from sustainml.nas.costmodel import Coefficients

from .. import yosys

#: candidate values of the learned mapping rules
DSP_BITS = tuple(range(2, 20))
DSP_BASE = tuple(range(0, 9))
BRAM_BITS = (0, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 1 << 30)
RESOURCES = ("lut", "ff", "dsp", "bram18")
#: LUT/FF terms fitted (few designs: the shell constant, per stage, adder/accumulator bits, window and
#: dense-sample buffer bits, LUT-ROM columns); the other terms of the prior form are set to 0
LUT_FIT = ("lut_base", "lut_stage", "lut_add_bit", "lut_buffer_bit", "lut_sample_bit")
FF_FIT = ("ff_base", "ff_stage", "ff_add_bit", "ff_buffer_bit", "ff_sample_bit")


def yosys_counts(bundle: Optional[str], board: Board, run: bool = False,
                 timeout_s: Optional[float] = None) -> Optional[Dict[str, float]]:
    """{lut, ff, dsp, bram18, seconds, cached} of the bundle's Verilog, or None (no RTL folder, a
    family Yosys cannot target, or ``run=False`` and not in the cache)."""
    if not bundle or board.family not in yosys.FAMILIES:
        return None
    rtl = Path(bundle) / "rtl"
    src = rtl / "sources.txt"
    if not src.is_file():
        return None
    sources = [s.strip() for s in src.read_text().splitlines() if s.strip()]
    net = yosys.synthesize(rtl, "dnnu", yosys.FAMILIES[board.family], f"{Path(bundle).name} ({bundle})", sources,
                           timeout_s=timeout_s, cached_only=not run)
    if net is None:
        return None
    c = net.total.summary()
    return {"lut": float(c["lut_sites"]), "ff": float(c["ff"]), "dsp": float(c["dsp"]),
            "bram18": float(c["bram18"] + 2 * c["bram36"]), "seconds": net.seconds, "cached": net.cached}


def _mismatch(pred: Sequence[float], got: Sequence[float]) -> Tuple[int, float]:
    """(designs not exact, total absolute difference): what the mapping rules minimize."""
    d = np.abs(np.asarray(pred, float) - np.asarray(got, float))
    return int((d > 0.5).sum()), float(d.sum())


def fit_resources(estimates, counts: Sequence[Dict[str, float]], prior: Coefficients) -> Coefficients:
    """Refined resource terms (module docstring). ``estimates(coeffs)`` returns the cost model's
    :class:`~sustainml.nas.costmodel.Estimate` of every design (same order as ``counts``)."""
    from scipy.optimize import nnls

    st = prior.table("structure")
    dsp_y = np.array([c["dsp"] for c in counts])
    best = None
    for bits in DSP_BITS:
        for const in (0.0, 1.0):
            for pool, gap in itertools.product((0.0, 1.0), (0.0, 1.0)):
                rule = {"dsp_min_product_bits": float(bits), "dsp_base": 0.0, "dsp_const": const, "dsp_pool_lane": pool,
                        "dsp_gap_lane": gap}
                stage_dsp = np.array([e.dsp for e in estimates(prior.replace("structure", rule))])
                for base in DSP_BASE:
                    score = _mismatch(stage_dsp + base, dsp_y)
                    key = (score, abs(bits - st["dsp_min_product_bits"]), const, -pool, -gap, base)
                    if best is None or key < best[0]:
                        best = (key, {**rule, "dsp_base": float(base)})
    coeffs = prior.replace("structure", best[1])
    bram_y = [c["bram18"] for c in counts]
    scored = []
    for b in BRAM_BITS:
        c = coeffs.replace("structure", {"bram_min_bits": float(b)})
        scored.append((_mismatch([e.bram18 for e in estimates(c)], bram_y), abs(b - st["bram_min_bits"]), b))
    coeffs = coeffs.replace("structure", {"bram_min_bits": float(min(scored)[2])})
    est = estimates(coeffs)
    for group, terms, key in (("lut", LUT_FIT, "lut"), ("ff", FF_FIT, "ff")):
        X = np.array([[getattr(e, f"{group}_x").get(t, 0.0) for t in terms] for e in est])
        y = np.array([c[key] for c in counts])
        w, _ = nnls(X / y[:, None], np.ones(len(y)))  # relative errors
        prior_w = np.array([prior.table(group).get(t, 0.0) for t in terms])
        w = np.where(X.any(axis=0), w, prior_w)  # a term no design exercises keeps the prior's value
        rest = {t: 0.0 for t in prior.table(group) if t not in terms}  # folded into the fitted terms
        coeffs = coeffs.replace(group, {**rest, **dict(zip(terms, w))})
    return coeffs


def resource_pairs(pred: Sequence[Dict[str, float]], got: Sequence[Optional[Dict[str, float]]],
                   key: str) -> List[Tuple[float, float]]:
    return [(p[key], g[key]) for p, g in zip(pred, got) if g is not None]
