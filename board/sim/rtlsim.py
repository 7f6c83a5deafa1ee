"""ctypes binding of an rtlsim library: the Verilated DNNU with the harness that plays the PS.

Contract: :class:`Rtlsim` opens a library built by ``sustainml.host.rtlgen.verilator`` (C ABI in
``host/rtlgen/harness.cpp``: ``sml_open``/``sml_run``/``sml_close``) with the ROM files of a
folder, and runs calls exactly as the board runtime makes them (AXI4-Lite ap_ctrl_hs, AXI4
masters served by a memory model). Every call returns the cycle count from ap_start to ap_done
(:class:`RunResult`) and the activity counters of the call (:func:`activity_counters`: what
the simulation-only monitor ``dnnu_act`` around the DNNU counted between ap_start and ap_done,
the input of the simulated board's power model). The memory model's read latency, write response latency and stall
probabilities are :class:`MemoryModel` (the per-family defaults are chosen by the host and
recorded in the bundle's manifest, ``rtlsim.memory``). This is the one mirror of the C structs;
the host side (rtlgen) and the simulated board both use it. Board-side module: ctypes + numpy.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import SimError


@dataclass(frozen=True)
class MemoryModel:
    """DDR behind an HP port, as the harness serves the AXI masters (cycles at the PL clock)."""

    read_latency: int = 40     # cycles from AR accepted to the first R beat
    write_latency: int = 20    # cycles from a burst's last W beat to its B response
    r_stall: float = 0.0       # probability that an R beat is withheld on a cycle
    ready_stall: float = 0.0   # probability that ARREADY / AWREADY / WREADY is low on a cycle
    seed: int = 1


    def to_dict(self) -> dict:
        return {"read_latency": self.read_latency, "write_latency": self.write_latency,
                "r_stall": self.r_stall, "ready_stall": self.ready_stall, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> "MemoryModel":
        d = d or {}
        return cls(int(d.get("read_latency", 40)), int(d.get("write_latency", 20)), float(d.get("r_stall", 0.0)),
                   float(d.get("ready_stall", 0.0)), int(d.get("seed", 1)))


class _Call(ctypes.Structure):
    _fields_ = [("in_addr", ctypes.c_uint64), ("inp", ctypes.c_void_p), ("in_bytes", ctypes.c_uint64),
                ("out_addr", ctypes.c_uint64), ("out", ctypes.c_void_p), ("out_bytes", ctypes.c_uint64),
                ("batch", ctypes.c_int32), ("read_latency", ctypes.c_int32), ("write_latency", ctypes.c_int32),
                ("pad", ctypes.c_int32), ("r_stall", ctypes.c_double), ("ready_stall", ctypes.c_double),
                ("seed", ctypes.c_uint64), ("max_cycles", ctypes.c_uint64)]


#: Most activity counters a design may have (``SML_MAX_ACT`` in the harness).
MAX_ACT = 256
COMPUTE_KINDS = ("conv1d", "dwconv1d", "pwconv1d", "dense")


def activity_counters(kinds: Sequence[str]) -> List[str]:
    """Names of the activity counters of a DNNU whose stages have ``kinds``, in the order of the
    monitor's ``sml_act`` port (counter j at bits ``[64*j +: 64]``). Stream ``st{k}`` is the input
    of stage k (``st{n}``: into the output writer): ``beats`` (handshakes) and ``toggles`` (bits that
    differ from the stream's previous beat). Compute stage ``s{i}``: ``rom_reads`` (cycles the weight
    and bias ROMs are read: the MVU pipeline enable), ``steps`` (fold steps fired: PE x CHUNK MAC
    lanes each), ``x_toggles`` / ``w_toggles`` (bits of the operand / weight registers feeding the
    multipliers that changed from one cycle to the next)."""
    names = [f"st{k}.{e}" for k in range(len(kinds) + 1) for e in ("beats", "toggles")]
    names += [f"s{i}.{e}" for i, kind in enumerate(kinds) if kind in COMPUTE_KINDS
              for e in ("rom_reads", "steps", "x_toggles", "w_toggles")]
    if len(names) > MAX_ACT:
        raise SimError(f"{len(kinds)} stages need {len(names)} activity counters, more than {MAX_ACT}")
    return names


class _Result(ctypes.Structure):
    _fields_ = [("cycles", ctypes.c_uint64), ("first_write", ctypes.c_uint64), ("read_beats", ctypes.c_uint64),
                ("write_beats", ctypes.c_uint64), ("read_bursts", ctypes.c_uint64),
                ("write_bursts", ctypes.c_uint64), ("msg", ctypes.c_char * 256), ("n_act", ctypes.c_uint64),
                ("act", ctypes.c_uint64 * MAX_ACT)]


@dataclass(frozen=True)
class RunResult:
    cycles: int          # ap_start -> ap_done
    first_write: int     # ap_start -> first output word written
    read_beats: int
    write_beats: int
    read_bursts: int
    write_bursts: int
    activity: Tuple[int, ...] = ()  # the monitor's counters (see activity_counters), ap_start -> ap_done


STATUS = {1: "timeout", 2: "bus error", 3: "protocol error"}
_OPEN_LOCK = threading.Lock()
IN_ADDR, OUT_ADDR = 0x1000_0000, 0x2000_0000


class Rtlsim:
    """One Verilated DNNU (see module docstring)."""

    def __init__(self, library: Union[str, Path], rom_dir: Union[str, Path], design: str = "dnnu") -> None:
        self.path, self.design = Path(library), design
        try:
            self._lib = ctypes.CDLL(str(self.path.resolve()))
        except OSError as exc:
            raise SimError(f"{self.path}: cannot load the rtlsim library ({exc})") from None
        lib = self._lib
        lib.sml_open.restype = ctypes.c_void_p
        lib.sml_open.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)
        lib.sml_run.restype = ctypes.c_int
        lib.sml_run.argtypes = (ctypes.c_void_p, ctypes.POINTER(_Call), ctypes.POINTER(_Result))
        lib.sml_close.argtypes = (ctypes.c_void_p,)
        err = ctypes.create_string_buffer(512)
        with _OPEN_LOCK:  # sml_open switches the process's working directory while it reads the ROMs
            self._h = lib.sml_open(str(Path(rom_dir).resolve()).encode(), err, len(err))
        if not self._h:
            raise SimError(f"design {design}: {err.value.decode()}")

    def close(self) -> None:
        if getattr(self, "_h", None):
            self._lib.sml_close(self._h)
            self._h = None

    def __del__(self) -> None:
        self.close()

    def run_bytes(self, inp: np.ndarray, out: np.ndarray, batch: int, memory: MemoryModel = MemoryModel(),
                  in_addr: int = IN_ADDR, out_addr: int = OUT_ADDR, max_cycles: Optional[int] = None) -> RunResult:
        """One call on C-contiguous buffers ``inp`` / ``out`` mapped at ``in_addr`` / ``out_addr``."""
        if not (inp.flags.c_contiguous and out.flags.c_contiguous):
            raise SimError("rtlsim: buffers must be C-contiguous")
        limit = max_cycles if max_cycles is not None else 100_000 + 2_000 * (inp.nbytes + out.nbytes + 64)
        call = _Call(in_addr, inp.ctypes.data, inp.nbytes, out_addr, out.ctypes.data, out.nbytes, int(batch),
                     memory.read_latency, memory.write_latency, 0, memory.r_stall, memory.ready_stall, memory.seed,
                     limit)
        res = _Result()
        rc = self._lib.sml_run(self._h, ctypes.byref(call), ctypes.byref(res))
        if rc != 0:
            raise SimError(f"design {self.design}: rtlsim {STATUS.get(rc, rc)}: {res.msg.decode()}")
        n = min(int(res.n_act), MAX_ACT)
        return RunResult(res.cycles, res.first_write, res.read_beats, res.write_beats, res.read_bursts,
                         res.write_bursts, tuple(int(v) for v in res.act[:n]))

    def run(self, x: np.ndarray, out_shape: tuple, out_dtype: np.dtype, memory: MemoryModel = MemoryModel(),
            chunk: int = 0) -> tuple:
        """Outputs (N,) + out_shape for container-typed inputs x (N, ...), and the RunResults
        (one per chunk of ``chunk`` samples; 0 = one call)."""
        x = np.ascontiguousarray(x)
        n = len(x)
        out = np.zeros((n,) + tuple(out_shape), dtype=out_dtype)
        step = chunk or max(n, 1)
        results = []
        for s in range(0, n, step):
            xs = np.ascontiguousarray(x[s:s + step])
            ys = np.zeros((len(xs),) + tuple(out_shape), dtype=out_dtype)
            results.append(self.run_bytes(xs, ys, len(xs), memory))
            out[s:s + len(xs)] = ys
        return out, results
