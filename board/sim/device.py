"""A simulated Zynq board as a ``pynq`` device.

``SimDevice`` subclasses ``pynq.pl_server.device.Device`` (registered through pynq's device
metaclass, probed when ``$SUSTAINML_SIM_BOARD`` is set), so ``pynq.Overlay``, ``pynq.allocate``,
``pynq.MMIO`` and ``pynq.ps.Clocks`` run their own code against it:

* ``get_bitfile_metadata`` parses the bundle's ``NAME.hwh`` with pynq's metadata parser;
* ``download`` loads the sim bundle's C-simulation library into the PL model (the "bitfile"
  given to ``Overlay`` is the library, see docs/CONTRACTS.md), or an rtlsim bundle's Verilated
  DNNU with its ROM files and memory model (its hardware time is then the RTL's cycle count and
  its power the activity model of :mod:`.power`; a C-simulation library has neither),
  and takes the PL clock pynq programs into the clock registers;
* registers are accessed through the ``REGISTER_RW`` capability: the DNNU's s_axilite block
  (:mod:`.core`) and the PS clock controller (SLCR on Zynq-7000, CRL/CRF_APB on UltraScale+);
* ``allocate``/``flush``/``invalidate`` go to the simulated DDR and cache (:mod:`.memory`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from pynq.pl_server.device import Device

from ..bundle import MANIFEST, SIM_KINDS, read_manifest
from ..errors import SimError
from ..identity import BoardInfo, lookup, on_real_board
from .clock import SimClock
from .core import SimDnnu
from .csim import CsimLibrary
from .hwh import dnnu_base_address
from .memory import SimMemory
from .model import Design, board_params
from .power import AveragingSensor, PowerModel
from .rtlsim import MemoryModel, Rtlsim

ENV = "SUSTAINML_SIM_BOARD"

# PS clock controllers at reset: (base, span, {offset: value}). PL clock 0 resets to 50 MHz, so a
# download that does not program the design clock shows up in the measured hardware time.
_CLOCK_REGS = {
    "ps7": [(0xF8000000, 0x200, {0x100: 26 << 12, 0x104: 21 << 12, 0x108: 20 << 12, 0x120: 2 << 8,
                                 0x170: (1 << 20) | (20 << 8), 0x180: (1 << 20) | (20 << 8),
                                 0x190: (1 << 20) | (20 << 8), 0x1A0: (1 << 20) | (20 << 8)})],
    "ps8": [(0xFF5E0000, 0x100, {0x20: 45 << 8, 0x30: 45 << 8, 0xC0: (1 << 24) | (1 << 16) | (30 << 8),
                                 0xC4: (1 << 16) | (30 << 8), 0xC8: (1 << 16) | (30 << 8), 0xCC: (1 << 16) | (30 << 8)}),
            (0xFD1A0000, 0x100, {0x20: (72 << 8) | (1 << 16), 0x2C: 64 << 8, 0x38: 90 << 8, 0x60: 1 << 8})],
}


def _field(v: int, lsb: int, width: int) -> int:
    return (v >> lsb) & ((1 << width) - 1)


class SimDevice(Device):
    """One simulated board (see module docstring)."""

    _probe_priority_ = 300

    @classmethod
    def _probe_(cls):
        board = os.environ.get(ENV)
        if not board or on_real_board():
            return []
        return [cls.for_board(board)]

    _instances: Dict[str, "SimDevice"] = {}

    @classmethod
    def for_board(cls, board: str) -> "SimDevice":
        info = lookup(board)
        if info.name not in cls._instances:
            cls._instances[info.name] = cls(info)
        return cls._instances[info.name]

    def __init__(self, board: BoardInfo) -> None:
        super().__init__(f"sim_{board.name}")
        self.board = board
        self.name = f"sim-{board.name}"
        self.arch = board.arch
        self.simulated = True
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.clock = SimClock()
        self.memory = SimMemory(self)
        self.power = PowerModel(board_params(board.name))  # fails early for a board without a model
        self.dnnu = SimDnnu(self.clock, self.memory, self.power)
        self.dnnu_base = dnnu_base_address(board.ps)
        self._clock_regs = [(b, n, dict(r)) for b, n, r in _CLOCK_REGS[board.ps]]
        self.bitfile_name = ""
        self.timestamp = ""

    # ------------------------------------------------------------------ clock seen by drivers
    def perf_counter_ns(self) -> int:
        """The device clock (pauses while the C-simulation runs; see :mod:`.clock`)."""
        return self.clock.perf_counter_ns()

    @property
    def pl_clock_mhz(self) -> float:
        """PL clock 0 as programmed in the PS clock controller."""
        regs = {b: r for b, _, r in self._clock_regs}
        if self.board.ps == "ps7":
            slcr = regs[0xF8000000]
            src = 50.0 * _field(slcr[0x108], 12, 7)
            ctrl = slcr[0x170]
            return src / (_field(ctrl, 8, 6) * _field(ctrl, 20, 6))
        crl = regs[0xFF5E0000]
        pll = crl[0x20]
        src = 33.333 * _field(pll, 8, 7) / (2 if _field(pll, 16, 1) else 1)
        ctrl = crl[0xC0]
        return src / (_field(ctrl, 8, 6) * _field(ctrl, 16, 6))

    # ------------------------------------------------------------------ pynq Device interface
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False):
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        hwh = _hwh_for(Path(bitfile_name))
        return RuntimeMetadataParser(Metadata(input=hwh))

    def download(self, bitstream: Any, parser: Any = None) -> None:
        lib_path = Path(bitstream.bitfile_name)
        if lib_path.suffix != ".so":
            raise SimError(f"{lib_path}: the simulated board loads a sim bundle's C-simulation library, "
                           "not a bitstream")
        doc = read_manifest(lib_path.parent)
        if doc["kind"] not in SIM_KINDS:
            raise SimError(f"{lib_path.parent / MANIFEST}: kind={doc['kind']}, the simulated board needs kind: "
                           f"{' or '.join(SIM_KINDS)}")
        design = Design.from_manifest(doc)
        if doc["kind"] == "rtlsim":
            rtl = doc["rtlsim"]
            sim = Rtlsim(lib_path, lib_path.parent / str(rtl["rom_dir"]), str(doc["name"]))
            self.dnnu.configure(None, doc["registers"], doc["io"], (), sim, MemoryModel.from_dict(rtl.get("memory")),
                                design.stages)
        else:
            args = list(doc["sim"].get("args") or ())
            missing = [a for a in args if a not in doc["registers"]]
            if missing:
                raise SimError(f"{lib_path.parent / MANIFEST}: sim.args names {missing[0]!r}, "
                               "which is not in registers")
            lib = CsimLibrary(lib_path, doc["sim"]["symbol"], len(args))
            self.dnnu.configure(lib, doc["registers"], doc["io"], args, stages=design.stages)
        self.bitfile_name = str(lib_path)
        super().post_download(bitstream, parser, self.name)
        # pynq.Overlay.download programmed the PL clocks just before calling us.
        self.dnnu.clock_mhz = self.pl_clock_mhz

    def _region(self, address: int) -> Tuple[str, int, Optional[Dict[int, int]]]:
        if self.dnnu_base <= address < self.dnnu_base + 0x10000:
            return "dnnu", address - self.dnnu_base, None
        for base, span, regs in self._clock_regs:
            if base <= address < base + span:
                return "clk", address - base, regs
        raise SimError(f"register access at {address:#x}: nothing is mapped there on {self.name}")

    def read_registers(self, address: int, length: int) -> bytes:
        out = b""
        for a in range(address, address + max(length, 4), 4):
            kind, off, regs = self._region(a)
            v = self.dnnu.read(off) if kind == "dnnu" else regs.get(off, 0)
            out += int(v & 0xFFFFFFFF).to_bytes(4, "little")
        return out[:length]

    def write_registers(self, address: int, data: bytes) -> None:
        for i in range(0, len(data), 4):
            kind, off, regs = self._region(address + i)
            v = int.from_bytes(data[i:i + 4].ljust(4, b"\0"), "little")
            if kind == "dnnu":
                self.dnnu.write(off, v)
            else:
                regs[off] = v

    @property
    def default_memory(self) -> SimMemory:
        return self.memory

    def allocate(self, shape: Any, dtype: Any = "u4", **kwargs: Any):
        return self.memory.allocate(shape, dtype, **kwargs)

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        self.memory.flush(bo, offset, size)

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        self.memory.invalidate(bo, offset, size)

    # ------------------------------------------------------------------ power readings
    def get_rails(self) -> Dict[str, Any]:
        """Simulated rails (power sensors) where the board has readable rails; {} otherwise."""
        from pynq.pmbus import Rail

        rails = {}
        for name in self.power.rails:
            r = Rail(name)
            r.power = AveragingSensor(f"{name}_power", self.power, self.clock, rail=name)
            rails[name] = r
        return rails


class SimMeter:
    """A simulated external meter on the board's supply (a :class:`~sustainml.board.power.PowerMeter`)."""

    def __init__(self, device: SimDevice, name: str = "sim_meter") -> None:
        self.name = name
        self._sensor = AveragingSensor(name, device.power, device.clock)

    def read_watts(self) -> float:
        return self._sensor.get_value()


def _hwh_for(lib: Path) -> Path:
    """``NAME.hwh`` of the bundle holding ``lib`` (same stem first, as pynq looks for it)."""
    same = lib.with_suffix(".hwh")
    if same.is_file():
        return same
    mpath = lib.parent / MANIFEST
    if mpath.is_file():
        hwh = lib.parent / f"{read_manifest(lib.parent)['name']}.hwh"
        if hwh.is_file():
            return hwh
    raise SimError(f"{lib}: no hardware handoff (.hwh) next to it")
