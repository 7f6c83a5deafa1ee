"""The board runtime: a wheel of this project, built on the host and installed on each board.

The wheel is built with ``pip wheel --no-deps --no-build-isolation`` from a scratch copy of the
project source (the working tree stays clean) and cached by a hash of that source. On the
board it is installed with ``pip install --no-deps --target <root>/runtime/<id>``, never into
the board's site-packages, so the board's pynq and numpy are left as they are.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

from sustainml import REPO_ROOT

from .errors import DeployError

#: What goes into the wheel: the build recipe and the package folders it maps.
SOURCES = ("pyproject.toml", "README.md", "sustainml", "host", "nas", "board")
_SKIP = ("__pycache__", "*.pyc", "*.so", "*.egg-info")


@dataclass(frozen=True)
class RuntimeWheel:
    path: Path
    #: ``<version>-<12 hex of the content hash>``: the runtime's directory name on the board.
    id: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "RuntimeWheel":
        return cls(Path(path), wheel_id(path))


def wheel_id(path: Union[str, Path]) -> str:
    """Version plus a hash of the wheel's member names and bytes (zip timestamps ignored)."""
    p = Path(path)
    parts = p.name.split("-")
    if not p.name.endswith(".whl") or len(parts) < 5 or parts[0] != "sustainml":
        raise DeployError(f"{p}: not a sustainml wheel (expected sustainml-VERSION-...-.whl)")
    h = hashlib.sha256()
    try:
        with zipfile.ZipFile(p) as z:
            for name in sorted(z.namelist()):
                h.update(name.encode() + b"\0" + z.read(name) + b"\0")
    except (OSError, zipfile.BadZipFile) as exc:
        raise DeployError(f"{p}: unreadable wheel ({exc})") from None
    return f"{parts[1]}-{h.hexdigest()[:12]}"


def _source_files(root: Path) -> Iterator[Path]:
    for top in SOURCES:
        p = root / top
        if p.is_file():
            yield p
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(f.match(s) or s in f.parts for s in _SKIP):
                    yield f


def source_hash(root: Path = REPO_ROOT) -> str:
    h = hashlib.sha256()
    for f in _source_files(root):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sustainml" / "runtime-wheels"


def build_runtime_wheel(cache_dir: Optional[Path] = None, source: Path = REPO_ROOT) -> RuntimeWheel:
    """The runtime wheel of the project at ``source``, built once per source state."""
    if not (source / "pyproject.toml").is_file():
        raise DeployError(f"{source}: no project source to build the board runtime from; "
                          "pass --runtime-wheel PATH")
    out = (cache_dir or default_cache()) / source_hash(source)
    found = sorted(out.glob("sustainml-*.whl"))
    if not found:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sustainml-wheel-") as tmp:
            src = Path(tmp) / "src"
            for f in _source_files(source):
                dst = src / f.relative_to(source)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dst)
            cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                   "--quiet", "--disable-pip-version-check", "-w", tmp, str(src)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            built = sorted(Path(tmp).glob("sustainml-*.whl"))
            if proc.returncode != 0 or not built:
                last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel produced"]
                raise DeployError(f"building the board runtime wheel from {source} failed: {last[0]}")
            part = out / (built[0].name + ".part")  # concurrent builders never see half a wheel
            shutil.move(str(built[0]), str(part))
            os.replace(part, out / built[0].name)
        found = sorted(out.glob("sustainml-*.whl"))
    return RuntimeWheel.from_file(found[0])
