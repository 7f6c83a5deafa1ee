"""Simulated boards on one machine take turns measuring.

Real boards each have their own CPU, so a campaign measures them concurrently. Simulated boards
share this machine's CPUs (often two hyperthreads of one core): one board's C-simulation running
beside another's timing run slows the other's driver uniformly, which even the minimum over
calls cannot remove. A simulated board's measuring session (loading the overlay, then its units)
therefore holds one machine-wide lock (``flock`` on a file in the temporary directory; the kernel
releases it when the process dies), while the rest of the campaign (pushing, progress, storing)
still runs in parallel.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from typing import Iterator


def lock_path() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"sustainml-sim-turn-{uid}.lock")


@contextlib.contextmanager
def cpu_turn() -> Iterator[None]:
    """Hold this machine's simulated-board measurement turn for the duration."""
    with open(lock_path(), "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
