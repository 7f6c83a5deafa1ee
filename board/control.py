"""Host side of the Vitis HLS ``ap_ctrl_hs`` protocol over an s_axilite register block.

One call: write the buffer addresses (64-bit, low word first) and the batch count, set
ap_start, poll ap_done (clear on read) until it rises or the timeout expires. A hung
accelerator raises :class:`DnnuTimeoutError`; the caller is never blocked past the timeout.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional

from .errors import BoardError, DnnuTimeoutError

AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8
#: Busy-poll this long before yielding the CPU between polls: calls shorter than this are
#: timed to one register read; longer ones to about one sleep (the OS's timer slack).
SPIN_NS = 5_000_000
SLEEP_S = 50e-6


class ApCtrl:
    """Drives one ap_ctrl_hs kernel through ``mmio`` (a ``pynq.MMIO``) and a register map."""

    def __init__(self, mmio: Any, registers: Mapping[str, int],
                 clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self.mmio = mmio
        self.regs = dict(registers)
        self.clock = clock

    def status(self) -> int:
        return int(self.mmio.read(self.regs["ap_ctrl"]))

    def idle(self) -> bool:
        return bool(self.status() & AP_IDLE)

    def start(self, in_addr: int, out_addr: int, batch: int, scalars: Optional[Mapping[str, int]] = None) -> int:
        """Program the arguments (``scalars``: further 32-bit registers by name, e.g. FP8 I/O
        biases) and set ap_start; returns the device clock at start (ns)."""
        if not self.idle():
            raise BoardError("DNNU is not idle (a previous call is still running or it is hung)")
        w = self.mmio.write
        w(self.regs["in_addr"], in_addr & 0xFFFFFFFF)
        w(self.regs["in_addr"] + 4, in_addr >> 32)
        w(self.regs["out_addr"], out_addr & 0xFFFFFFFF)
        w(self.regs["out_addr"] + 4, out_addr >> 32)
        w(self.regs["batch"], int(batch))
        for name, value in (scalars or {}).items():
            w(self.regs[name], int(value))
        w(self.regs["ap_ctrl"], AP_START)
        return self.clock()

    def wait(self, timeout_s: float) -> int:
        """Poll until ap_done; returns the device clock when it was seen (ns)."""
        read, ctrl, clock = self.mmio.read, self.regs["ap_ctrl"], self.clock
        t0 = time.perf_counter_ns()
        deadline = t0 + int(timeout_s * 1e9)
        while True:
            if read(ctrl) & AP_DONE:
                return clock()
            now = time.perf_counter_ns()
            if now > deadline:
                raise DnnuTimeoutError(f"DNNU did not raise ap_done within {timeout_s:g} s "
                                       f"(ap_ctrl={self.status():#x}); the accelerator is hung or the "
                                       "overlay does not match the bundle")
            if now - t0 > SPIN_NS:
                time.sleep(SLEEP_S)
