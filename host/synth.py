"""``synth``: Yosys ``synth_xilinx`` of a generated RTL project → a resource report.

Reads ``BUILD_DIR/build.yaml`` (``sustainml generate --backend rtl``) and the project's Verilog
(``rtl:`` section of build.yaml: ``dir`` (default ``rtl``), ``top`` (default ``dnnu``),
``sources`` (default: every .v/.sv in ``dir``), ``stage_instances`` (default: instances of the
top named ``stage<i>``/``s<i>_...``)), runs :func:`sustainml.host.yosys.synthesize` for the
family of the board's part (``zynq7000`` → ``-family xc7``, ``zynqmp`` → ``-family xcup``) and
writes, for board ``B``:

    BUILD_DIR/synth/yosys_B.yaml   the report (also what goes into a manifest's reports.yosys)
    BUILD_DIR/synth/yosys_B.md     the same as tables
    BUILD_DIR/logs/yosys_B.log     Yosys's log

Report: per-stage and total LUT (logic, LUTRAM, SRL, sites), FF, CARRY, DSP, BRAM18/36 from
Yosys beside the generator's cost-model estimate (build.yaml ``estimates``) and its relative
error ``(estimate - yosys) / yosys``; the part's utilization; provenance (Yosys version,
script, source digest). Every table and file says :data:`sustainml.host.yosys.LABEL`.

``bundle=DIR`` also writes the report into an existing bundle's manifest as ``reports.yosys``
(the bundle must be of this design: same model stages and part), re-hashing its files with
``board.bundle.write_manifest`` (manifest written last, atomically).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import yaml

from sustainml.board.bundle import BundleError, read_manifest, write_manifest
from sustainml.nas.catalogue import Board, get_board

from . import yosys
from .errors import UserError
from .generate import load_record

Log = Callable[[str], None]
STAGE_NAME = re.compile(r"^(?:u_)?(?:stage|s)_?(\d+)(?:_|$)")
#: (report key, estimate key, Yosys key) of the resources compared with the cost model
COMPARED = (("lut", "lut", "lut_sites"), ("ff", "ff", "ff"), ("dsp", "dsp", "dsp"),
            ("bram36", "bram36", "bram36_equiv"))


def rtl_section(build_dir: Path, rec: Mapping[str, Any]) -> Dict[str, Any]:
    """Where the project's Verilog is (build.yaml ``rtl:`` with defaults); checks it exists."""
    sec = dict(rec.get("rtl") or {})
    d = build_dir / str(sec.get("dir", "rtl"))
    if not d.is_dir():
        raise UserError(f"{build_dir}: no RTL project ({d} missing); "
                        "run `sustainml generate MODEL --backend rtl` first")
    return {"dir": d, "top": str(sec.get("top", "dnnu")), "sources": sec.get("sources"),
            "stage_instances": sec.get("stage_instances")}


def stage_of_instances(names: List[str], declared: Optional[List[str]]) -> Dict[str, int]:
    """Instance name -> stage index: the declared list (build.yaml) or the ``stage<i>`` rule."""
    if declared:
        return {str(n): i for i, n in enumerate(declared)}
    out = {}
    for n in names:
        m = STAGE_NAME.match(n)
        if m:
            out[n] = int(m.group(1))
    return out


def _err(est: Optional[float], got: float) -> Optional[float]:
    if est is None:
        return None
    if got == 0:
        return 0.0 if est == 0 else None
    return round((float(est) - got) / got, 4)


def _compare(est: Mapping[str, Any], ys: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: {"estimate": est.get(e), "yosys": ys[y], "error": _err(est.get(e), float(ys[y]))}
            for k, e, y in COMPARED}


def _mult_site(mults: int, dsp: int) -> str:
    if not mults:
        return "-"
    return "DSP" if dsp >= mults else "LUT" if dsp == 0 else "DSP+LUT"


def estimates_for(build_dir: Path, rec: Mapping[str, Any], board: Board) -> Dict[str, Any]:
    """The cost-model estimate of the project's design: build.yaml's for its own board; for
    another board, the same stages (unrolling as built) under that board's coefficients."""
    if board.name == rec["board"]:
        return dict(rec.get("estimates") or {})
    from sustainml.nas.cost_sources import resolve
    from sustainml.nas.costmodel import estimate
    from sustainml.nas.quantized import QuantizedModel

    cost = resolve(board)
    model = QuantizedModel.load(build_dir / "model")
    return {**estimate(model, board, cost.coeffs, clock_mhz=float(rec["clock_mhz"])).to_dict(),
            "coefficients": f"{cost.path.name} ({cost.kind})"}


