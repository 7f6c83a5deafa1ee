"""The simulated board's clock: ``perf_counter_ns`` minus the host time spent simulating the PL.

On a board the PL runs in parallel with the CPU. Here the simulation runs on the CPU, so the
device pauses this clock while it executes; times measured with it (hardware time, end-to-end
time, driver overhead) are what the board would show, not what the simulation costs.

A pause may *hold* (``paused(hold=True)``): the clock then stays stopped after the block until
its next reading by the thread that paused it (other threads, e.g. a power recorder, read the
held value without restarting it). The device holds it over an ap_start write, which runs in the
driver's thread, so the driver's clock reading just after the write returns is the instant the
circuit started: the host time of unwinding that
write (the register-write layers, slowed by the simulation that ran inside it: a long Verilator
run leaves the host's caches cold and made this 3-15 µs) belongs to neither the circuit nor a
board's driver.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional


class SimClock:
    def __init__(self) -> None:
        self._stolen = 0
        self._paused_at = 0
        self._depth = 0
        self._held: Optional[int] = None  # thread whose next reading restarts the clock after a holding pause
        self._lock = threading.Lock()

    def perf_counter_ns(self) -> int:
        with self._lock:
            if self._depth or self._held is not None:
                value = self._paused_at - self._stolen
                if not self._depth and self._held == threading.get_ident():  # restarts after a holding pause
                    self._held = None
                    self._stolen += time.perf_counter_ns() - self._paused_at
                return value
            return time.perf_counter_ns() - self._stolen

    @contextmanager
    def paused(self, hold: bool = False) -> Iterator[None]:
        """Freeze the clock for the duration (the simulation's own cost); ``hold``: and until the
        next reading by this thread after it (module docstring)."""
        with self._lock:
            if self._depth == 0 and self._held is None:
                self._paused_at = time.perf_counter_ns()
            self._held = None
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    if hold:
                        self._held = threading.get_ident()
                    else:
                        self._stolen += time.perf_counter_ns() - self._paused_at
