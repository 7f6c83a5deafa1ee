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


SMALL_TOPOLOGY = {
    "name": "deploy_small", "input": {"length": 32, "channels": 1, "bits": 8}, "classes": 3,
    "layers": [{"type": "Conv1D", "filters": 4, "kernel": 3, "padding": 1}, {"type": "ReLU"},
               {"type": "GlobalAvgPool1D"}, {"type": "Dense", "units": 3, "act_bits": 16}]}


def build_small_sim_bundle(out: Path) -> Path:
    """generate + build --sim of a small random-weight model: a real sim bundle in ~3 s."""
    from random_models import random_model
    from sustainml.host.build import build
    from sustainml.host.generate import generate
    from sustainml.nas.topology import Topology

    model_dir = random_model(Topology.from_dict(SMALL_TOPOLOGY), seed=3).save(out / "model")
    generate(model_dir, out / "build", "pynq-z2", calibration=np.random.default_rng(0).normal(size=(32, 32, 1)))
    return build(out / "build", out / "overlays", sim=True, echo=lambda _: None)


def build_small_rtlsim_bundle(out: Path) -> Path:
    """The same small model as an rtlsim bundle (Verilated RTL): a circuit, so hardware time and
    power are measured on the simulated board (a C-simulation bundle has neither)."""
    from random_models import random_model
    from sustainml.host.build import build
    from sustainml.host.generate import generate
    from sustainml.nas.topology import Topology

    model_dir = random_model(Topology.from_dict(SMALL_TOPOLOGY), seed=3).save(out / "model")
    generate(model_dir, out / "build", "pynq-z2", calibration=np.random.default_rng(0).normal(size=(32, 32, 1)),
             backend="rtl")
    return build(out / "build", out / "overlays", rtlsim=True, echo=lambda _: None)


def derive_bundle(src: Path, dst: Path, extra=None, golden_delta: int = 0) -> Path:
    """A copy of bundle ``src`` with ``extra`` files added and/or one golden output changed."""
    import shutil

    import yaml

    from sustainml.board.bundle import MANIFEST, write_manifest

    shutil.copytree(src, dst)
    for name, data in (extra or {}).items():
        (dst / name).write_bytes(data)
    doc = yaml.safe_load((dst / MANIFEST).read_text())
    if golden_delta:
        path = dst / doc["golden"]["output"]
        y = np.load(path)
        y.flat[0] += golden_delta
        np.save(path, y)
    doc.pop("files")
    write_manifest(dst, doc)
    return dst


def forge_manifest(bundle: Path, edit) -> Path:
    """Rewrite ``bundle``'s manifest with ``edit(doc)`` applied and a matching manifest.sha256, the
    way a hostile author would (no validation): what is left to refuse it is the loader's checks."""
    import hashlib

    import yaml

    doc = yaml.safe_load((bundle / "manifest.yaml").read_text())
    edit(doc)
    text = yaml.safe_dump(doc, sort_keys=False).encode()
    (bundle / "manifest.yaml").write_bytes(text)
    (bundle / "manifest.sha256").write_text(f"{hashlib.sha256(text).hexdigest()}  manifest.yaml\n")
    return bundle
