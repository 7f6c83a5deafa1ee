"""Board-side deployment agent, driven over SSH by ``sustainml-deploy``.

``python -m sustainml.board.agent --root ROOT COMMAND ...`` prints one JSON object as the last
line of stdout and exits 0, or prints ``{"ok": false, "kind": ..., "error": ...}`` and exits 2.
Commands: ``info``, ``verify``, ``smoke``, ``activate``, ``rollback``, ``infer``, ``benchmark``.

Layout under the overlay root (see :class:`Layout`)::

    runtime/<id>/            this project's wheel, pip-installed with --target (never site-packages)
    releases/<release>/      bundle/ (a verified overlay bundle), runtime -> ../../runtime/<id>, release.json
    current -> releases/<r>  the active release; switched by rename(2), so it is always whole
    previous -> releases/<r> what ``rollback`` returns to
    staging/<token>/         uploads in flight; nothing here is ever active
    results/                 outputs of infer / benchmark, fetched by ``sustainml-deploy pull``

Commands are run as ``PYTHONPATH=ROOT/current/runtime python -m sustainml.board.agent``, so
the runtime switches together with the overlay. ``info`` needs only the standard library and
also runs before any runtime is installed, fed on stdin: ``python - --root ROOT info``.

On a simulated board the host sets ``$SUSTAINML_SIM_BOARD``; the runtime then drives the
simulated pynq device (see :mod:`sustainml.board.sim`).

Runs on the board's Python 3.8+: standard library at import time; numpy, pyyaml, pynq and the
rest of ``sustainml.board`` are imported by the commands that need them.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import PurePosixPath
from typing import Any, Callable, Dict, List, Optional, Sequence

#: Releases kept besides current and previous; older ones (and runtimes they alone use) are pruned.
KEEP_RELEASES = 3
DT_COMPATIBLE = "/proc/device-tree/compatible"
DT_BOARD = "/proc/device-tree/chosen/pynq_board"


class AgentError(Exception):
    """A failure reported to the host as ``kind`` + one-line message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Layout:
    """Paths under one overlay root (POSIX paths; the host builds the same ones)."""

    def __init__(self, root: str) -> None:
        self.root = PurePosixPath(root)
        self.runtimes = self.root / "runtime"
        self.releases = self.root / "releases"
        self.staging = self.root / "staging"
        self.results = self.root / "results"
        self.current = self.root / "current"
        self.previous = self.root / "previous"

    def runtime(self, runtime_id: str) -> PurePosixPath:
        return self.runtimes / runtime_id

    def stage(self, token: str) -> PurePosixPath:
        return self.staging / token

    def active_runtime(self) -> PurePosixPath:
        """What PYTHONPATH holds for commands on the active release."""
        return self.current / "runtime"


# ---------------------------------------------------------------------------------------- info
def _dist_version(name: str) -> Optional[str]:
    try:
        from importlib import metadata
        return metadata.version(name)
    except Exception:  # noqa: BLE001 - absent or broken distribution
        return None


def _importable(name: str) -> bool:
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _free_bytes(path: str) -> int:
    p = os.path.abspath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    st = os.statvfs(p)
    return st.f_bavail * st.f_frsize


def _release_info(link: PurePosixPath) -> Optional[Dict[str, Any]]:
    text = _read(str(link / "release.json"))
    return json.loads(text) if text else None


def _ls(path: PurePosixPath) -> List[str]:
    try:
        return sorted(os.listdir(str(path)))
    except OSError:
        return []


def info(lay: Layout) -> Dict[str, Any]:
    """Python, pynq and disk facts, installed runtimes and releases (standard library only)."""
    compatible = (_read(DT_COMPATIBLE) or "").split("\0")
    family = "zynqmp" if any("zynqmp" in c for c in compatible) else \
        "zynq7000" if any("zynq-7000" in c for c in compatible) else None
    now = time.time()
    staging = []
    for name in _ls(lay.staging):
        with contextlib.suppress(OSError):
            staging.append({"name": name, "age_s": round(now - os.stat(str(lay.stage(name))).st_mtime)})
    results = []
    for name in _ls(lay.results):
        with contextlib.suppress(OSError):
            results.append({"name": name, "size": os.stat(str(lay.results / name)).st_size})
    return {
        "hostname": platform.node(), "machine": platform.machine(),
        "python": platform.python_version(), "executable": sys.executable,
        "pynq": _dist_version("pynq") if _importable("pynq") else None,
        "numpy": _dist_version("numpy") if _importable("numpy") else None,
        "pyyaml": _importable("yaml"), "pip": _importable("pip"),
        "pynq_board": os.environ.get("BOARD") or (_read(DT_BOARD) or "").strip("\0\n ") or None,
        "family": family, "root": str(lay.root), "free_bytes": _free_bytes(str(lay.root)),
        "runtimes": [r for r in _ls(lay.runtimes) if not r.startswith(".")],
        "active": _release_info(lay.current), "previous": _release_info(lay.previous),
        "staging": staging, "results": results,
    }


