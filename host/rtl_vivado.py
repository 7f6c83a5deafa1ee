"""The Vivado flow of the RTL backend: package the generated Verilog as an IP, then the same
block design and bitstream as the HLS IP.

* :func:`write_scripts` writes ``vivado_rtl/package_rtl_ip.tcl`` (``ipx::package_project`` of
  every ``.v`` under the project's ``rtl/`` folder with its ``.hex`` ROM images; VLNV
  :data:`RTL_VLNV`; interfaces inferred from the Vitis-style port names) and
  ``vivado_rtl/build_overlay.tcl`` (host/tcl.py's block design, pointed at ``vivado_rtl/ip`` and
  :data:`RTL_VLNV`), beside the HLS flow's ``vivado/`` (``generate --backend rtl`` writes both).
  Same inputs give byte-identical scripts.
* :func:`build_hw` runs both with ``vivado -mode batch`` and bundles ``NAME.bit`` + ``NAME.hwh``
  with the post-route reports (and ``reports.yosys`` when ``sustainml synth`` ran), as
  host/build.py does for the HLS backend. Needs Vivado on PATH (tests marked ``vivado``);
  stops with :class:`~sustainml.host.build.ToolsMissingError` otherwise.

The manifest's ``ip.vlnv`` must be :data:`RTL_VLNV` for such a bundle: the board runtime finds
the DNNU in the hwh by that type (board/dnnu.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, Optional, Union

import yaml

from sustainml.board.bundle import write_manifest
from sustainml.nas.catalogue import Board, get_board

from . import reports, tcl
from .build import Log, ToolFailedError, ToolsMissingError, _common, _prepare_bundle, run_tool, OVERLAYS
from .generate import load_record

RTL_LIBRARY = "rtl"
RTL_VLNV = f"{tcl.VENDOR}:{RTL_LIBRARY}:{tcl.TOP}:{tcl.IP_VERSION}"
#: build_overlay.tcl's IP repository for the RTL backend (relative to the vivado/ folder)
RTL_IP_REPO, RTL_IP_STEP = "$here/ip", "vivado_rtl/package_rtl_ip.tcl"
VIVADO_DIR = "vivado_rtl"
FAMILY = {"zynq7000": "zynq", "zynqmp": "zynquplus"}


def package_script(name: str, model_name: str, board: Board, rtl_dir: str = "rtl", top: str = tcl.TOP) -> str:
    """``package_rtl_ip.tcl`` of a project whose Verilog is in ``BUILD_DIR/<rtl_dir>``."""
    return tcl.render("package_rtl_ip.tcl", {
        "NAME": name, "MODEL": model_name, "PART": board.part, "FAMILY": FAMILY.get(board.family, board.family),
        "RTL_DIR": rtl_dir, "TOP": top, "VENDOR": tcl.VENDOR, "LIBRARY": RTL_LIBRARY, "IP_VERSION": tcl.IP_VERSION,
        "VLNV": RTL_VLNV})


def write_scripts(build_dir: Path, model_name: str, overlay_name: str, board: Board, clock_mhz: float,
                  rtl_dir: str = "rtl", top: str = tcl.TOP) -> Dict[str, Path]:
    """Write ``vivado_rtl/package_rtl_ip.tcl`` and ``vivado_rtl/build_overlay.tcl`` under ``build_dir``."""
    viv = build_dir / VIVADO_DIR
    out = {"package": viv / "package_rtl_ip.tcl", "vivado": viv / "build_overlay.tcl"}
    out["package"].parent.mkdir(parents=True, exist_ok=True)
    out["package"].write_text(package_script(overlay_name, model_name, board, rtl_dir, top))
    out["vivado"].write_text(tcl.vivado_script(overlay_name, board, clock_mhz, vlnv=RTL_VLNV, ip_repo=RTL_IP_REPO,
                                               ip_step=RTL_IP_STEP))
    return out


def build_hw(build_dir: Union[str, Path], out_root: Union[str, Path, None] = None, name: Optional[str] = None,
             echo: Log = print) -> Path:
    """Bitstream bundle of an RTL project: package the IP, then the block design (Vivado)."""
    from .synth import manifest_report

    bdir = Path(build_dir).resolve()
    rec = load_record(bdir)
    if shutil.which("vivado") is None:
        raise ToolsMissingError("building a bitstream of the RTL DNNU needs vivado on PATH (source Vivado's "
                                "settings64.sh), or use `sustainml build --rtlsim` for a simulated overlay")
    viv, logs = bdir / VIVADO_DIR, bdir / "logs"
    if not (viv / "package_rtl_ip.tcl").is_file():
        sec = rec.get("rtl") or {}
        write_scripts(bdir, rec["model"], rec["name"], get_board(rec["board"]), float(rec["clock_mhz"]),
                      str(sec.get("dir", "rtl")), str(sec.get("top", tcl.TOP)))
    run_tool(["vivado", "-mode", "batch", "-notrace", "-source", "package_rtl_ip.tcl", "-log",
              str(logs / "vivado_package.log"), "-journal", str(logs / "vivado_package.jou")], viv,
             logs / "vivado_package_console.log", echo)
    run_tool(["vivado", "-mode", "batch", "-notrace", "-source", "build_overlay.tcl", "-log", str(logs / "vivado.log"),
              "-journal", str(logs / "vivado.jou")], viv, logs / "vivado_console.log", echo)
    out = viv / "out"
    for ext in ("bit", "hwh"):
        if not (out / f"{rec['name']}.{ext}").is_file():
            raise ToolFailedError(f"{out / (rec['name'] + '.' + ext)}: Vivado finished without writing it "
                                  f"(log: {logs})")
    tool_reports = {"utilization": reports.parse_utilization(viv / "reports" / "utilization_routed.rpt"),
                    "timing": reports.parse_timing_summary(viv / "reports" / "timing_summary_routed.rpt")}
    ys = manifest_report(bdir)
    if ys is not None:
        tool_reports["yosys"] = ys
    dst = _prepare_bundle(Path(out_root) if out_root else OVERLAYS, name or rec["name"])
    shutil.copyfile(out / f"{rec['name']}.bit", dst / f"{dst.name}.bit")
    shutil.copyfile(out / f"{rec['name']}.hwh", dst / f"{dst.name}.hwh")
    (bdir / "tool_reports.yaml").write_text(yaml.safe_dump(tool_reports, sort_keys=False))
    manifest = _common(bdir, rec, dst)
    manifest["ip"] = {"name": rec["ip"]["name"], "vlnv": RTL_VLNV}
    manifest.update(kind="bitstream", reports=tool_reports)
    write_manifest(dst, manifest)
    echo(f"overlay: {dst}")
    return dst
