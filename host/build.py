"""``build``: a generated project → an overlay bundle ``overlays/NAME/`` (docs/CONTRACTS.md).

* real (default): runs ``vitis_hls -f run_hls.tcl`` and ``vivado -mode batch -source
  build_overlay.tcl`` (streaming their output to the console and to ``BUILD_DIR/logs/``), parses
  the HLS synthesis and post-route utilization/timing reports into the manifest, and bundles
  ``NAME.bit`` + ``NAME.hwh``. Timing is a gate: negative routed slack (WNS or WHS) stops the
  build with one line naming the slack and the clock, unless ``--allow-timing-failure``, which
  bundles it and records the failure in the manifest (``build.timing_failure``). Stops with
  :class:`ToolsMissingError` naming the missing tools.
* ``sim``: compiles the project's generated sources with g++ (host/hlsgen/csim.py) into the
  C-simulation library, checks it against the golden vectors, and bundles it with a generated
  ``NAME.hwh`` (board/sim/hwh.py, labelled simulated). Works without any Xilinx tool.
* ``rtlsim``: the Verilog project (``generate --backend rtl``) verilated with the PS harness,
  bundled as ``kind: rtlsim`` (host/rtlgen/bundle.py).

Both add the golden vectors, the model files, and the cost estimates; the manifest's
``files`` holds the sha256 of every file (board/bundle.py ``write_manifest``).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import yaml

from sustainml import REPO_ROOT
from sustainml.board.bundle import MANIFEST, write_manifest
from sustainml.board.sim.hwh import write_hwh
from sustainml.nas.quantized import QuantizedModel

from . import reports
from .errors import UserError
from .generate import load_record, model_doc
from .hlsgen import csim, toolchain

OVERLAYS = REPO_ROOT / "overlays"
TOOLS = ("vitis_hls", "vivado")
Log = Callable[[str], None]


class ToolsMissingError(UserError):
    """Vitis HLS / Vivado are not on PATH."""


class ToolFailedError(UserError):
    """A tool exited with an error; the message names the log."""


class TimingFailedError(UserError):
    """The routed design misses timing: no bundle unless ``allow_timing_failure``."""


class SimMismatchError(UserError):
    """The C simulation disagrees with the golden model: no bundle is written."""


def missing_tools(path: Optional[str] = None) -> List[str]:
    return [t for t in TOOLS if shutil.which(t, path=path) is None]


def run_tool(cmd: Sequence[str], cwd: Path, log_path: Path, echo: Log = print) -> None:
    """Run a tool, streaming each output line to ``echo`` and to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        try:
            proc = subprocess.Popen(list(cmd), cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, bufsize=1)
        except OSError as exc:
            raise ToolFailedError(f"{cmd[0]}: cannot start ({exc})") from None
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            echo(line.rstrip("\n"))
        rc = proc.wait()
    if rc != 0:
        raise ToolFailedError(f"{cmd[0]} exited with status {rc} (log: {log_path})")


def timing_failure(timing: Dict[str, Any]) -> Optional[str]:
    """One line describing a routed design's timing failure (negative setup or hold slack), or
    None when timing is met."""
    wns, whs = timing.get("wns_ns"), timing.get("whs_ns")
    if (wns is None or wns >= 0) and (whs is None or whs >= 0):
        return None
    clocks = {c["name"]: c for c in timing.get("clocks", [])}
    setup = wns is not None and wns < 0
    key = "wns_ns" if setup else "whs_ns"
    failing = [c for c in clocks.values() if (c.get(key) is not None and c[key] < 0)]
    worst = min(failing, key=lambda c: c[key]) if failing else clocks.get(timing.get("worst_clock") or "")
    where = "an unnamed clock"
    if worst:
        period = worst.get("period_ns")
        mhz = worst.get("frequency_mhz")
        where = f"clock {worst['name']}" + (f" ({period:g} ns, {mhz:g} MHz)" if period and mhz else "")
    slack = f"WNS {wns:.3f} ns" if setup else f"WHS {whs:.3f} ns (hold)"
    return f"timing not met after routing: {slack} on {where}"


