"""One board over one SSH session: quoted commands, agent calls, uploads and downloads.

Every remote command is an argv list; each word goes through :func:`shlex.quote`, so no
user-controlled string (paths, bundle names, board fields) is ever interpreted by the shell.
Agent calls run ``python -m sustainml.board.agent`` from a runtime directory put on
PYTHONPATH; :meth:`Remote.info` passes the agent's source with ``python -c`` instead, so it
also works on a board with nothing installed.
"""
from __future__ import annotations

import contextlib
import json
import shlex
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Union

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut

from sustainml.board import agent as agent_module
from sustainml.board.agent import Layout
from sustainml.board.sim import ENV as SIM_ENV

from .connection import lost
from .errors import DeployError, DiskFull, RemoteCommandFailed, RemotePythonError, SmokeMismatch
from .inventory import BoardEntry

#: Agent failure kinds that have their own error class on the host.
AGENT_ERRORS = {"SmokeMismatch": SmokeMismatch, "DiskFull": DiskFull}
COMMAND_TIMEOUT = 600.0
_LINK_ERRORS = (EOFError, OSError, paramiko.SSHException)


def command(argv: Sequence[Union[str, PurePosixPath]], env: Optional[Mapping[str, str]] = None) -> str:
    """A shell command line running ``argv`` (with ``env`` set) where every word is quoted."""
    words = [shlex.quote(str(a)) for a in argv]
    if env:
        words = ["env"] + [shlex.quote(f"{k}={v}") for k, v in env.items()] + words
    return " ".join(words)


class Remote:
    """A board (inventory entry) and its open fabric Connection."""

    def __init__(self, board: BoardEntry, conn: Connection) -> None:
        self.board, self.conn = board, conn
        self.layout = Layout(board.root)

    # ------------------------------------------------------------------ commands
    def sh(self, argv: Sequence[Union[str, PurePosixPath]], doing: str, env: Optional[Mapping[str, str]] = None,
           timeout: float = COMMAND_TIMEOUT, check: bool = True):
        """Run ``argv`` on the board; a non-zero exit raises unless ``check`` is false."""
        cmd = command(argv, env)
        try:
            res = self.conn.run(cmd, hide=True, warn=True, timeout=timeout, in_stream=False)
        except CommandTimedOut:
            raise DeployError(f"{self.board}: timed out after {timeout:g} s while {doing}") from None
        except _LINK_ERRORS as exc:
            raise lost(self.board, doing, exc) from None
        if res.exited == -1 or not self.conn.is_connected:
            raise lost(self.board, doing, EOFError("session closed"))
        if res.exited == 127 and str(argv[0]) == self.board.python:
            raise RemotePythonError(f"{self.board}: remote Python {self.board.python} not found "
                                    "(set 'python:' in the inventory)")
        if check and res.exited != 0:
            raise RemoteCommandFailed(f"{self.board}: {doing} failed (exit {res.exited}): {_last_line(res.stderr)}")
        return res

    def _json(self, res: Any, doing: str) -> Dict[str, Any]:
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        try:
            doc = json.loads(lines[-1])
        except (IndexError, ValueError):
            if "No module named 'sustainml'" in res.stderr or "module specification for 'sustainml" in res.stderr:
                raise RemoteCommandFailed(f"{self.board}: {doing} failed: no runtime under {self.board.root} "
                                          "(nothing deployed yet: push an overlay first)") from None
            raise RemoteCommandFailed(f"{self.board}: {doing} failed (exit {res.exited}): "
                                      f"{_last_line(res.stderr) or 'no output'}") from None
        if not doc.get("ok"):
            cls = AGENT_ERRORS.get(doc.get("kind", ""), RemoteCommandFailed)
            raise cls(f"{self.board}: {doc.get('error', 'failed')}")
        return doc["result"]

    def agent(self, *args: Union[str, PurePosixPath], runtime: Optional[PurePosixPath] = None,
              doing: str = "", timeout: float = COMMAND_TIMEOUT) -> Dict[str, Any]:
        """``python -m sustainml.board.agent --root ROOT ARGS`` with ``runtime`` (default: the active one)."""
        env = {"PYTHONPATH": str(runtime or self.layout.active_runtime())}
        if self.board.simulated:
            env[SIM_ENV] = self.board.board
        res = self.sh([self.board.python, "-m", "sustainml.board.agent", "--root", self.layout.root, *args],
                      doing or f"agent {args[0]}", env=env, timeout=timeout, check=False)
        return self._json(res, doing or f"agent {args[0]}")

    def info(self) -> Dict[str, Any]:
        """The agent's ``info``, its source passed with ``-c`` (standard library only on the board)."""
        source = Path(agent_module.__file__).read_text()
        res = self.sh([self.board.python, "-c", source, "--root", self.layout.root, "info"], "reading board info",
                      check=False)
        return self._json(res, "reading board info")

    # ------------------------------------------------------------------ files
    def put(self, local: Union[str, Path], remote: PurePosixPath) -> None:
        with self._transfer(f"uploading {Path(local).name}", f"uploading {local} to {remote}"):
            self.conn.put(str(local), remote=str(remote))

    def get(self, remote: PurePosixPath, local: Union[str, Path]) -> Path:
        with self._transfer(f"downloading {remote}", f"downloading {remote}"):
            self.conn.get(str(remote), local=str(local))
        return Path(local)

    @contextlib.contextmanager
    def _transfer(self, doing: str, what: str) -> Iterator[None]:
        """SFTP errors as one-line deploy errors: a lost link, or ``what`` failed on a live one."""
        try:
            yield
        except _LINK_ERRORS as exc:
            if not self.conn.is_connected:
                raise lost(self.board, doing, exc) from None
            raise RemoteCommandFailed(f"{self.board}: {what} failed: {exc}") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""