# ---------------------------------------------------------------------------- bundle commands
def _load(bundle_dir: str, part: Optional[str] = None):  # -> sustainml.board.bundle.Bundle
    from sustainml.board.bundle import load_bundle
    return load_bundle(bundle_dir, part=part)


def verify(bundle_dir: str, part: Optional[str]) -> Dict[str, Any]:
    """Check every file's sha256 against the manifest on the board (and the part, when given)."""
    b = _load(bundle_dir, part)
    files = b.manifest["files"]
    return {"name": b.name, "kind": b.kind, "part": b.part, "files": len(files),
            "bytes": sum(os.path.getsize(os.path.join(bundle_dir, f)) for f in files)}


def _dnnu(bundle):  # -> sustainml.board.dnnu.Dnnu (simulated when $SUSTAINML_SIM_BOARD is set)
    from sustainml.board.dnnu import Dnnu
    return Dnnu.load(bundle)


def smoke(bundle_dir: str) -> Dict[str, Any]:
    """Load the overlay, run the golden input, compare with the golden output bit for bit."""
    import numpy as np

    b = _load(bundle_dir)
    x, want = b.golden()
    t0 = time.perf_counter()
    got = np.asarray(_dnnu(b).predict(x))
    seconds = time.perf_counter() - t0
    if got.shape != want.shape:
        raise AgentError("SmokeMismatch", f"smoke test mismatch on {b.name}: output shape {list(got.shape)}, "
                                          f"golden {list(want.shape)}")
    diff = np.argwhere(got.astype(np.int64) != want.astype(np.int64))
    if len(diff):
        i = tuple(int(v) for v in diff[0])
        raise AgentError("SmokeMismatch", f"smoke test mismatch on {b.name}: {len(diff)} of {want.size} outputs "
                                          f"differ (first at {list(i)}: got {int(got[i])}, golden {int(want[i])})")
    return {"name": b.name, "samples": int(want.shape[0]), "outputs": int(want.size), "match": True,
            "seconds": round(seconds, 6)}


# --------------------------------------------------------------------------------- switching
def _point(link: PurePosixPath, target: str) -> None:
    """Make ``link`` a symlink to ``target`` in one rename(2): readers see old or new, never neither."""
    tmp = str(link.parent / f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, str(link))


def _target(link: PurePosixPath) -> Optional[str]:
    try:
        return os.readlink(str(link))
    except OSError:
        return None


