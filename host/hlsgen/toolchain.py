"""Where the C++ pieces come from: the Xilinx ap_types headers, the DNNU library, the compiler.

Xilinx arbitrary-precision headers (``ap_int.h``, ``ap_fixed.h``, ``hls_stream.h``) are taken
from, in order:

1. ``$XILINX_HLS/include`` when ``XILINX_HLS`` is set (a Vitis HLS install; an error if the
   headers are not there, since the setting is explicit),
2. the ``include`` folder next to a ``vitis_hls`` found on ``PATH``,
3. the copy shipped in the ``hls4ml`` PyPI package (``hls4ml/templates/vivado/ap_types``).

:func:`find_ap_types` reports which one was used (:attr:`ApTypes.origin`).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional

from sustainml import REPO_ROOT

from .errors import ToolchainError

#: The DNNU library (hls/include/sustainml/...).
LIBRARY_INCLUDE = REPO_ROOT / "hls" / "include"
REQUIRED = ("ap_int.h", "ap_fixed.h", "hls_stream.h")
#: g++ language level: C++14 is what every Vitis HLS release accepts.
CXX_STD = "-std=c++14"


@dataclass(frozen=True)
class ApTypes:
    """A folder holding the Xilinx ap_types headers and where it came from."""

    include: Path
    origin: str  # e.g. "Vitis HLS ($XILINX_HLS=/tools/Xilinx/Vitis_HLS/2023.2)"

    def __str__(self) -> str:
        return f"{self.include} ({self.origin})"


def _has_headers(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED)


def _hls4ml_ap_types() -> Optional[Path]:
    """The ap_types folder inside an installed hls4ml package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("hls4ml")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    return folder if _has_headers(folder) else None


def find_ap_types(env: Optional[Mapping[str, str]] = None) -> ApTypes:
    """Locate the ap_types headers (see module docstring); raise ToolchainError if none."""
    env = os.environ if env is None else env
    xilinx_hls = env.get("XILINX_HLS")
    if xilinx_hls:
        inc = Path(xilinx_hls) / "include"
        if not _has_headers(inc):
            raise ToolchainError(f"XILINX_HLS={xilinx_hls}: {inc} lacks {', '.join(REQUIRED)} (unset XILINX_HLS to use hls4ml's copy)")
        return ApTypes(inc, f"Vitis HLS ($XILINX_HLS={xilinx_hls})")
    vitis = shutil.which("vitis_hls", path=env.get("PATH"))
    if vitis:
        inc = Path(vitis).resolve().parent.parent / "include"
        if _has_headers(inc):
            return ApTypes(inc, f"Vitis HLS ({vitis} on PATH)")
    pkg = _hls4ml_ap_types()
    if pkg is not None:
        return ApTypes(pkg, "hls4ml PyPI package")
    raise ToolchainError("Xilinx ap_types headers not found: set XILINX_HLS to a Vitis HLS install, put vitis_hls on PATH, "
                         "or `pip install hls4ml` (ships ap_int.h/hls_stream.h under hls4ml/templates/vivado/ap_types)")


def compiler(env: Optional[Mapping[str, str]] = None) -> str:
    """The C++ compiler for C simulation: ``$CXX`` or ``g++``."""
    env = os.environ if env is None else env
    cxx = env.get("CXX") or "g++"
    path = shutil.which(cxx, path=env.get("PATH"))
    if path is None:
        raise ToolchainError(f"C++ compiler {cxx!r} not found on PATH (C simulation needs g++ or $CXX with C++14)")
    return path


@functools.lru_cache(maxsize=None)
def compiler_version(cxx: str) -> str:
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else cxx


def include_flags(ap: ApTypes) -> List[str]:
    """Vendor headers as system headers (their own warnings silenced), ours as user headers."""
    return ["-isystem", str(ap.include), "-I", str(LIBRARY_INCLUDE)]


def tree_digest(folder: Path) -> str:
    """sha256 over every file (relative path + bytes) under ``folder``."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()
