"""C simulation: compile generated HLS C++ with g++ into a shared library, call it via ctypes.

Libraries are cached under ``$SUSTAINML_CACHE/csim`` (default ``~/.cache/sustainml/csim``) by a
sha256 of everything that determines the binary: the generated sources, the DNNU library
headers, the ap_types headers, the compiler and its flags. An unchanged design never
recompiles. Concurrent compiles of one design are safe: each process builds in its own
temporary folder and publishes with an atomic ``os.replace``; an advisory lock makes the
second process wait for the first and reuse its result instead of compiling again.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from sustainml.nas.quantized import QuantizedModel

from . import emit, harness, toolchain
from .dnnu_io import DnnuIO, fp8_bias
from .errors import HlsGenError, ToolchainError

#: -O2: simulation speed matters more than the ~10% longer compile. The two -Wno flags
#: silence false positives that ap_private.h (vendor) raises under optimization only.
CXXFLAGS = ("-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Wno-maybe-uninitialized", "-Wno-uninitialized")
#: Single-module benches run tiny inputs: -O0 compiles ~2.5x faster than -O2. They count the
#: iterations of the modules' pipelined loops (SML_COUNT_ITERATION in types.h).
BENCH_FLAGS = ("-O0", "-fPIC", "-shared", "-Wall", "-Wextra", "-DSML_COUNT_ITERATIONS")


def cache_root(env: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("SUSTAINML_CACHE") or str(Path.home() / ".cache" / "sustainml")
    return Path(base) / "csim"


@dataclass
class CsimLibrary:
    """A compiled C-simulation library, loaded."""

    path: Path
    cached: bool  # True when it came from the cache without compiling
    compile_s: float = 0.0
    headers: Optional[toolchain.ApTypes] = None
    lib: ctypes.CDLL = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.lib = ctypes.CDLL(str(self.path))

    def function(self, symbol: str, restype, argtypes) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
        try:
            fn = getattr(self.lib, symbol)
        except AttributeError:
            raise ToolchainError(f"{self.path}: no symbol {symbol!r}") from None
        fn.restype, fn.argtypes = restype, argtypes
        return fn


@dataclass
class _Ap:
    headers: toolchain.ApTypes
    digest: str


_AP_CACHE: Dict[Path, _Ap] = {}


def _ap_types() -> _Ap:
    headers = toolchain.find_ap_types()
    if headers.include not in _AP_CACHE:
        _AP_CACHE[headers.include] = _Ap(headers, toolchain.tree_digest(headers.include))
    return _AP_CACHE[headers.include]


def compile_sources(sources: Mapping[str, str], main: str, name: str = "lib",
                    flags: Sequence[str] = CXXFLAGS) -> CsimLibrary:
    """Compile ``sources`` (file name -> text; ``main`` is the translation unit, the others are
    headers next to it) into ``lib<name>.so``, through the cache."""
    if main not in sources:
        raise HlsGenError(f"compile_sources: translation unit {main!r} is not among the sources {sorted(sources)}")
    ap = _ap_types()
    cxx = toolchain.compiler()
    h = hashlib.sha256()
    for part in (toolchain.compiler_version(cxx), toolchain.CXX_STD, *flags, ap.digest,
                 toolchain.tree_digest(toolchain.LIBRARY_INCLUDE), main):
        h.update(part.encode() + b"\0")
    for fname in sorted(sources):
        h.update(fname.encode() + b"\0" + sources[fname].encode() + b"\0")
    key = h.hexdigest()[:24]
    folder = cache_root() / key
    target = folder / f"lib{name}.so"
    if target.exists():
        return CsimLibrary(target, True, headers=ap.headers)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second compiler of this design waits here ...
        if target.exists():  # ... and finds the first one's result
            return CsimLibrary(target, True, headers=ap.headers)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=folder))
        try:
            for fname, text in sources.items():
                (work / fname).write_text(text)
            out = work / target.name
            cmd = [cxx, toolchain.CXX_STD, *flags, *toolchain.include_flags(ap.headers), "-I", str(work),
                   str(work / main), "-o", str(out)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                log = folder / "compile-error.log"
                log.write_text(" ".join(cmd) + "\n\n" + proc.stderr)
                first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:200])
                raise ToolchainError(f"C simulation compile of {main} failed: {first.strip()} (full log: {log})")
            for fname, text in sources.items():  # keep the sources next to the library for debugging
                (work / fname).replace(folder / fname)
            os.replace(out, target)  # atomic publish
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return CsimLibrary(target, False, seconds, ap.headers)


# ------------------------------------------------------------------------------ whole DNNU
def compile_dnnu(model: QuantizedModel, encoding: str = "int") -> CsimLibrary:
    """The C-simulation library of ``model``'s DNNU (emitted as by :func:`emit.emit_dnnu`)."""
    return compile_sources(emit.render(model, encoding), "dnnu.cpp", "dnnu")


def _io(model_io: Union[DnnuIO, QuantizedModel, Mapping]) -> DnnuIO:
    if isinstance(model_io, DnnuIO):
        return model_io
    if isinstance(model_io, QuantizedModel):
        return DnnuIO.of_model(model_io)
    return DnnuIO.of_manifest(model_io)


