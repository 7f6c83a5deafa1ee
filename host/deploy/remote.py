"""One board over one SSH session: quoted commands, agent calls, uploads and downloads.

Every remote command is an argv list; each word goes through :func:`shlex.quote`, so no
user-controlled string (paths, bundle names, board fields) is ever interpreted by the shell.
Agent calls run ``python -m sustainml.board.agent`` from a runtime directory put on
PYTHONPATH; :meth:`Remote.info` passes the agent's source with ``python -c`` instead, so it
also works on a board with nothing installed.

Deadlines: every operation runs under :meth:`Remote.deadline` (seconds from the inventory's
``deadlines:``). The command's invoke timeout and the SFTP channel's timeout are set to it, and
a watchdog closes the SSH transport when it passes, so a board that stops answering (SIGSTOPped
sshd, frozen kernel, pulled cable) unblocks every read and write of its session at once; the
operation then fails with one :class:`DeadlinePassed` line and the other boards carry on.
"""
from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Union

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut

from sustainml.board import agent as agent_module
from sustainml.board.agent import Layout
from sustainml.board.sim import ENV as SIM_ENV

from .connection import lost
from .errors import DeadlinePassed, DeployError, DiskFull, RemoteCommandFailed, RemotePythonError, SmokeMismatch
from .inventory import BoardEntry