def _prepare_bundle(out_root: Path, name: str) -> Path:
    dst = out_root / name
    if dst.exists():
        if not dst.is_dir() or (any(dst.iterdir()) and not (dst / MANIFEST).exists()):
            raise UserError(f"{dst}: exists and is not an overlay bundle; refusing to overwrite it")
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    return dst


def _common(build_dir: Path, rec: Dict[str, Any], dst: Path) -> Dict[str, Any]:
    """Copy golden vectors and model files; return the manifest fields shared by both kinds."""
    for key in ("input", "output"):
        shutil.copyfile(build_dir / rec["golden"][key], dst / Path(rec["golden"][key]).name)
    for f in ("model.yaml", "weights.npz"):
        if (build_dir / "model" / f).is_file():
            shutil.copyfile(build_dir / "model" / f, dst / f)
    model = QuantizedModel.load(build_dir / "model")
    return {"name": dst.name, "board": rec["board"], "part": rec["part"], "clock_mhz": rec["clock_mhz"],
            "ip": {"name": rec["ip"]["name"], "vlnv": rec["ip"]["vlnv"]}, "registers": rec["registers"],
            "io": rec["io"], "model": model_doc(model), "estimates": rec["estimates"],
            "golden": {k: Path(rec["golden"][k]).name for k in ("input", "output")},
            "build": {"objective": rec["objective"], "target_fps": rec["target_fps"],
                      "accumulators": rec["accumulators"], "folding": rec["folding"]}}


