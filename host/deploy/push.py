"""``push``: put an overlay bundle on a board and make it the active one, or change nothing.

Per board, in order:

1. the bundle's hashes (once, on the host) and its part against the board's: before connecting;
2. board facts (:meth:`Remote.info`): Python >= 3.8 with pynq, numpy, pyyaml (and pip when the
   runtime must be installed), the board PYNQ reports against the inventory, free disk;
3. upload into ``staging/<token>/``; install the runtime wheel, if this version is not there
   yet, into ``runtime/.<id>.<token>`` and rename it to ``runtime/<id>``;
4. on the board: verify every sha256 against the manifest, load the overlay and run the golden
   input, compared bit for bit with the golden output;
5. activate: the staged bundle becomes ``releases/<release>/`` and ``current`` is switched by
   one rename(2).

An interruption anywhere before 5 leaves ``current`` (and the runtime it uses) untouched: new
things are only ever written under new names. The staging directory is removed on the way out
when the session is still up, and by a later push once it is an hour old otherwise.
"""
from __future__ import annotations

import contextlib
import getpass
import os
import platform
import secrets
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from sustainml.board.bundle import DIGEST, MANIFEST, Bundle, BundleError, check_part, load_bundle
from sustainml.board.errors import BoardError
from sustainml.board.identity import lookup

from .errors import DeployError, DiskFull, PartMismatch, RemotePythonError
from .fleet import Outcome, for_each, session
from .inventory import BoardEntry
from .remote import Remote
from .runtime_wheel import RuntimeWheel

STALE_STAGING_S = 3600
MIN_PYTHON = (3, 8)
#: Installed size (sources + bytecode) plus pip's temporary copy, relative to the wheel's size.
RUNTIME_SPACE_FACTOR = 12
#: Move a finished runtime install into place; one already there (a concurrent push) wins.
_RENAME = ("import os, shutil, sys\n"
           "if os.path.isdir(sys.argv[2]): shutil.rmtree(sys.argv[1])\n"
           "else: os.rename(sys.argv[1], sys.argv[2])")

Step = Callable[[BoardEntry, str], None]


def bundle_bytes(bundle: Bundle) -> int:
    return sum((bundle.path / f).stat().st_size for f in [*bundle.manifest["files"], MANIFEST, DIGEST])


def require_part(bundle: Bundle, board: BoardEntry) -> None:
    try:
        check_part(bundle, board.part)
    except BundleError as exc:
        raise PartMismatch(f"{board}: part mismatch: {exc} ({board.board} in the inventory); nothing uploaded") from None


def check_board(board: BoardEntry, info: Dict[str, Any], need_pip: bool) -> None:
    """Refuse a board whose Python lacks what the runtime needs or that is not the board declared."""
    py = tuple(int(v) for v in info["python"].split(".")[:2])
    if py < MIN_PYTHON:
        raise RemotePythonError(f"{board}: remote Python {board.python} is {info['python']}, the runtime needs >= 3.8")
    missing = [m for m, ok in (("pynq", info["pynq"]), ("numpy", info["numpy"]), ("pyyaml", info["pyyaml"]),
                               ("pip", info["pip"] or not need_pip)) if not ok]
    if missing:
        raise RemotePythonError(f"{board}: remote Python {board.python} is missing {', '.join(missing)} "
                                "(on a PYNQ image use /usr/local/share/pynq-venv/bin/python)")
    reported, part = reported_part(info)
    if part and not board.simulated and part.lower() != board.part.lower():
        raise PartMismatch(f"{board}: part mismatch: the board reports {reported} ({part}), "
                           f"the inventory declares {board.board} ({board.part}); nothing uploaded")