def report(rec: Mapping[str, Any], board: Board, net: yosys.Netlist, sec: Mapping[str, Any],
           digest: str, est: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The ``reports.yosys`` document of one synthesis (see the module docstring); ``est``:
    the cost-model estimate to compare with (default: build.yaml's)."""
    est = dict(rec.get("estimates") or {}) if est is None else est
    est_stages = {s["stage"]: s for s in est.get("stages", [])}
    stage_idx = stage_of_instances([i.name for i in net.instances], sec.get("stage_instances"))
    stages, other = [], []
    for inst in net.instances:
        ys = inst.cells.summary()
        if inst.name in stage_idx:
            i = stage_idx[inst.name]
            e = est_stages.get(i, {})
            stages.append({"stage": i, "instance": inst.name, "module": yosys.base_module(inst.module),
                           "netlist_module": inst.module, "kind": e.get("kind"),
                           "pe": e.get("pe"), "simd": e.get("simd"), "kp": e.get("kp"),
                           "multipliers": e.get("multipliers"),
                           "multipliers_on": _mult_site(int(e.get("multipliers") or 0), int(ys["dsp"])),
                           "yosys": ys, "compare": _compare(e, ys)})
        else:
            other.append({"instance": inst.name, "module": yosys.base_module(inst.module),
                          "netlist_module": inst.module, "yosys": ys})
    stages.sort(key=lambda s: s["stage"])
    glue = net.glue.summary()
    if any(v for k, v in glue.items() if k not in ("lut_by_size", "bram36_equiv")):
        other.append({"instance": "(top-level logic)", "module": net.top, "yosys": glue})
    total = net.total.summary()
    res = board.budget
    util = {"lut": total["lut_sites"] / res["lut"], "ff": total["ff"] / res["ff"],
            "bram36": total["bram36_equiv"] / max(res["bram36"], 1), "dsp": total["dsp"] / max(res["dsp"], 1)}
    return {
        "tool": "yosys", "label": yosys.LABEL, "version": yosys.short_version(net.version), "board": board.name,
        "part": board.part,
        "family": net.family, "top": net.top, "design": net.design,
        "command": next(ln for ln in net.script.splitlines() if ln.startswith("synth_xilinx")),
        "source_digest": digest, "cache_key": net.key, "estimate_coefficients": est.get("coefficients"),
        "total": total, "compare": _compare(est.get("resources") or {}, total),
        "utilization": {k: round(v, 4) for k, v in util.items()}, "fits": all(v <= 1.0 for v in util.values()),
        "stages": stages, "other": other,
    }


def _pct(e: Optional[float]) -> str:
    return "n/a" if e is None else f"{e * 100:+.1f}%"


def markdown(doc: Mapping[str, Any]) -> str:
    """Tables of a report (per stage and total, estimate beside Yosys)."""
    head = ["stage", "kind", "pe/simd/kp", "mults on", "LUT (est)", "LUT", "LUTRAM", "SRL", "FF (est)", "FF",
            "CARRY", "DSP (est)", "DSP", "BRAM18", "BRAM36", "BRAM36 (est)"]

    def row(name: str, kind: str, unroll: str, on: str, ys: Mapping[str, Any], cmp: Mapping[str, Any]) -> List[Any]:
        e = {k: cmp[k]["estimate"] for k in cmp}
        return [name, kind, unroll, on, e["lut"], ys["lut_sites"], ys["lutram"], ys["srl"], e["ff"], ys["ff"],
                ys["carry"], e["dsp"], ys["dsp"], ys["bram18"], ys["bram36"], e["bram36"]]

    rows = [row(str(s["stage"]), s["kind"] or "?", f"{s['pe']}/{s['simd']}/{s['kp']}", s["multipliers_on"],
                s["yosys"], s["compare"]) for s in doc["stages"]]
    none = {k: {"estimate": "-"} for k, _, _ in COMPARED}
    rows += [row(o["instance"], o["module"], "-", "-", o["yosys"], none) for o in doc["other"]]
    rows.append(row("**total**", "", "", "", doc["total"], doc["compare"]))
    lines = [f"# {doc['design']}: {doc['label']}\n",
             f"{doc['version']}; `{doc['command']}` for {doc['board']} ({doc['part']}). "
             "(est) = the generator's cost-model estimate; LUT = LUT sites (logic + LUTRAM + SRL).\n",
             "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    c = doc["compare"]
    lines += ["", "Estimate error vs Yosys (total): " + ", ".join(f"{k} {_pct(c[k]['error'])}" for k in c),
              "Utilization of the part: " + ", ".join(f"{k} {v * 100:.1f}%" for k, v in doc["utilization"].items()), ""]
    return "\n".join(lines)


def source_digest(src_dir: Path) -> str:
    h = hashlib.sha256()
    for f in yosys.design_files(src_dir):
        h.update(f.encode() + b"\0" + (src_dir / f).read_bytes() + b"\0")
    return h.hexdigest()


def synth(build_dir: Union[str, Path], board: Optional[str] = None, bundle: Union[str, Path, None] = None,
          timeout_s: Optional[float] = None, echo: Log = print) -> Dict[str, Any]:
    """Synthesize a generated RTL project (see the module docstring); returns the report."""
    bdir = Path(build_dir)
    rec = load_record(bdir)
    b = get_board(board or rec["board"])
    sec = rtl_section(bdir, rec)
    if b.family not in yosys.FAMILIES:
        raise UserError(f"board {b.name}: family {b.family!r} has no synth_xilinx target "
                        f"(known: {', '.join(yosys.FAMILIES)})")
    family = yosys.FAMILIES[b.family]
    bundle_doc = _bundle_manifest(Path(bundle), rec, b) if bundle is not None else None
    log = bdir / "logs" / f"yosys_{b.name}.log"
    echo(f"Yosys synth_xilinx -family {family} of {rec['name']} for {b.name} ({b.part}) ...")
    net = yosys.synthesize(sec["dir"], sec["top"], family, f"{rec['name']} ({bdir})", sec["sources"], log, timeout_s)
    echo(f"  {'cached' if net.cached else f'synthesized in {net.seconds:.1f} s'}; log: {log}")
    doc = report(rec, b, net, sec, source_digest(Path(sec["dir"])), estimates_for(bdir, rec, b))
    out = bdir / "synth"
    out.mkdir(exist_ok=True)
    (out / f"yosys_{b.name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (out / f"yosys_{b.name}.md").write_text(markdown(doc))
    if bundle_doc is not None:
        bundle_doc.setdefault("reports", {})["yosys"] = doc
        write_manifest(Path(bundle), bundle_doc)
        echo(f"  reports.yosys written into {Path(bundle) / 'manifest.yaml'}")
    return doc


def manifest_report(build_dir: Union[str, Path], board: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The saved report of a project for ``board`` (default: its own), if `synth` ran and the
    Verilog has not changed since; what ``build`` puts into ``reports.yosys``."""
    bdir = Path(build_dir)
    rec = load_record(bdir)
    p = bdir / "synth" / f"yosys_{board or rec['board']}.yaml"
    if not p.is_file():
        return None
    doc = yaml.safe_load(p.read_text())
    sec = rtl_section(bdir, rec)
    return doc if isinstance(doc, dict) and doc.get("source_digest") == source_digest(Path(sec["dir"])) else None


def _bundle_manifest(bundle: Path, rec: Mapping[str, Any], board: Board) -> Dict[str, Any]:
    """The bundle's manifest without ``files`` (write_manifest recomputes it), checked to be of
    this project: same part and the same model stages as the build record's folding."""
    try:
        doc = read_manifest(bundle)
    except BundleError as exc:
        raise UserError(str(exc)) from None
    if doc.get("part") != board.part:
        raise UserError(f"{bundle}: bundle is for part {doc.get('part')}, the synthesis is for {board.part}")
    folding = [(s["pe"], s["simd"], s["kp"]) for s in (rec.get("folding") or {}).get("stages", [])]
    built = [(s.get("pe"), s.get("simd"), s.get("kp"))
             for s in ((doc.get("model") or {}).get("quantization") or {}).get("stages", [])]
    if doc.get("name") is None or built != folding:
        raise UserError(f"{bundle}: bundle's stages/unrolling differ from the project {rec['name']}; "
                        "build the bundle from this project first")
    doc.pop("files", None)
    return doc
