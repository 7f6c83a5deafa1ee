"""Per-board actions on an open :class:`Remote` (push has its own module): infer, pull, rollback."""
from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from sustainml.board.names import UnsafeName, check_name

from .errors import DeployError, RemoteCommandFailed
from .inputs import check_against
from .remote import Remote


def infer(remote: Remote, input_npy: Path, out_npy: Path, x: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Run the active overlay on ``input_npy``; the outputs land in ``out_npy`` (and stay in results/).

    ``x``: the batch as :func:`~.inputs.load_batch` checked it; then it is also checked against
    the active overlay's input spec before anything is uploaded."""
    if x is not None:
        active = remote.info().get("active") or {}
        check_against(input_npy, x, active.get("io") or {}, str(active.get("name")))
    stage = remote.layout.stage(f"infer-{secrets.token_hex(4)}")
    remote.sh(["mkdir", "-p", "--", stage], "creating the staging directory")
    try:
        remote.put(input_npy, stage / "input.npy")
        res = remote.agent("infer", stage / "input.npy", doing="running inference")
    finally:
        if remote.conn.is_connected:
            with contextlib.suppress(DeployError):  # never hide the error that got us here
                remote.sh(["rm", "-rf", "--", stage], "removing the staging directory", check=False)
    out_npy.parent.mkdir(parents=True, exist_ok=True)
    remote.get(res["output"], out_npy)
    return {**res, "local": str(out_npy), "outputs": np.load(out_npy)}


def pull(remote: Remote, dest: Path) -> Dict[str, Any]:
    """Fetch the board's results/ files that ``dest/<board>/`` does not hold yet (same size)."""
    into = dest / remote.board.name
    into.mkdir(parents=True, exist_ok=True)
    got: List[str] = []
    entries = remote.info()["results"]
    for e in entries:
        try:  # the names come from the board: a compromised one must not write outside DEST/BOARD
            local = into / check_name(e["name"], "results file")
        except UnsafeName as exc:
            raise RemoteCommandFailed(f"{remote.board}: the board lists an unsafe results file: {exc}") from None
        if not (local.is_file() and local.stat().st_size == e["size"]):
            remote.get(remote.layout.results / e["name"], local)
            got.append(e["name"])
    return {"dest": str(into), "fetched": got, "on_board": len(entries)}


def rollback(remote: Remote) -> Dict[str, Any]:
    """Make the previous release active again, then smoke-test it."""
    res = remote.agent("rollback", doing="rolling back")
    smoke = remote.agent("smoke", remote.layout.current / "bundle", doing="smoke-testing the restored overlay")
    return {**res, "smoke": smoke}