def activate(lay: Layout, bundle_dir: str, runtime_id: str, origin: str) -> Dict[str, Any]:
    """Turn a verified staged bundle into a release and make it current atomically."""
    if not os.path.isdir(str(lay.runtime(runtime_id))):
        raise AgentError("RuntimeMissing", f"runtime {runtime_id} is not installed under {lay.runtimes}")
    b = _load(bundle_dir)
    digest = hashlib.sha256(open(os.path.join(bundle_dir, "manifest.yaml"), "rb").read()).hexdigest()
    release = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{b.name}-{digest[:8]}"
    os.makedirs(str(lay.releases), exist_ok=True)
    incoming = lay.releases / f".incoming-{release}"
    os.makedirs(str(incoming))
    os.rename(bundle_dir, str(incoming / "bundle"))  # same filesystem: a rename, not a copy
    os.symlink(f"../../runtime/{runtime_id}", str(incoming / "runtime"))
    meta = {"release": release, "name": b.name, "kind": b.kind, "board": b.board, "part": b.part,
            "digest": digest, "runtime": runtime_id, "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "origin": origin}
    with open(str(incoming / "release.json"), "w") as f:
        json.dump(meta, f, indent=1)
    os.rename(str(incoming), str(lay.releases / release))
    old = _target(lay.current)
    if old:
        _point(lay.previous, old)
    _point(lay.current, f"releases/{release}")
    _prune(lay)
    return {"active": meta, "previous": _release_info(lay.previous)}


def rollback(lay: Layout) -> Dict[str, Any]:
    """Swap current and previous (each switch atomic)."""
    cur, prev = _target(lay.current), _target(lay.previous)
    if not prev or not os.path.isdir(str(lay.root / prev)):
        raise AgentError("NoPrevious", f"nothing to roll back to: {lay.previous} does not exist")
    if cur:
        _point(lay.previous, cur)
    _point(lay.current, prev)
    return {"active": _release_info(lay.current), "previous": _release_info(lay.previous)}


def _prune(lay: Layout) -> None:
    keep = {os.path.basename(t) for t in (_target(lay.current), _target(lay.previous)) if t}
    done = sorted(r for r in _ls(lay.releases) if not r.startswith("."))
    keep.update(done[-KEEP_RELEASES:])
    for r in done:
        if r not in keep:
            shutil.rmtree(str(lay.releases / r), ignore_errors=True)
    used = {os.path.basename(_target(lay.releases / r / "runtime") or "") for r in keep}
    for rt in _ls(lay.runtimes):
        if not rt.startswith(".") and rt not in used:
            shutil.rmtree(str(lay.runtime(rt)), ignore_errors=True)


# ------------------------------------------------------------------------- on the active overlay
def _active_bundle(lay: Layout):
    if not _target(lay.current):
        raise AgentError("NoActiveOverlay", f"no overlay is active under {lay.root} (push one first)")
    return _load(str(lay.current / "bundle"))


def _result_path(lay: Layout, what: str, ext: str) -> str:
    os.makedirs(str(lay.results), exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return str(lay.results / f"{stamp}-{os.getpid()}-{what}.{ext}")


def infer(lay: Layout, input_path: str) -> Dict[str, Any]:
    """Run the active overlay on an .npy batch (integers as-is, floats quantized) → results/."""
    import numpy as np

    b = _active_bundle(lay)
    x = np.load(input_path, allow_pickle=False)
    spec = b.input
    if x.ndim == len(spec.shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(spec.shape):
        raise AgentError("BadInput", f"{input_path}: samples of shape {list(x.shape[1:])}, "
                                     f"overlay {b.name} takes {list(spec.shape)}")
    x = spec.quantize(x) if np.issubdtype(x.dtype, np.floating) else x.astype(spec.np_dtype)
    y = np.asarray(_dnnu(b).predict(x))
    out = _result_path(lay, "infer", "npy")
    np.save(out, y)
    return {"overlay": b.name, "output": out, "shape": list(y.shape), "dtype": str(y.dtype),
            "classes": y.reshape(len(y), -1).argmax(axis=1).tolist()}


def benchmark(lay: Layout, batch: int, repeats: int) -> Dict[str, Any]:
    """Time the active overlay (the runtime's benchmark) and keep the result in results/."""
    b = _active_bundle(lay)
    res = _dnnu(b).benchmark(batch=batch, repeats=repeats)
    doc = {"overlay": b.name, "release": _release_info(lay.current),
           "result": res if isinstance(res, dict) else getattr(res, "__dict__", str(res))}
    out = _result_path(lay, "benchmark", "json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    return {"output": out, **doc}


# ----------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sustainml.board.agent", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="overlay root on this board")
    sub = p.add_subparsers(dest="command")
    sub.required = True
    sub.add_parser("info")
    s = sub.add_parser("verify")
    s.add_argument("bundle")
    s.add_argument("--part")
    sub.add_parser("smoke").add_argument("bundle")
    s = sub.add_parser("activate")
    s.add_argument("bundle")
    s.add_argument("--runtime", required=True)
    s.add_argument("--origin", default="")
    sub.add_parser("rollback")
    sub.add_parser("infer").add_argument("input")
    s = sub.add_parser("benchmark")
    s.add_argument("--batch", type=int, default=1)
    s.add_argument("--repeats", type=int, default=100)
    return p


def _dispatch(a: argparse.Namespace) -> Dict[str, Any]:
    lay = Layout(a.root)
    commands: Dict[str, Callable[[], Dict[str, Any]]] = {
        "info": lambda: info(lay),
        "verify": lambda: verify(a.bundle, a.part),
        "smoke": lambda: smoke(a.bundle),
        "activate": lambda: activate(lay, a.bundle, a.runtime, a.origin),
        "rollback": lambda: rollback(lay),
        "infer": lambda: infer(lay, a.input),
        "benchmark": lambda: benchmark(lay, a.batch, a.repeats),
    }
    return commands[a.command]()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):  # library chatter must not corrupt the JSON line
            result = {"ok": True, **_dispatch(args)}
        code = 0
    except AgentError as exc:
        result, code = {"ok": False, "kind": exc.kind, "error": str(exc)}, 2
    except Exception as exc:  # noqa: BLE001 - every failure reaches the host as one line
        kind = type(exc).__name__
        if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC
            kind = "DiskFull"
        result, code = {"ok": False, "kind": kind, "error": str(exc) or kind}, 2
    out.write(json.dumps(result) + "\n")
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
