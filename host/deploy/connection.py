"""SSH connections to inventory boards (fabric), with strict host-key checking.

Host keys are checked against one known_hosts file: a changed key is refused, an unknown key
is refused unless the caller accepts new keys (``--accept-new-host-key``), in which case it is
appended to that file. Only the inventory's key file or the SSH agent are offered; the user's
``~/.ssh/config`` is not read, so the inventory is the whole story. Every paramiko / socket
failure is translated into a one-line :class:`DeployError` naming the board; paramiko's own
log (tracebacks of its transport thread) is not printed. An open session sends a keepalive
every ``keepalive`` seconds of silence; the per-operation deadlines are in :mod:`.remote`.
"""
from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import NoReturn

import paramiko
from fabric import Config, Connection

from .errors import AuthFailed, ConnectionLost, DeployError, HostKeyChanged, UnknownHostKey, Unreachable
from .inventory import BoardEntry

_KNOWN_HOSTS_LOCK = threading.Lock()
# paramiko logs its transport thread's tracebacks; without a handler Python prints them on stderr.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown host keys, or record them in ``known_hosts`` when ``accept_new``."""

    def __init__(self, board: BoardEntry, known_hosts: Path, accept_new: bool) -> None:
        self.board, self.known_hosts, self.accept_new = board, known_hosts, accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.accept_new:
            raise UnknownHostKey(
                f"{self.board}: host key {key.get_name()} {key.fingerprint} is not in {self.known_hosts}; "
                "check that fingerprint on the board, then rerun with --accept-new-host-key")
        # Append one line: rewriting the file would drop what paramiko does not parse (@cert-authority).
        with _KNOWN_HOSTS_LOCK:  # several boards may be first contacted concurrently
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            with open(self.known_hosts, "a") as f:
                f.write(paramiko.hostkeys.HostKeyEntry([hostname], key).to_line())
        client.get_host_keys().add(hostname, key.get_name(), key)


def connect(board: BoardEntry, known_hosts: Path, accept_new_host_key: bool = False) -> Connection:
    """An open fabric Connection to ``board``; raises a one-line :class:`DeployError` on failure."""
    timeout = board.connect_timeout
    conn = Connection(
        board.host, user=board.user, port=board.port, connect_timeout=timeout,
        config=Config(overrides={"load_ssh_configs": False}),
        connect_kwargs={"key_filename": [board.key] if board.key else [], "allow_agent": board.agent,
                        "look_for_keys": False, "banner_timeout": timeout, "auth_timeout": timeout,
                        "channel_timeout": timeout})
    if known_hosts.is_file():
        try:
            conn.client.load_host_keys(str(known_hosts))
        except paramiko.hostkeys.InvalidHostKey as exc:
            raise DeployError(f"{known_hosts}: unreadable line {exc.line.strip()[:60]!r} (paramiko does not support "
                              "@cert-authority / @revoked markers); give sustainml its own file with "
                              "--known-hosts or 'known_hosts:' in the inventory") from None
    conn.client.set_missing_host_key_policy(KnownHostsPolicy(board, known_hosts, accept_new_host_key))
    try:
        conn.open()
    except DeployError:
        conn.close()
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line naming the board
        conn.close()
        raise_connect_error(board, known_hosts, exc)
    if board.keepalive:
        conn.transport.set_keepalive(max(1, round(board.keepalive)))
    return conn


def raise_connect_error(board: BoardEntry, known_hosts: Path, exc: BaseException) -> NoReturn:
    t = board.connect_timeout
    if isinstance(exc, paramiko.BadHostKeyException):
        host = board.host if board.port == 22 else f"[{board.host}]:{board.port}"
        raise HostKeyChanged(
            f"{board}: host key changed: got {exc.key.get_name()} {exc.key.fingerprint}, {known_hosts} expects "
            f"{exc.expected_key.fingerprint}; if the board was re-imaged, remove the old key with "
            f"`ssh-keygen -R '{host}' -f {known_hosts}`, otherwise do not connect") from None
    if isinstance(exc, paramiko.AuthenticationException):
        how = f"key {board.key}" if board.key else "the SSH agent's keys"
        raise AuthFailed(f"{board}: authentication failed as {board.user!r} with {how}") from None
    if isinstance(exc, (socket.timeout, TimeoutError)):
        raise Unreachable(f"{board}: host unreachable: no answer within {t:g} s") from None
    if isinstance(exc, socket.gaierror):
        raise Unreachable(f"{board}: host unreachable: cannot resolve {board.host!r}") from None
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        why = sorted({(e.strerror or str(e)).lower() for e in exc.errors.values()})
        raise Unreachable(f"{board}: host unreachable: {', '.join(why)} (port {board.port})") from None
    closed = isinstance(exc.__context__, (EOFError, ConnectionResetError))
    if isinstance(exc, paramiko.SSHException) and closed and "banner" in str(exc):
        raise Unreachable(f"{board}: no SSH greeting: port {board.port} closed the connection without sending "
                          "an SSH banner (is it an SSH server?)") from None
    # No banner: the banner timeout, or the handshake deadline passing first ("No existing session").
    if isinstance(exc, paramiko.SSHException) and ("banner" in str(exc) or "No existing session" in str(exc)):
        raise Unreachable(f"{board}: host unreachable: no SSH handshake within {t:g} s "
                          f"(is port {board.port} an SSH server?)") from None
    if isinstance(exc, OSError):
        raise Unreachable(f"{board}: host unreachable: {exc.strerror or exc}") from None
    if isinstance(exc, (EOFError, paramiko.SSHException)):
        raise Unreachable(f"{board}: SSH handshake failed: {str(exc) or type(exc).__name__}") from None
    raise exc


def lost(board: BoardEntry, doing: str, exc: BaseException) -> ConnectionLost:
    """The error for a session that dropped while ``doing`` something."""
    return ConnectionLost(f"{board}: connection lost while {doing} ({str(exc) or type(exc).__name__})")