def reported_part(info: Dict[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    """The board name a PYNQ image reports ($BOARD / device tree) and its part (None when unknown)."""
    reported = info.get("pynq_board")
    try:
        return reported, lookup(reported).part if reported else None
    except BoardError:
        return reported, None


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


def push_one(remote: Remote, bundle: Bundle, wheel: RuntimeWheel, step: Step) -> Dict[str, Any]:
    """Steps 2-5 on an open session (step 1 is done by :func:`push`)."""
    board, lay = remote.board, remote.layout
    step(board, "checking board")
    info = remote.info()
    have_runtime = wheel.id in info["runtimes"]
    check_board(board, info, need_pip=not have_runtime)
    need = bundle_bytes(bundle) + (0 if have_runtime else RUNTIME_SPACE_FACTOR * wheel.size)
    if info["free_bytes"] - need < board.reserve_mb * 2**20:
        raise DiskFull(f"{board}: disk full: {_mb(info['free_bytes'])} free under {board.root}, the push needs "
                       f"{_mb(need)} and reserve_mb={board.reserve_mb} must stay free; nothing uploaded")
    stale = [lay.stage(s["name"]) for s in info["staging"] if s["age_s"] > STALE_STAGING_S]
    token = f"{platform.node()[:16]}-{os.getpid()}-{secrets.token_hex(4)}"
    stage = lay.stage(token)
    staged = stage / "bundle"
    dirs = sorted({str((staged / f).parent) for f in bundle.manifest["files"]} | {str(staged), str(lay.runtimes)})
    if stale:
        remote.sh(["rm", "-rf", "--", *stale], "removing stale staging directories")
    remote.sh(["mkdir", "-p", "--", *dirs], "creating the staging directory")
    try:
        runtime = lay.runtime(wheel.id)
        if not have_runtime:
            step(board, f"installing runtime {wheel.id}")
            with remote.deadline("install", f"installing runtime {wheel.id}"):
                remote.put(wheel.path, stage / wheel.path.name)
                tmp = lay.runtimes / f".{wheel.id}.{token}"
                remote.sh([board.python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-cache-dir",
                           "--disable-pip-version-check", "--quiet", "--target", tmp, stage / wheel.path.name],
                          "installing the runtime wheel")
                remote.sh([board.python, "-c", _RENAME, tmp, runtime], "switching the runtime in")
        step(board, "uploading bundle")
        with remote.deadline("upload", "uploading the bundle"):
            for f in sorted(bundle.manifest["files"]):
                remote.put(bundle.path / f, staged / f)
            remote.put(bundle.path / DIGEST, staged / DIGEST)
            remote.put(bundle.path / MANIFEST, staged / MANIFEST)  # last: marks a whole upload
        step(board, "verifying sha256 on the board")
        remote.agent("verify", staged, "--part", board.part, runtime=runtime, doing="verifying the upload")
        step(board, "smoke test")
        smoke = remote.agent("smoke", staged, runtime=runtime, doing="running the smoke test")
        step(board, "activating")
        origin = f"{getpass.getuser()}@{platform.node()}"
        act = remote.agent("activate", staged, "--runtime", wheel.id, "--origin", origin, runtime=runtime,
                           doing="activating the overlay")
    finally:
        if remote.conn.is_connected:
            with contextlib.suppress(DeployError):  # never hide the error that got us here
                remote.sh(["rm", "-rf", "--", stage], "removing the staging directory", check=False)
    step(board, "done")
    return {"release": act["active"], "previous": act["previous"], "smoke": smoke, "runtime": wheel.id,
            "installed_runtime": not have_runtime}


def push(bundle_dir: Path, boards: Sequence[BoardEntry], wheel: RuntimeWheel, known_hosts: Path,
         accept_new_host_key: bool = False, step: Optional[Step] = None,
         done: Optional[Callable[[Outcome], None]] = None) -> List[Outcome]:
    """Push ``bundle_dir`` to every board concurrently; one :class:`Outcome` per board, each also
    given to ``done`` as soon as that board finishes.

    The bundle (manifest digest, names, hashes) is verified once before anything else (a bad
    bundle raises); the part check and everything after it are per board.
    """
    bundle = load_bundle(bundle_dir)
    report = step or (lambda b, s: None)

    def one(board: BoardEntry) -> Dict[str, Any]:
        require_part(bundle, board)
        report(board, "connecting")
        with session(board, known_hosts, accept_new_host_key) as remote:
            return push_one(remote, bundle, wheel, report)

    return for_each(boards, one, done)
