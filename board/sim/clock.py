"""The simulated board's clock: ``perf_counter_ns`` minus the host time spent simulating the PL.

On a board the PL runs in parallel with the CPU. Here the C-simulation runs on the CPU, so the
device pauses this clock while it executes; times measured with it (hardware time, end-to-end
time, driver overhead) are what the board would show, not what the C-simulation costs.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator


class SimClock:
    def __init__(self) -> None:
        self._stolen = 0
        self._paused_at = 0
        self._depth = 0
        self._lock = threading.Lock()

    def perf_counter_ns(self) -> int:
        with self._lock:
            if self._depth:
                return self._paused_at - self._stolen
            return time.perf_counter_ns() - self._stolen

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Freeze the clock for the duration (the simulation's own cost)."""
        with self._lock:
            if self._depth == 0:
                self._paused_at = time.perf_counter_ns()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._stolen += time.perf_counter_ns() - self._paused_at