def project_sources(build_dir: Path) -> Dict[str, str]:
    """The generated DNNU sources of a project (what both C simulation and Vitis HLS compile)."""
    src = build_dir / "hls" / "src"
    files = {f: (src / f) for f in ("dnnu.cpp", "config.h", "weights.h")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise UserError(f"{missing[0]}: missing from the generated project (re-run `sustainml generate`)")
    lib_copy = build_dir / "hls" / "include"
    if lib_copy.is_dir() and toolchain.tree_digest(lib_copy) != toolchain.tree_digest(toolchain.LIBRARY_INCLUDE):
        raise UserError(f"{lib_copy}: the project's DNNU library differs from {toolchain.LIBRARY_INCLUDE} "
                        "(the library changed since generate; re-run `sustainml generate`)")
    return {f: p.read_text() for f, p in files.items()}


def build_sim(build_dir: Union[str, Path], out_root: Union[str, Path, None] = None, name: Optional[str] = None,
              echo: Log = print) -> Path:
    """C-simulation bundle of a generated project (see module docstring)."""
    bdir = Path(build_dir)
    rec = load_record(bdir)
    sources = project_sources(bdir)
    echo(f"compiling the C simulation of {rec['model']} (g++) ...")
    lib = csim.compile_sources(sources, "dnnu.cpp", "dnnu")
    echo(f"  {'cached' if lib.cached else f'compiled in {lib.compile_s:.1f} s'}: {lib.path}")
    gx = np.load(bdir / rec["golden"]["input"])
    gy = np.load(bdir / rec["golden"]["output"])
    got = csim.run_dnnu(lib, rec["io"], gx)  # FP8 I/O: codes, at the default bias registers
    if not np.array_equal(got, gy):
        bad = int(np.argwhere((got != gy).any(axis=1))[0][0])
        raise SimMismatchError(f"{bdir}: C simulation differs from the golden model on golden sample {bad} "
                               f"({got[bad].tolist()} vs {gy[bad].tolist()}); no bundle written")
    dst = _prepare_bundle(Path(out_root) if out_root else OVERLAYS, name or f"{rec['name']}_sim")
    library = f"{dst.name}.so"  # pynq finds NAME.hwh next to the "bitfile" NAME.so (docs/CONTRACTS.md)
    shutil.copyfile(lib.path, dst / library)
    write_hwh(dst / f"{dst.name}.hwh", dst.name, rec["part"], rec["clock_mhz"], rec["ip"]["name"], rec["ip"]["vlnv"],
              rec["registers"])
    manifest = _common(bdir, rec, dst)
    manifest.update(kind="sim", sim={"library": library, "symbol": rec["sim"]["symbol"],
                                     **({"args": rec["sim"]["args"]} if rec["sim"].get("args") else {})})
    write_manifest(dst, manifest)
    echo(f"sim overlay: {dst}")
    return dst


def build_hw(build_dir: Union[str, Path], out_root: Union[str, Path, None] = None, name: Optional[str] = None,
             cosim: bool = False, echo: Log = print, allow_timing_failure: bool = False) -> Path:
    """Bitstream bundle: Vitis HLS then Vivado (see module docstring). A routed design with
    negative setup or hold slack is refused (:class:`TimingFailedError`, no bundle) unless
    ``allow_timing_failure``; then the manifest's ``build.timing_failure`` records it."""
    bdir = Path(build_dir).resolve()
    rec = load_record(bdir)
    missing = missing_tools()
    if missing:
        raise ToolsMissingError(
            f"building a bitstream needs {' and '.join(TOOLS)} on PATH; not found: {', '.join(missing)} "
            "(source the Vitis/Vivado settings64.sh), or use `sustainml build --sim` for a C-simulation overlay")
    project_sources(bdir)
    logs = bdir / "logs"
    run_tool(["vitis_hls", "-f", "run_hls.tcl"] + (["-tclargs", "cosim"] if cosim else []), bdir / "hls",
             logs / "vitis_hls.log", echo)
    run_tool(["vivado", "-mode", "batch", "-notrace", "-source", "build_overlay.tcl", "-log", str(logs / "vivado.log"),
              "-journal", str(logs / "vivado.jou")], bdir / "vivado", logs / "vivado_console.log", echo)
    out = bdir / "vivado" / "out"
    for ext in ("bit", "hwh"):
        if not (out / f"{rec['name']}.{ext}").is_file():
            raise ToolFailedError(f"{out / (rec['name'] + '.' + ext)}: Vivado finished without writing it (log: {logs})")
    tool_reports = {
        "hls": reports.parse_csynth_xml(bdir / "hls" / "dnnu_prj" / "sol1" / "syn" / "report" / "csynth.xml"),
        "utilization": reports.parse_utilization(bdir / "vivado" / "reports" / "utilization_routed.rpt"),
        "timing": reports.parse_timing_summary(bdir / "vivado" / "reports" / "timing_summary_routed.rpt"),
    }
    failure = timing_failure(tool_reports["timing"])
    (bdir / "tool_reports.yaml").write_text(yaml.safe_dump(tool_reports, sort_keys=False))
    if failure and not allow_timing_failure:
        raise TimingFailedError(f"{bdir}: {failure}; no bundle written (generate at a lower clock, or build with "
                                "--allow-timing-failure to bundle it anyway)")
    dst = _prepare_bundle(Path(out_root) if out_root else OVERLAYS, name or rec["name"])
    shutil.copyfile(out / f"{rec['name']}.bit", dst / f"{dst.name}.bit")
    shutil.copyfile(out / f"{rec['name']}.hwh", dst / f"{dst.name}.hwh")
    manifest = _common(bdir, rec, dst)
    manifest.update(kind="bitstream", reports=tool_reports)
    if failure:
        manifest["build"]["timing_failure"] = {"allowed": True, "message": failure,
                                               "wns_ns": tool_reports["timing"]["wns_ns"],
                                               "whs_ns": tool_reports["timing"]["whs_ns"]}
        echo(f"WARNING: {failure}; bundled anyway (--allow-timing-failure)")
    write_manifest(dst, manifest)
    echo(f"overlay: {dst}")
    return dst


def build(build_dir: Union[str, Path], out_root: Union[str, Path, None] = None, sim: bool = False,
          name: Optional[str] = None, cosim: bool = False, echo: Log = print,
          allow_timing_failure: bool = False, rtlsim: bool = False) -> Path:
    if rtlsim:
        from .rtlgen.bundle import build_rtlsim
        return build_rtlsim(build_dir, out_root, name, echo)
    if sim:
        return build_sim(build_dir, out_root, name, echo)
    return build_hw(build_dir, out_root, name, cosim, echo, allow_timing_failure)