#: Agent failure kinds that have their own error class on the host.
AGENT_ERRORS = {"SmokeMismatch": SmokeMismatch, "DiskFull": DiskFull}
#: Agent commands and the deadline each runs under (others: ``command``).
AGENT_DEADLINES = {"smoke": "smoke", "infer": "infer"}
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
        self._ends: Optional[float] = None  # when the deadline in force passes (the outermost wins)
        self._outer = ("", "")  # that deadline's operation and what it is doing

    # ------------------------------------------------------------------ deadlines
    @contextlib.contextmanager
    def deadline(self, operation: str, doing: str) -> Iterator[float]:
        """Run the body under the board's ``deadlines[operation]``; yields the seconds left to it.

        Nested calls run under the outer deadline. When it passes, the SSH transport is closed
        (every blocked call returns) and :class:`DeadlinePassed` is raised."""
        if self._ends is not None:
            try:
                yield max(self._ends - time.monotonic(), 0.1)
            except CommandTimedOut:  # invoke's timeout (the time left) before the watchdog
                raise self._passed(*self._outer, self.board.deadline(self._outer[0])) from None
            return
        seconds = self.board.deadline(operation)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            transport = getattr(getattr(self.conn, "client", None), "get_transport", lambda: None)()
            if transport is not None:
                transport.close()

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        self._ends, self._outer = time.monotonic() + seconds, (operation, doing)
        timer.start()
        try:
            yield seconds
        except CommandTimedOut:
            raise self._passed(operation, doing, seconds) from None
        except (DeployError, *_LINK_ERRORS):
            if expired.is_set():
                raise self._passed(operation, doing, seconds) from None
            raise
        finally:
            timer.cancel()
            self._ends = None
        if expired.is_set():  # it passed as the body returned: the session is gone all the same
            raise self._passed(operation, doing, seconds)

    def _passed(self, operation: str, doing: str, seconds: float) -> DeadlinePassed:
        return DeadlinePassed(f"{self.board}: deadline passed: {doing} took more than {seconds:g} s "
                              f"(deadlines.{operation} in the inventory); the board stopped answering or is slow")

    # ------------------------------------------------------------------ commands
    def sh(self, argv: Sequence[Union[str, PurePosixPath]], doing: str, env: Optional[Mapping[str, str]] = None,
           operation: str = "command", check: bool = True):
        """Run ``argv`` on the board under ``deadlines[operation]``; a non-zero exit raises unless
        ``check`` is false."""
        cmd = command(argv, env)
        with self.deadline(operation, doing) as seconds:
            try:
                res = self.conn.run(cmd, hide=True, warn=True, timeout=seconds, in_stream=False)
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
              doing: str = "") -> Dict[str, Any]:
        """``python -m sustainml.board.agent --root ROOT ARGS`` with ``runtime`` (default: the active one)."""
        env = {"PYTHONPATH": str(runtime or self.layout.active_runtime())}
        if self.board.simulated:
            env[SIM_ENV] = self.board.board
        res = self.sh([self.board.python, "-m", "sustainml.board.agent", "--root", self.layout.root, *args],
                      doing or f"agent {args[0]}", env=env, operation=AGENT_DEADLINES.get(str(args[0]), "command"),
                      check=False)
        return self._json(res, doing or f"agent {args[0]}")

    def info(self) -> Dict[str, Any]:
        """The agent's ``info``, its source passed with ``-c`` (standard library only on the board)."""
        source = Path(agent_module.__file__).read_text()
        res = self.sh([self.board.python, "-c", source, "--root", self.layout.root, "info"], "reading board info",
                      check=False)
        return self._json(res, "reading board info")

    # ------------------------------------------------------------------ files
    def put(self, local: Union[str, Path], remote: PurePosixPath) -> None:
        size = Path(local).stat().st_size
        with self._transfer(f"uploading {Path(local).name}", f"uploading {local} to {remote}",
                            lambda: self._board_full(remote.parent, size)):
            self.conn.put(str(local), remote=str(remote))

    def get(self, remote: PurePosixPath, local: Union[str, Path]) -> Path:
        with self._transfer(f"downloading {remote}", f"downloading {remote}", lambda: _local_full(Path(local))):
            self.conn.get(str(remote), local=str(local))
        return Path(local)

    @contextlib.contextmanager
    def _transfer(self, doing: str, what: str, full: Callable[[], Optional[str]]) -> Iterator[None]:
        """An SFTP transfer under the ``upload`` deadline, its errors as one-line deploy errors: a
        lost link, a full disk (``full()`` says where; SFTP itself only says ``Failure``), or
        ``what`` failed."""
        with self.deadline("upload", doing) as seconds:
            try:
                if isinstance(self.conn, Connection):  # a stalled SFTP read or write gives up at the deadline
                    self.conn.sftp().get_channel().settimeout(seconds)
                yield
            except _LINK_ERRORS as exc:
                if isinstance(exc, (EOFError, paramiko.SSHException)) or not self.conn.is_connected:
                    raise lost(self.board, doing, exc) from None
                try:  # an SFTP status (OSError) on a live link: a full disk, or what it says
                    where = full()
                except Exception:  # noqa: BLE001 - the probe needs the link: it died with the transfer
                    raise lost(self.board, doing, exc) from None
                if where:
                    raise DiskFull(f"{self.board}: disk full: {doing} failed: {where}") from None
                raise RemoteCommandFailed(f"{self.board}: {what} failed: {exc}") from None

    def _board_full(self, directory: PurePosixPath, size: int) -> Optional[str]:
        """Where the board has no room for ``size`` more bytes under ``directory`` (None: it has);
        raises when the board cannot be asked (the link is gone: never reconnects to ask)."""
        if isinstance(self.conn, Connection):
            transport = self.conn.transport
            if transport is None or not transport.is_active():
                raise EOFError("session closed")
            chan = transport.open_session(timeout=10)
            try:
                chan.settimeout(10)
                chan.exec_command(command(["df", "-Pk", "--", directory]))
                out = chan.makefile("rb").read().decode(errors="replace")
            finally:
                chan.close()
            try:
                free = int(out.splitlines()[-1].split()[3]) * 1024
            except (IndexError, ValueError):  # no df on the board: no diagnosis
                return None
        else:  # a board on this machine
            free = shutil.disk_usage(str(directory)).free
        return f"{free / 2**20:.1f} MB left under {directory} on the board" if free < size else None


def _local_full(path: Path) -> Optional[str]:
    try:
        free = shutil.disk_usage(path.parent if path.parent.exists() else ".").free
    except OSError:
        return None
    return f"{free / 2**20:.1f} MB left under {path.parent} on this machine" if free < 2**20 else None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""
