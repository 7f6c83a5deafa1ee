"""Fault-recovery check of a loaded overlay: a call that never finishes, then a call that must work.

``python -m sustainml.board.recovery (--bundle DIR | --root ROOT) [--timeout S]`` prints one
JSON line (``{"ok": true, "result": {...}}`` or ``{"ok": false, "kind": ..., "error": ...}``):

1. the golden input runs and matches the golden output (the overlay works before the fault);
2. a call is made that cannot finish within ``--timeout``: on the simulated board the core is
   told to hang (``SimDnnu.hang``, what a real hung accelerator looks like on the bus); on a
   real board the batch register is set far beyond what the timeout allows, over scratch
   buffers sized for that batch (the DMA never leaves memory of ours);
3. the runtime must raise :class:`~sustainml.board.errors.DnnuTimeoutError` with a clear
   message after resetting the DNNU (:meth:`~sustainml.board.dnnu.Dnnu.reset`);
4. the golden input runs again and must match bit for bit.

The result says which fault was injected, the error text, the reset time and the mismatches
after recovery. Board-side module: standard library, numpy, pyyaml and pynq only (Python 3.8+).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np

from .errors import BoardError, DnnuTimeoutError

#: The provoked call is sized to take this many timeouts (real board), in at most MAX_SCRATCH_BYTES of
#: CMA memory (PYNQ images reserve 128 MiB on Zynq-7000).
OVERRUN = 4
MAX_SCRATCH_BYTES = 64 * 2**20


def _golden_mismatches(dnnu: Any) -> int:
    res = dnnu.smoke_test()
    return int(res["mismatches"])


def fault_name(dnnu: Any) -> str:
    return "sim-hang" if dnnu.simulated else "oversized-batch"


def _hang_call(dnnu: Any) -> None:
    """Make one call that cannot finish within ``dnnu.timeout_s`` (see :func:`fault_name`)."""
    import pynq

    if dnnu.simulated:
        dnnu.device.dnnu.hang = True
        dnnu.run_raw(dnnu.input_buffer[:1], dnnu.output_buffer[:1])
        return
    # Real board: a batch far beyond the timeout, over scratch buffers that hold all of it.
    dnnu.run_raw(dnnu.input_buffer[:1], dnnu.output_buffer[:1])
    per_sample_s = max(dnnu.last_timing.hw_ns or 0, 1) * 1e-9
    n = int(math.ceil(OVERRUN * dnnu.timeout_s / per_sample_s))
    sample_bytes = (int(np.prod(dnnu.input_spec.shape)) * dnnu.input_spec.np_dtype.itemsize
                    + int(np.prod(dnnu.output_spec.shape)) * dnnu.output_spec.np_dtype.itemsize)
    if n * sample_bytes > MAX_SCRATCH_BYTES:
        raise BoardError(f"cannot provoke a hang safely: {n} samples ({n * sample_bytes / 2**20:.0f} MiB) are needed "
                         f"to outlast the {dnnu.timeout_s:g} s timeout; pass a shorter --timeout")
    inp = pynq.allocate((n,) + dnnu.input_spec.shape, dnnu.input_spec.np_dtype, target=dnnu.device)
    out = pynq.allocate((n,) + dnnu.output_spec.shape, dnnu.output_spec.np_dtype, target=dnnu.device)
    try:
        inp[:] = 0
        dnnu.run_raw(inp, out)
    finally:
        inp.freebuffer()
        out.freebuffer()


def check(bundle_dir: str, timeout_s: float) -> Dict[str, Any]:
    """Steps 1-4 of the module docstring on ``bundle_dir``."""
    from .dnnu import Dnnu

    dnnu = Dnnu.load(bundle_dir, timeout_s=timeout_s)
    try:
        before = _golden_mismatches(dnnu)
        if before:
            raise BoardError(f"{dnnu.bundle.name}: {before} golden outputs differ before any fault; "
                             "not a recovery test")
        t0 = time.perf_counter()
        error: Optional[str] = None
        try:
            _hang_call(dnnu)
        except DnnuTimeoutError as exc:
            error = str(exc)
        waited = time.perf_counter() - t0
        if error is None:
            raise BoardError(f"{dnnu.bundle.name}: the provoked call finished within {timeout_s:g} s; no timeout")
        after = _golden_mismatches(dnnu)
        return {"bundle": dnnu.bundle.name, "simulated": dnnu.simulated, "fault": fault_name(dnnu),
                "timeout_s": timeout_s, "timed_out": True, "error": error, "seconds_to_error": round(waited, 4),
                "reset": "reset" in error and "failed" not in error,
                "golden_samples": int(len(dnnu.bundle.golden()[0])), "mismatches_after": after,
                "recovered": after == 0}
    finally:
        dnnu.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="sustainml.board.recovery", description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--bundle", help="overlay bundle directory")
    where.add_argument("--root", help="overlay root: check its active release")
    ap.add_argument("--timeout", type=float, default=0.5, help="seconds before a call counts as hung (default 0.5)")
    args = ap.parse_args(argv)
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # library chatter must not corrupt the JSON line
        try:
            if args.timeout <= 0:
                raise BoardError(f"--timeout {args.timeout:g} must be > 0")
            bundle_dir = args.bundle or os.path.join(args.root, "current", "bundle")
            if args.root and not os.path.isdir(bundle_dir):
                raise BoardError(f"no overlay is active under {args.root} (push one first)")
            doc: Dict[str, Any] = {"ok": True, "result": check(bundle_dir, args.timeout)}
            code = 0
        except (BoardError, OSError, ValueError) as exc:
            doc, code = {"ok": False, "kind": type(exc).__name__, "error": str(exc)}, 2
    out.write(json.dumps(doc) + "\n")
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
