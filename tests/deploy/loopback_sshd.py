"""A real OpenSSH server on 127.0.0.1 for deployment tests (Debian's openssh-server).

Each instance has its own config, a temporary ed25519 host key, a free port, internal-sftp
(fabric's ``put`` uses SFTP), ``UsePAM no``, ``StrictModes no`` and key-only login (root allowed
with ``prohibit-password``). Only the processes it started are ever signalled: its ``sshd -D``
and that daemon's per-connection descendants.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


def find_sshd() -> Optional[str]:
    return shutil.which("sshd") or next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


def _children(pid: int) -> List[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


class LoopbackSshd:
    """``sshd -D`` on a free loopback port, accepting the keys in ``authorized_keys``."""

    def __init__(self, workdir: Path, authorized_keys: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.authorized_keys = authorized_keys
        self.host_key = keygen(self.dir / "ssh_host_ed25519_key")
        self.port = free_port()
        self.user = getpass.getuser()
        self.proc: Optional[subprocess.Popen] = None

    @property
    def host_key_line(self) -> str:
        """This server's known_hosts line."""
        kind, blob = (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def start(self, timeout: float = 10.0) -> "LoopbackSshd":
        sshd = find_sshd()
        assert sshd, "openssh-server is not installed (scripts/setup installs it)"
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation directory
        cfg = self.dir / "sshd_config"
        cfg.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}", f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
            "Subsystem sftp internal-sftp", "MaxStartups 50", "LogLevel ERROR", ""]))
        self.log = open(self.dir / "sshd.log", "wb")
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd on port {self.port} did not come up within {timeout} s")

    def sessions(self) -> List[int]:
        """PIDs of this daemon's per-connection processes (all descendants)."""
        if not self.proc:
            return []
        out, todo = [], _children(self.proc.pid)
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(_children(pid))
        return out

    def kill_sessions(self) -> int:
        """SIGKILL every open SSH session of this daemon (the connection drops); returns how many."""
        pids = self.sessions()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill_sessions()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None


def signal_all(pids: List[int], sig: int) -> None:
    """Send ``sig`` to each of ``pids`` (processes this module's servers started), ignoring gone ones."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
