"""PS DDR as the simulated PL sees it, behind a write-back CPU cache.

Each ``pynq.allocate`` buffer gets two byte arrays: what the CPU sees (the numpy array the
caller writes) and what is in DRAM (what the DNNU's AXI master reads and writes). ``flush``
copies CPU → DRAM and ``invalidate`` DRAM → CPU, so a driver that forgets either one reads stale
data here exactly as it would on a board. Coherent buffers (``cacheable=False``) share one array.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Tuple

import numpy as np

from ..errors import BoardError

PAGE = 4096


class BusError(BoardError):
    """The DNNU addressed memory outside any allocated buffer (an AXI DECERR on a board)."""


class SimMemory:
    """Contiguous buffer allocator over a simulated physical address window."""

    def __init__(self, device: Any, base: int = 0x1000_0000, size: int = 0x1000_0000) -> None:
        self.device = device
        self.base, self.size = base, size
        self._next = base
        self._bos: Dict[int, Tuple[int, np.ndarray, np.ndarray]] = {}  # bo -> (phys, cpu, dram)
        self._lock = threading.Lock()

    def allocate(self, shape: Any, dtype: Any = "u4", cacheable: bool = True, **_: Any):
        from pynq.buffer import PynqBuffer

        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        span = max(PAGE, -(-nbytes // PAGE) * PAGE)
        with self._lock:
            if self._next + span > self.base + self.size:
                raise BoardError(f"simulated DDR exhausted allocating {nbytes} bytes")
            phys, self._next = self._next, self._next + span
            bo = len(self._bos) + 1
            cpu = np.zeros(span, np.uint8)
            dram = cpu if not cacheable else np.zeros(span, np.uint8)
            self._bos[bo] = (phys, cpu, dram)
        return PynqBuffer(shape, dt, buffer=cpu, device=self.device, device_address=phys, bo=bo,
                          coherent=not cacheable)

    def flush(self, bo: int, offset: int, nbytes: int) -> None:
        _, cpu, dram = self._bos[bo]
        dram[offset:offset + nbytes] = cpu[offset:offset + nbytes]

    def invalidate(self, bo: int, offset: int, nbytes: int) -> None:
        _, cpu, dram = self._bos[bo]
        cpu[offset:offset + nbytes] = dram[offset:offset + nbytes]

    def dram(self, phys: int, nbytes: int) -> np.ndarray:
        """The DRAM bytes at ``[phys, phys + nbytes)`` as the PL's master sees them (a view)."""
        for start, _, dram in self._bos.values():
            if start <= phys and phys + nbytes <= start + dram.size:
                return dram[phys - start:phys - start + nbytes]
        raise BusError(f"DNNU access to {nbytes} bytes at {phys:#x} is outside any allocated buffer")
