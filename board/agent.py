"""Board-side deployment agent, driven over SSH by ``sustainml-deploy``.

``python -m sustainml.board.agent --root ROOT COMMAND ...`` prints one JSON line last on stdout:
``{"ok": true, "result": {...}}`` (exit 0) or ``{"ok": false, "kind": ..., "error": ...}`` (exit 2).
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
also runs before any runtime is installed, its source passed with ``python -c``.

On a simulated board the host sets ``$SUSTAINML_SIM_BOARD``; the runtime then drives the
simulated pynq device (see :mod:`sustainml.board.sim`).

Runs on the board's Python 3.8+: standard library at import time; numpy, pyyaml, pynq and the
rest of ``sustainml.board`` are imported by the commands that need them.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import sys
import time
from pathlib import PurePosixPath
from typing import Any, Callable, Dict, List, Optional, Sequence

#: Releases kept besides current and previous; older ones (and runtimes they alone use) are pruned.
KEEP_RELEASES = 3
#: Age after which a temporary left by an interrupted push is removed.
STALE_S = 3600
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


def _manifest_digest(bundle_dir: str) -> str:
    from sustainml.board.bundle import manifest_digest
    return manifest_digest(bundle_dir)


def _safe(value: str, what: str) -> str:
    """A name checked by :func:`sustainml.board.names.check_name` (as an agent error)."""
    from sustainml.board.names import UnsafeName, check_name
    try:
        return check_name(value, what)
    except UnsafeName as exc:
        raise AgentError("UnsafeName", str(exc)) from None


def _under(lay: Layout, path: str, area: PurePosixPath, what: str) -> str:
    """``path`` resolved (symlinks followed), refused unless it lies under ``area`` of this root."""
    full, base = os.path.realpath(path), os.path.realpath(str(area))
    if full == base or os.path.commonpath([base, full]) != base:
        raise AgentError("UnsafePath", f"{what} {path!r} is not under {area}")
    return full


def verify(lay: Layout, bundle_dir: str, part: Optional[str]) -> Dict[str, Any]:
    """Check the manifest's digest, every file's sha256 and name against it on the board (and the
    part, when given)."""
    bundle_dir = _under(lay, bundle_dir, lay.staging, "bundle")
    b = _load(bundle_dir, part)
    files = b.manifest["files"]
    return {"name": b.name, "kind": b.kind, "part": b.part, "files": len(files),
            "bytes": sum(os.path.getsize(os.path.join(bundle_dir, f)) for f in files)}


def _dnnu(bundle_dir: str):  # -> sustainml.board.dnnu.Dnnu (simulated when $SUSTAINML_SIM_BOARD is set)
    from sustainml.board.dnnu import Dnnu
    return Dnnu.load(bundle_dir)


def _float_path(dnnu: Any) -> Optional[int]:
    """Mismatches of the float golden input, quantized with the manifest's ``io.input`` by the
    runtime, against the golden outputs (None: the bundle has no float golden input)."""
    x = dnnu.bundle.golden_float()
    if x is None:
        return None
    _, gout = dnnu.bundle.golden()
    # the float golden input is in the model's input domain (after preprocessing); a freshly loaded
    # Dnnu: FP8 biases are the manifest's
    got = dnnu.predict(x, preprocessed=True).logits.reshape(gout.shape)
    return int((got != gout).sum())


def smoke(lay: Layout, bundle_dir: str) -> Dict[str, Any]:
    """Load the overlay and run its golden input, then its float golden input through the
    manifest's quantizer: every output must match the golden output bit for bit."""
    bundle_dir = _under(lay, bundle_dir, lay.root, "bundle")
    t0 = time.perf_counter()
    dnnu = _dnnu(bundle_dir)
    try:
        res = dnnu.smoke_test()
        float_mism = _float_path(dnnu) if res["ok"] else None
    finally:
        dnnu.close()
    name = dnnu.bundle.name
    outputs = res["samples"] * math.prod(dnnu.output_spec.shape)
    if not res["ok"]:
        raise AgentError("SmokeMismatch", f"smoke test mismatch on {name}: {res['mismatches']} of {outputs} outputs "
                                          f"differ from the golden outputs ({res['samples']} samples)")
    if float_mism:
        raise AgentError("SmokeMismatch", f"smoke test mismatch on {name} (float path): {float_mism} of {outputs} "
                                          "outputs differ from the golden outputs when the float golden input is "
                                          "quantized with the manifest's io.input")
    return {**res, "name": name, "outputs": outputs, "float_path": float_mism is not None,
            "seconds": round(time.perf_counter() - t0, 3)}


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
    _safe(runtime_id, "runtime id")
    if not os.path.isdir(str(lay.runtime(runtime_id))):
        raise AgentError("RuntimeMissing", f"runtime {runtime_id} is not installed under {lay.runtimes}")
    bundle_dir = _under(lay, bundle_dir, lay.staging, "bundle")
    b = _load(bundle_dir)  # checks the manifest digest, every file's sha256 and every name again
    digest = _manifest_digest(bundle_dir)
    release = _safe(f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{b.name}-{digest[:8]}",
                    "release")
    os.makedirs(str(lay.releases), exist_ok=True)
    incoming = lay.releases / f".incoming-{release}"
    os.makedirs(str(incoming))
    try:
        os.rename(bundle_dir, str(incoming / "bundle"))  # same filesystem: a rename, not a copy
        os.symlink(f"../../runtime/{runtime_id}", str(incoming / "runtime"))
        meta = {"release": release, "name": b.name, "kind": b.kind, "board": b.board, "part": b.part,
                "digest": digest, "runtime": runtime_id, "io": b.manifest["io"],
                "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "origin": origin}
        with open(str(incoming / "release.json"), "w") as f:
            json.dump(meta, f, indent=1)
        os.rename(str(incoming), str(lay.releases / release))
    except BaseException:
        shutil.rmtree(str(incoming), ignore_errors=True)  # nothing half-made stays behind
        raise
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
    """Drop releases beyond the newest few (never current or previous), runtimes no kept release
    uses, and temporaries an interrupted push left behind (hidden names); runtimes and
    temporaries only once they are an hour old."""
    for d in (lay.releases, lay.runtimes):
        for tmp in _ls(d):
            if tmp.startswith(".") and _age(d / tmp) > STALE_S:
                shutil.rmtree(str(d / tmp), ignore_errors=True)
    keep = {os.path.basename(t) for t in (_target(lay.current), _target(lay.previous)) if t}
    done = sorted(r for r in _ls(lay.releases) if not r.startswith("."))
    keep.update(done[-KEEP_RELEASES:])
    for r in done:
        if r not in keep:
            shutil.rmtree(str(lay.releases / r), ignore_errors=True)
    used = {os.path.basename(_target(lay.releases / r / "runtime") or "") for r in keep}
    for rt in _ls(lay.runtimes):  # a fresh unused runtime may belong to a push still in progress
        if not rt.startswith(".") and rt not in used and _age(lay.runtime(rt)) > STALE_S:
            shutil.rmtree(str(lay.runtime(rt)), ignore_errors=True)


def _age(path: PurePosixPath) -> float:
    try:
        return time.time() - os.lstat(str(path)).st_mtime
    except OSError:
        return 0.0


# ------------------------------------------------------------------------- on the active overlay
def _active(lay: Layout) -> PurePosixPath:
    if not _target(lay.current):
        raise AgentError("NoActiveOverlay", f"no overlay is active under {lay.root} (push one first)")
    return lay.current


def _result_path(lay: Layout, what: str, ext: str) -> str:
    os.makedirs(str(lay.results), exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return str(lay.results / f"{stamp}-{os.getpid()}-{what}.{ext}")


def infer(lay: Layout, input_path: str) -> Dict[str, Any]:
    """Run the active overlay on an .npy batch (N, L, C) or (N, L): floats are raw samples (the
    bundle's recorded preprocessing, then quantization), integers used as they are. The logits are saved in results/ in the output container dtype."""
    import numpy as np

    input_path = _under(lay, input_path, lay.staging, "input")
    dnnu = _dnnu(str(_active(lay) / "bundle"))
    try:
        res = dnnu.predict(np.load(input_path, allow_pickle=False))
    finally:
        dnnu.close()
    y = res.logits.astype(dnnu.output_spec.np_dtype)  # values fit: they came out of that container
    out = _result_path(lay, "infer", "npy")
    np.save(out, y)
    return {"overlay": dnnu.bundle.name, "simulated": dnnu.simulated, "output": out, "shape": list(y.shape),
            "dtype": str(y.dtype), "classes": res.classes.tolist(),
            "hw_us": [None if t.hw_ns is None else t.hw_ns / 1e3 for t in res.timings]}


def benchmark(lay: Layout, n: int, batch: int) -> Dict[str, Any]:
    """The runtime's benchmark of the active overlay; also kept in results/."""
    dnnu = _dnnu(str(_active(lay) / "bundle"))
    try:
        doc = {"release": _release_info(lay.current), **dnnu.benchmark(n=n, batch=batch).to_dict()}
    finally:
        dnnu.close()
    out = _result_path(lay, "benchmark", "json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
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
    s.add_argument("--n", type=int, default=1000, help="calls")
    s.add_argument("--batch", type=int, default=1, help="samples per call")
    return p


def _check_root(root: str) -> str:
    """The overlay root: the inventory's rule (:func:`sustainml.board.names.check_abspath`)."""
    try:
        from sustainml.board.names import UnsafeName, check_abspath
    except ImportError:  # ``info`` sent with ``python -c`` before any runtime exists: the host checked it
        return root
    try:
        return check_abspath(root, "--root")
    except UnsafeName as exc:
        raise AgentError("UnsafePath", str(exc)) from None


def _dispatch(a: argparse.Namespace) -> Dict[str, Any]:
    lay = Layout(_check_root(a.root))
    commands: Dict[str, Callable[[], Dict[str, Any]]] = {
        "info": lambda: info(lay),
        "verify": lambda: verify(lay, a.bundle, a.part),
        "smoke": lambda: smoke(lay, a.bundle),
        "activate": lambda: activate(lay, a.bundle, a.runtime, a.origin),
        "rollback": lambda: rollback(lay),
        "infer": lambda: infer(lay, a.input),
        "benchmark": lambda: benchmark(lay, a.n, a.batch),
    }
    return commands[a.command]()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):  # library chatter must not corrupt the JSON line
            result = {"ok": True, "result": _dispatch(args)}
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