def _load(lib_or_path: Union[CsimLibrary, str, Path]) -> CsimLibrary:
    if isinstance(lib_or_path, CsimLibrary):
        return lib_or_path
    path = Path(lib_or_path)
    if not path.is_file():
        raise ToolchainError(f"{path}: C-simulation library not found")
    return CsimLibrary(path, True)


def run_dnnu(lib_or_path: Union[CsimLibrary, str, Path], model_io: Union[DnnuIO, QuantizedModel, Mapping],
             x_int: np.ndarray, chunk: int = 256, in_bias: Optional[int] = None,
             out_bias: Optional[int] = None) -> np.ndarray:
    """Outputs (N, classes) of the C-simulated DNNU for inputs (N, L, C) or (N, L).

    ``model_io`` is the model, its :class:`DnnuIO` or a bundle manifest's ``io`` section.
    Integer I/O: inputs must already be quantized and clipped to the input width (as the
    board's PS does); returns int64 logits. FP8 I/O: inputs and outputs are E5M2 codes
    (uint8) at the bias registers ``in_bias``/``out_bias`` (default: the manifest's).
    """
    io = _io(model_io)
    lib = _load(lib_or_path)
    scalars: Sequence[int] = ()
    argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    if io.fp8:
        in_bias = io.in_bias if in_bias is None else in_bias
        out_bias = io.out_bias if out_bias is None else out_bias
        if in_bias is None or out_bias is None:
            raise HlsGenError("run_dnnu: a DNNU with FP8 I/O needs in_bias and out_bias")
        scalars = (fp8_bias(in_bias, "in_bias"), fp8_bias(out_bias, "out_bias"))
        argtypes += [ctypes.c_int, ctypes.c_int]
    fn = lib.function(emit.CSIM_SYMBOL, ctypes.c_int, argtypes)
    x = np.asarray(x_int)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[1:] != (io.length, io.channels):
        raise HlsGenError(f"run_dnnu: input shape {x.shape} is not (N, {io.length}, {io.channels})")
    if io.fp8:
        if x.dtype != np.uint8:
            raise HlsGenError(f"run_dnnu: FP8 I/O takes uint8 E5M2 codes, got dtype {x.dtype}")
    else:
        if x.size and not np.issubdtype(x.dtype, np.integer):
            raise HlsGenError(f"run_dnnu: input dtype {x.dtype} is not an integer type (quantize first)")
        lo, hi = -(1 << (io.in_bits - 1)), (1 << (io.in_bits - 1)) - 1
        if x.size and (x.min() < lo or x.max() > hi):
            bad = np.argwhere((x < lo) | (x > hi))[0]
            raise HlsGenError(f"run_dnnu: input value {int(x[tuple(bad)])} at sample {bad[0]}, step {bad[1]} "
                              f"is outside the {io.in_bits}-bit range {lo}..{hi}")
    xin = np.ascontiguousarray(x, dtype=io.in_dtype)
    out = np.zeros((len(x), io.classes), dtype=io.out_dtype)
    for start in range(0, len(x), chunk):
        xs = np.ascontiguousarray(xin[start:start + chunk])
        ys = np.zeros((len(xs), io.classes), dtype=io.out_dtype)
        rc = fn(xs.ctypes.data, ys.ctypes.data, len(xs), *scalars)
        if rc != 0:
            raise ToolchainError(f"{lib.path}: {emit.CSIM_SYMBOL} returned {rc}")
        out[start:start + len(xs)] = ys
    return out if io.fp8 else out.astype(np.int64)


# ------------------------------------------------------------------------------ single modules
class StageBench:
    """Compiled test bench of single-module cases (see :mod:`.harness`)."""

    def __init__(self, cases: Sequence[harness.StageCase]):
        self.cases = list(cases)
        self.library = compile_sources({"bench.cpp": harness.render(self.cases)}, "bench.cpp", "bench", BENCH_FLAGS)
        ptr = ctypes.POINTER(ctypes.c_longlong)
        self._fns = [self.library.function(harness.symbol(i), ctypes.c_long, [ptr, ptr, ctypes.c_int])
                     for i in range(len(self.cases))]
        self._iterations = self.library.function("sml_iterations", ctypes.c_long, [])
        #: iterations of the module's pipelined loop in the last :meth:`run`
        self.iterations = 0

    def run(self, i: int, x: np.ndarray) -> np.ndarray:
        """Output (N, out_len, out_ch) of case ``i`` for integer input (N, in_len, in_ch)."""
        s = self.cases[i].stage
        x = np.ascontiguousarray(x, dtype=np.int64)
        if x.ndim != 3 or x.shape[1:] != (s.in_len, s.in_ch):
            raise HlsGenError(f"case {i}: input shape {x.shape} is not (N, {s.in_len}, {s.in_ch})")
        y = np.zeros((len(x), s.out_len, s.out_ch), dtype=np.int64)
        ptr = ctypes.POINTER(ctypes.c_longlong)
        self._iterations()
        bad = self._fns[i](x.ctypes.data_as(ptr), y.ctypes.data_as(ptr), len(x))
        self.iterations = int(self._iterations())
        if bad:
            raise ToolchainError(f"case {i} ({s.kind}): stream protocol violated ({bad} beats missing or left over)")
        return y


def compile_stages(cases: Sequence[harness.StageCase]) -> StageBench:
    """Compile one test bench holding every case (one g++ run)."""
    return StageBench(cases)
