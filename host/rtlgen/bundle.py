"""``build --rtlsim``: the Verilog project of a generated build → an overlay bundle of kind ``rtlsim``.

Contract. Reads ``BUILD_DIR/build.yaml`` (``backend: rtl``, section ``rtl``) and the project
folder it names; refuses a project whose copied library modules differ from ``hls/rtl/`` (the
library changed since ``generate``). Verilates it with the PS harness (cached, :mod:`.verilator`),
runs the golden vectors through the AXI path at the board family's default memory model
(:data:`.rtlsim.MEMORY_DEFAULTS`) and refuses to bundle on any difference from the golden model.
The bundle (default name ``NAME_rtlsim``) holds::

    NAME.so         the rtlsim library (what pynq.Overlay is given, as for kind: sim)
    NAME.hwh        generated, simulated handoff (board/sim/hwh.py)
    rtl/            the Verilog sources, sources.txt and ROM files (the library reads the ROMs here)
    golden vectors, model.yaml, weights.npz

and a manifest of ``kind: rtlsim`` with ``rtlsim: {library, rom_dir, top, memory, verilator,
golden_cycles}`` beside the fields every bundle has (docs/CONTRACTS.md). The simulated board
runs it in place of the C-simulation library, with the same register protocol.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import numpy as np

from sustainml.board.bundle import write_manifest
from sustainml.board.sim.hwh import write_hwh

from ..errors import UserError
from ..generate import load_record
from . import verilator
from .rtlsim import MEMORY_DEFAULTS, Rtlsim
from .top import LIBRARY_DIR, TOP

Log = Callable[[str], None]


def rtl_project(build_dir: Path, rec: Dict[str, Any]) -> tuple:
    """(folder, sources) of a generated project's Verilog; one-line errors when absent or stale."""
    sec = rec.get("rtl")
    if rec.get("backend") != "rtl" or not isinstance(sec, dict):
        raise UserError(f"{build_dir}: generated without the RTL backend; run `sustainml generate MODEL "
                        f"--backend rtl --out {build_dir}` first")
    folder = build_dir / str(sec.get("dir", "rtl"))
    sources = [str(s) for s in sec.get("sources") or ()]
    for s in sources:
        if not (folder / s).is_file():
            raise UserError(f"{folder / s}: missing from the generated RTL project (re-run `sustainml generate`)")
        lib = LIBRARY_DIR / s
        if lib.is_file() and lib.read_bytes() != (folder / s).read_bytes():
            raise UserError(f"{folder / s}: differs from the library's {lib} (the library changed since generate; "
                            "re-run `sustainml generate`)")
    return folder, sources


def build_rtlsim(build_dir: Union[str, Path], out_root: Union[str, Path, None] = None, name: Optional[str] = None,
                 echo: Log = print) -> Path:
    """The rtlsim bundle of a generated project (see module docstring)."""
    from ..build import OVERLAYS, SimMismatchError, _common, _prepare_bundle

    bdir = Path(build_dir)
    rec = load_record(bdir)
    folder, sources = rtl_project(bdir, rec)
    design = f"{rec['name']} ({bdir / 'rtl'})"
    echo(f"verilating the RTL DNNU of {rec['model']} ({verilator.version()}) ...")
    lib = verilator.build(folder, sources, design)
    echo(f"  {'cached' if lib.cached else f'built in {lib.build_s:.1f} s'}: {lib.path}")
    memory = MEMORY_DEFAULTS[rec["ps"]]
    gx = np.load(bdir / rec["golden"]["input"])
    gy = np.load(bdir / rec["golden"]["output"])
    sim = Rtlsim(lib.path, folder, design)
    got, results = sim.run(gx, gy.shape[1:], gy.dtype, memory)
    sim.close()
    if not np.array_equal(got, gy):
        bad = int(np.argwhere((got != gy).any(axis=1))[0][0])
        raise SimMismatchError(f"{bdir}: RTL simulation differs from the golden model on golden sample {bad} "
                               f"({got[bad].tolist()} vs {gy[bad].tolist()}); no bundle written")
    echo(f"  golden vectors bit-exact: {len(gx)} samples in {results[0].cycles} cycles (ap_start -> ap_done)")
    dst = _prepare_bundle(Path(out_root) if out_root else OVERLAYS, name or f"{rec['name']}_rtlsim")
    library = f"{dst.name}.so"
    shutil.copyfile(lib.path, dst / library)
    rdst = dst / "rtl"
    rdst.mkdir()
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix in (".v", ".hex") or f.name == "sources.txt"):
            shutil.copyfile(f, rdst / f.name)
    write_hwh(dst / f"{dst.name}.hwh", dst.name, rec["part"], rec["clock_mhz"], rec["ip"]["name"], rec["ip"]["vlnv"],
              rec["registers"])
    manifest = _common(bdir, rec, dst)
    manifest.update(kind="rtlsim", backend="rtl",
                    rtlsim={"library": library, "rom_dir": "rtl", "top": TOP, "memory": memory.to_dict(),
                            "verilator": verilator.version(), "golden_cycles": int(results[0].cycles)})
    write_manifest(dst, manifest)
    echo(f"rtlsim overlay: {dst}")
    return dst
