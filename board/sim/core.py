"""Register-level model of the DNNU IP: the Vitis HLS ``ap_ctrl_hs`` block-level protocol.

``CTRL`` (ap_ctrl): bit0 ap_start (set by the host, held until ap_ready), bit1 ap_done and
bit3 ap_ready (clear on read), bit2 ap_idle. ``GIER``/``IP_IER``/``IP_ISR`` (toggle on write)
as Vitis generates them. Writing ap_start while idle runs the design on the buffers at the
written addresses (through simulated DRAM, so cache maintenance matters) and raises ap_done once
its hardware time has elapsed on the device clock.
A library error, a bus error or an injected hang (``hang = True``) leaves the core running
forever, as a real hung accelerator would, until the next download (:meth:`SimDnnu.configure`)
resets it, as reconfiguring the PL does.

An rtlsim design (bundle kind ``rtlsim``) runs the Verilated RTL: the call goes through the
harness's own AXI4-Lite/AXI4 protocol on the simulated DRAM, the hardware time is the harness's
cycle count (ap_start -> ap_done) at the PL clock, and the call's dynamic energy is the power
model's (:mod:`.power`) from the activity the circuit's monitor counted, spread over that time.

A C-simulation design (kind ``sim``) has no circuit, so it has no timing and no dynamic power:
ap_done is raised as soon as the outputs are written (hardware time 0, ``timed = False``), and
runtimes report its hardware time as none rather than an invented one.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

from ..errors import SimError
from .clock import SimClock
from .csim import CsimLibrary
from .memory import BusError, SimMemory
from .power import PowerModel, call_energy_j
from .rtlsim import MemoryModel, Rtlsim, activity_counters

AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8


class SimDnnu:
    def __init__(self, clock: SimClock, memory: SimMemory, power: PowerModel) -> None:
        self.clock, self.memory, self.power = clock, memory, power
        self.hang = False  # fault injection: never raise ap_done
        self.error: Optional[str] = None
        self.calls = 0
        self.lib: Optional[CsimLibrary] = None
        self.stages: tuple = ()  # the design's stages (manifest), for the power model
        self.timed = False  # whether calls have a hardware time (rtlsim) or none (C-simulation)
        self.rtl: Optional[Rtlsim] = None  # rtlsim designs: the Verilated DNNU and its memory model
        self.rtl_memory = MemoryModel()
        self.last_cycles = 0  # rtlsim: cycles of the last call (ap_start -> ap_done)
        self.last_hw_ns = 0  # hardware time of the last call
        self.last_activity: Dict[str, int] = {}  # rtlsim: the monitor's counters of the last call
        self.last_energy_j: Dict[str, float] = {}  # rtlsim: dynamic energy of the last call per class
        self.args: tuple = ()  # scalar registers passed to the library after batch
        self.clock_mhz = 100.0
        self._reset({"ap_ctrl": 0, "gie": 4, "ier": 8, "isr": 12, "in_addr": 16, "out_addr": 28, "batch": 40})

    def _reset(self, regs: Mapping[str, int]) -> None:
        self.offsets = dict(regs)
        self.regs: Dict[int, int] = {}
        self.running = self.done = self.ready = False
        self.done_at = 0

    def configure(self, lib: Optional[CsimLibrary], registers: Mapping[str, int], io: Mapping[str, Any],
                  args: Sequence[str] = (), rtl: Optional[Rtlsim] = None, rtl_memory: Optional[MemoryModel] = None,
                  stages: Sequence[Mapping[str, Any]] = ()) -> None:
        """Load a design (what a bitstream download does to the PL); ``args``: the scalar
        registers the library takes after ``batch`` (manifest ``sim.args``); ``rtl``: the
        Verilated DNNU of an rtlsim bundle (then ``lib`` is None); ``stages``: the manifest's."""
        self._reset(registers)
        self.hang = False  # a download reconfigures the PL: a hung core starts afresh
        self.lib, self.args, self.stages = lib, tuple(args), tuple(stages)
        self.rtl, self.rtl_memory = rtl, rtl_memory or MemoryModel()
        self.timed = rtl is not None
        self.in_shape, self.in_dtype = tuple(io["input"]["shape"]), np.dtype(io["input"]["dtype"])
        self.out_shape, self.out_dtype = tuple(io["output"]["shape"]), np.dtype(io["output"]["dtype"])
        self.error = None

    # ------------------------------------------------------------------ registers
    def read(self, offset: int) -> int:
        if offset != self.offsets["ap_ctrl"]:
            return self.regs.get(offset, 0)
        if self.running and not self.hang and self.error is None and self.clock.perf_counter_ns() >= self.done_at:
            self.running, self.done, self.ready = False, True, True
            if self.regs.get(self.offsets["ier"], 0) & 1:
                self.regs[self.offsets["isr"]] = self.regs.get(self.offsets["isr"], 0) | 1
        value = (AP_START if self.running else 0) | (AP_DONE if self.done else 0) \
            | (AP_IDLE if not self.running else 0) | (AP_READY if self.ready else 0)
        self.done = self.ready = False  # clear on read
        return value

    def write(self, offset: int, value: int) -> None:
        if offset == self.offsets["ap_ctrl"]:
            if value & AP_START and not self.running:
                self._start()
        elif offset == self.offsets["isr"]:
            self.regs[offset] = self.regs.get(offset, 0) ^ (value & 0x3)
        else:
            self.regs[offset] = value & 0xFFFFFFFF

    def _u64(self, name: str) -> int:
        o = self.offsets[name]
        return self.regs.get(o, 0) | (self.regs.get(o + 4, 0) << 32)

    # ------------------------------------------------------------------ execution
    def _start(self) -> None:
        batch = int(np.int32(np.uint32(self.regs.get(self.offsets["batch"], 0))))
        self.running = True
        self.calls += 1
        if self.lib is None and self.rtl is None:
            self.error = "no design loaded"
            return
        energy: Dict[str, float] = {}
        # held pause: the circuit starts when the driver's write returns (board/sim/clock.py), and
        # the simulator's own bookkeeping below costs no device time
        with self.clock.paused(hold=True):
            if self.rtl is not None:
                hw_ns, energy = self._execute_rtl(batch) if batch > 0 else (0, {})
            else:
                hw_ns = 0  # no circuit, no timing (see module docstring)
                if batch > 0:
                    self._execute(batch)
            start = self.clock.perf_counter_ns()
            self.done_at = start + hw_ns
            self.last_hw_ns = hw_ns
            self.last_energy_j = energy
            if self.error is None and not self.hang and energy:
                self.power.call(start, self.done_at, energy)

    def _execute_rtl(self, batch: int) -> tuple:
        """Run the Verilated DNNU on the DRAM at the written addresses; returns its time in ns and
        its dynamic energy per class (J)."""
        n_in = batch * int(np.prod(self.in_shape)) * self.in_dtype.itemsize
        n_out = batch * int(np.prod(self.out_shape)) * self.out_dtype.itemsize
        try:
            src = self.memory.dram(self._u64("in_addr"), n_in)
            dst = self.memory.dram(self._u64("out_addr"), n_out)
            res = self.rtl.run_bytes(np.ascontiguousarray(src), dst, batch, self.rtl_memory,
                                     self._u64("in_addr"), self._u64("out_addr"))
        except (BusError, SimError) as exc:
            self.error = str(exc)
            return 0, {}
        self.last_cycles = res.cycles
        names = activity_counters([s["kind"] for s in self.stages])
        if len(res.activity) != len(names):
            self.error = (f"rtlsim library reports {len(res.activity)} activity counters, the manifest's "
                          f"{len(self.stages)} stages need {len(names)}")
            return 0, {}
        self.last_activity = dict(zip(names, res.activity))
        energy = call_energy_j(self.stages, self.last_activity, res.read_beats + res.write_beats, self.power.family,
                               self.power.pj)
        return int(round(res.cycles * 1e3 / self.clock_mhz)), energy

    def _execute(self, batch: int) -> None:
        n_in = batch * int(np.prod(self.in_shape)) * self.in_dtype.itemsize
        n_out = batch * int(np.prod(self.out_shape)) * self.out_dtype.itemsize
        try:
            src = self.memory.dram(self._u64("in_addr"), n_in)
            dst = self.memory.dram(self._u64("out_addr"), n_out)
        except BusError as exc:
            self.error = str(exc)
            return
        x = np.array(src.view(self.in_dtype).reshape((batch,) + self.in_shape))
        out = np.zeros((batch,) + self.out_shape, self.out_dtype)
        scalars = [int(np.int32(np.uint32(self.regs.get(self.offsets[a], 0)))) for a in self.args]
        status = self.lib.run(x, out, batch, scalars)
        if status != 0:
            self.error = f"dnnu_csim returned {status}"
            return
        dst[:] = out.reshape(-1).view(np.uint8)
