"""Test helpers: sim overlay bundles for the board runtime tests.

``protocol_bundle`` wraps a small C *protocol test kernel* (not a DNNU: each output is
``sum(sample) + k`` in int32, computed in C from the bytes the simulated DMA delivers), enough
to test addressing, batching, cache maintenance and the ap_ctrl_hs handshake. Tests of the
inference results use the real C-simulation of a model (``reference_sim_bundle`` in
conftest.py), never this kernel.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from sustainml.board.bundle import DEFAULT_REGISTERS, write_manifest
from sustainml.board.sim.hwh import write_hwh

PROTOCOL_KERNEL = r"""
#include <stdint.h>
int dnnu_csim(const void* in, void* out, int batch) {
    const int8_t* x = (const int8_t*)in;
    int32_t* y = (int32_t*)out;
    for (int b = 0; b < batch; ++b) {
        int32_t s = 0;
        for (int i = 0; i < LEN; ++i) s += x[b * LEN + i];
        for (int k = 0; k < CLASSES; ++k) y[b * CLASSES + k] = s + k;
    }
    return 0;
}
"""

#: A plausible pipeline for the cycle model (the protocol kernel computes something else).
PROTOCOL_STAGES = [
    {"kind": "conv1d", "layer": 0, "in_len": 140, "in_ch": 1, "in_bits": 8, "out_len": 140, "out_ch": 8,
     "out_bits": 8, "kernel": 5, "pe": 1, "simd": 1, "kp": 1, "w_bits": 8},
    {"kind": "maxpool1d", "layer": 1, "in_len": 140, "in_ch": 8, "in_bits": 8, "out_len": 70, "out_ch": 8,
     "out_bits": 8, "kernel": 2, "pe": 1},
    {"kind": "dense", "layer": 2, "in_len": 70, "in_ch": 8, "in_bits": 8, "out_len": 1, "out_ch": 5,
     "out_bits": 16, "pe": 1, "simd": 4, "w_bits": 8},
]


def compile_kernel(source: str, out: Path, defines: Mapping[str, int]) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    cmd = ["cc", "-O2", "-shared", "-fPIC", "-o", str(out), str(src)] + [f"-D{k}={v}" for k, v in defines.items()]
    subprocess.run(cmd, check=True, capture_output=True)
    src.unlink()
    return out


def write_sim_bundle(dst: Path, lib: Path, name: str, board: str, part: str, io: Dict[str, Any],
                     stages: List[Dict[str, Any]], golden: Optional[tuple] = None, clock_mhz: float = 100.0,
                     extra: Optional[Dict[str, Any]] = None) -> Path:
    """A kind: sim bundle as docs/CONTRACTS.md describes it (NAME.so, NAME.hwh, manifest)."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(lib, dst / f"{name}.so")
    ip = {"name": "dnnu_0", "vlnv": "sustainml.org:hls:dnnu:1.0"}
    write_hwh(dst / f"{name}.hwh", name, part, clock_mhz, ip["name"], ip["vlnv"], DEFAULT_REGISTERS)
    manifest: Dict[str, Any] = {"name": name, "kind": "sim", "board": board, "part": part, "clock_mhz": clock_mhz,
                                "ip": ip, "registers": dict(DEFAULT_REGISTERS), "io": io,
                                "model": {"quantization": {"stages": stages}},
                                "sim": {"library": f"{name}.so", "symbol": "dnnu_csim"}}
    if golden is not None:
        np.save(dst / "golden_input.npy", golden[0])
        np.save(dst / "golden_output.npy", golden[1])
        manifest["golden"] = {"input": "golden_input.npy", "output": "golden_output.npy"}
    manifest.update(extra or {})
    write_manifest(dst, manifest)
    return dst


def protocol_bundle(dst: Path, board: str = "pynq-z2", part: str = "xc7z020clg400-1", length: int = 140,
                    classes: int = 5) -> Path:
    lib = compile_kernel(PROTOCOL_KERNEL, dst.parent / f"{dst.name}_kernel.so", {"LEN": length, "CLASSES": classes})
    io = {"input": {"shape": [length, 1], "dtype": "int8", "bits": 8, "signed": True, "frac": 5},
          "output": {"shape": [classes], "dtype": "int32", "bits": 32, "signed": True, "frac": 0}}
    rng = np.random.default_rng(1)
    gin = rng.integers(-128, 128, size=(4, length, 1)).astype(np.int8)
    gout = protocol_reference(gin, classes)
    return write_sim_bundle(dst, lib, "proto", board, part, io, PROTOCOL_STAGES, (gin, gout))


def protocol_reference(x: np.ndarray, classes: int) -> np.ndarray:
    """What the protocol kernel computes (for checking the data path, not a model)."""
    s = x.reshape(len(x), -1).astype(np.int64).sum(axis=1)
    return (s[:, None] + np.arange(classes)[None, :]).astype(np.int32)


def model_sim_bundle(dst: Path, model: Any, golden_x: np.ndarray, board: str = "pynq-z2",
                     part: str = "xc7z020clg400-1") -> Path:
    """A sim bundle of a QuantizedModel: its HLS C-simulation library (host/hlsgen/csim.py) and
    golden vectors from nas/golden.py (what ``sustainml build --sim`` produces)."""
    from sustainml.host.hlsgen.csim import compile_dnnu
    from sustainml.host.hlsgen.dnnu_io import DnnuIO
    from sustainml.nas import golden

    lib = compile_dnnu(model).path
    io = DnnuIO.of_model(model)
    spec = {"input": {"shape": [io.length, io.channels], "dtype": str(io.in_dtype), "bits": io.in_bits,
                      "signed": True, "frac": model.input_frac},
            "output": {"shape": [io.classes], "dtype": str(io.out_dtype), "bits": io.out_bits, "signed": True,
                       "frac": model.output_frac}}
    gin = model.quantize_input(golden_x).astype(io.in_dtype)
    gout = golden.run(model, gin).astype(io.out_dtype)
    return write_sim_bundle(dst, lib, model.topology.name, board, part, spec, [s.to_dict() for s in model.stages],
                            (gin, gout))
