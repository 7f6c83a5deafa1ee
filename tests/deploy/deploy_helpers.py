"""Helpers shared by the deployment tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def assemble_bundle(out: Path, board: str = "pynq-z2", pad_bytes: int = 0, name: str = "tiny") -> Path:
    """A structurally valid sim bundle of small stand-in files (for transport tests: it never loads)."""
    from sustainml.board.bundle import write_manifest
    from sustainml.nas.catalogue import get_board

    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(out / "golden_input.npy", rng.integers(-128, 128, size=(4, 16, 1), dtype=np.int8))
    np.save(out / "golden_output.npy", rng.integers(-1000, 1000, size=(4, 5), dtype=np.int16))
    (out / f"{name}.hwh").write_text("<stand-in/>\n")
    (out / "libdnnu.so").write_bytes(b"stand-in, not a library\n")
    if pad_bytes:
        with open(out / "pad.bin", "wb") as f:
            f.write(rng.bytes(pad_bytes))
    write_manifest(out, {
        "name": name, "kind": "sim", "board": board, "part": get_board(board).part, "clock_mhz": 100,
        "ip": {"name": "dnnu_0"},
        "io": {"input": {"shape": [16, 1], "dtype": "int8", "bits": 8, "signed": True, "frac": 4},
               "output": {"shape": [5], "dtype": "int16", "bits": 16, "signed": True, "frac": 0}},
        "golden": {"input": "golden_input.npy", "output": "golden_output.npy"},
        "sim": {"library": "libdnnu.so", "symbol": "dnnu_csim"}})
    return out
