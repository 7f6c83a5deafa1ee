"""The board inventory (``boards.yaml``): how to reach each board and what it is.

Path: ``--inventory PATH``, else ``$SUSTAINML_BOARDS``, else ``./boards.yaml``. Format::

    known_hosts: ~/.ssh/known_hosts        # optional; host keys are checked against this file
    boards:
      pynq1:
        host: 192.168.2.99
        port: 22                           # default 22
        user: xilinx
        key: ~/.ssh/id_ed25519             # a private key file (relative to this file), or
        agent: true                        # keys from the SSH agent (default when no key is given)
        board: pynq-z2                     # catalogue name; gives the expected FPGA part
        python: /usr/local/share/pynq-venv/bin/python   # default: the PYNQ image's venv
        root: /home/xilinx/sustainml       # overlay root: runtimes, releases, results live here
        rails: false                       # readable power rails (default: from the catalogue)
        simulated: false                   # true: the runtime uses the simulated pynq device
        connect_timeout: 10                # seconds (TCP connect, SSH banner, authentication)
        keepalive: 15                      # seconds between SSH keepalives (0: none)
        deadlines:                         # seconds per operation on this board (defaults below)
          command: 60                      # each short command: info, mkdir, verify, activate, rollback
          upload: 600                      # uploading a bundle (or an inference batch)
          install: 600                     # uploading and installing the runtime wheel
          smoke: 300                       # the smoke test
          infer: 300                       # one inference batch on the board
        reserve_mb: 64                     # free space that must remain after a push

Passwords are refused: use a key file or the agent. Board names, hosts, users, the root and
the Python path are checked against :mod:`sustainml.board.names` here, before any connection.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union


from sustainml.board.names import check_abspath, check_host, check_name, check_user
from sustainml.nas.catalogue import UnknownBoardError, get_board
from sustainml.yamlio import read_yaml

from .errors import InventoryError

ENV_VAR = "SUSTAINML_BOARDS"
DEFAULT_FILE = "boards.yaml"
PYNQ_PYTHON = "/usr/local/share/pynq-venv/bin/python"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
SECRET_KEYS = ("password", "passphrase", "pass", "secret")
FIELDS = ("host", "port", "user", "key", "agent", "board", "part", "python", "root", "rails", "simulated",
          "connect_timeout", "keepalive", "deadlines", "reserve_mb")
#: Default deadline (seconds) of each operation on a board; ``deadlines:`` in an entry overrides them.
DEADLINES = {"command": 60.0, "upload": 600.0, "install": 600.0, "smoke": 300.0, "infer": 300.0}


@dataclass(frozen=True)
class BoardEntry:
    """One inventory entry, validated, with the catalogue's part resolved."""

    name: str
    host: str
    user: str
    board: str
    part: str
    root: str
    port: int = 22
    key: Optional[str] = None
    agent: bool = True
    python: str = PYNQ_PYTHON
    rails: bool = False
    simulated: bool = False
    connect_timeout: float = 10.0
    reserve_mb: int = 64
    keepalive: float = 15.0
    deadlines: Tuple[Tuple[str, float], ...] = tuple(DEADLINES.items())

    def deadline(self, operation: str) -> float:
        """Seconds ``operation`` (a key of :data:`DEADLINES`) may take on this board."""
        return dict(self.deadlines)[operation]

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"


@dataclass(frozen=True)
class Inventory:
    path: Path
    boards: Dict[str, BoardEntry]
    known_hosts: Path

    def select(self, names: Sequence[str] = (), all_boards: bool = False) -> List[BoardEntry]:
        """The entries named (in the order given), or every entry with ``all_boards``."""
        if all_boards:
            return list(self.boards.values())
        if not names:
            raise InventoryError("name a board with --board NAME (repeatable) or use --all")
        unknown = [n for n in names if n not in self.boards]
        if unknown:
            raise InventoryError(f"{self.path}: no board named {unknown[0]!r} "
                                 f"(known: {', '.join(self.boards) or 'none'})")
        return [self.boards[n] for n in dict.fromkeys(names)]


def inventory_path(explicit: Union[str, Path, None] = None) -> Path:
    return Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_FILE).expanduser()


def load_inventory(path: Union[str, Path, None] = None, known_hosts: Union[str, Path, None] = None) -> Inventory:
    """Read and validate the inventory; ``known_hosts`` overrides the file's setting."""
    p = inventory_path(path)
    doc = read_yaml(p, InventoryError, f"board inventory not found (pass --inventory PATH or set ${ENV_VAR})")
    if not isinstance(doc, dict) or not isinstance(doc.get("boards"), dict):
        raise InventoryError(f"{p}: expected a mapping with a 'boards:' mapping of name to entry")
    extra = sorted(set(doc) - {"boards", "known_hosts"})
    if extra:
        raise InventoryError(f"{p}: unknown top-level key {extra[0]!r} (known: boards, known_hosts)")
    if known_hosts:  # given on the command line: relative to the working directory
        kh = Path(known_hosts).expanduser().resolve()
    else:  # from the file: relative to the file
        kh = _resolve(os.path.expandvars(str(doc.get("known_hosts") or DEFAULT_KNOWN_HOSTS)), p.parent)
    for name in doc["boards"]:
        check_name(name, f"{p}: board name", InventoryError)
    boards = {str(name): _entry(str(name), e, p) for name, e in doc["boards"].items()}
    return Inventory(p, boards, kh)


def _resolve(path: Union[str, Path], base: Path) -> Path:
    q = Path(os.path.expanduser(str(path)))
    return q if q.is_absolute() else (base / q).resolve()


def _entry(name: str, e: Any, path: Path) -> BoardEntry:
    where = f"{path}: board {name!r}"
    if not isinstance(e, dict):
        raise InventoryError(f"{where}: expected a mapping of {', '.join(FIELDS)}")
    secret = [k for k in e if str(k).lower() in SECRET_KEYS]
    if secret:
        raise InventoryError(f"{where}: {secret[0]!r} is not allowed: no passwords in the inventory, "
                             "use 'key: FILE' or 'agent: true'")
    unknown = sorted(str(k) for k in set(e) - set(FIELDS))
    if unknown:
        raise InventoryError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    for req in ("host", "user", "board", "root"):
        if not e.get(req):
            raise InventoryError(f"{where}: missing field {req!r}")
    try:
        cat = get_board(str(e["board"]))
    except UnknownBoardError as exc:
        raise InventoryError(f"{where}: {exc}") from None
    if e.get("part") and str(e["part"]).lower() != cat.part.lower():
        raise InventoryError(f"{where}: part {e['part']} contradicts board {cat.name} ({cat.part})")
    if not str(e["root"]).startswith("/"):
        raise InventoryError(f"{where}: root must be an absolute path on the board, got {e['root']!r}")
    check_abspath(e["root"], f"{where}: root", InventoryError)
    check_host(e["host"], f"{where}: host", InventoryError)
    check_user(e["user"], f"{where}: user", InventoryError)
    python = e.get("python") or PYNQ_PYTHON
    if isinstance(python, str) and "/" not in python:  # a command on the board's PATH (python3)
        check_name(python, f"{where}: python", InventoryError)
    else:
        check_abspath(python, f"{where}: python", InventoryError)
    try:
        port = int(e.get("port", 22))
        timeout = float(e.get("connect_timeout", 10))
        keepalive = float(e.get("keepalive", 15))
        reserve = int(e.get("reserve_mb", 64))
    except (TypeError, ValueError) as exc:
        raise InventoryError(f"{where}: port, connect_timeout, keepalive and reserve_mb must be numbers "
                             f"({exc})") from None
    if not 0 < port < 65536 or timeout <= 0 or reserve < 0 or keepalive < 0:
        raise InventoryError(f"{where}: port must be 1..65535, connect_timeout > 0, keepalive >= 0, reserve_mb >= 0")
    deadlines = _deadlines(e.get("deadlines"), where)
    key = _resolve(e["key"], path.parent).as_posix() if e.get("key") else None
    if key and not Path(key).is_file():
        raise InventoryError(f"{where}: key file {key} not found")
    return BoardEntry(name=name, host=str(e["host"]), user=str(e["user"]), board=cat.name, part=cat.part,
                      root=str(e["root"]).rstrip("/") or "/", port=port, key=key,
                      agent=bool(e.get("agent", key is None)), python=python,
                      rails=bool(e.get("rails", cat.has_rails)), simulated=bool(e.get("simulated", False)),
                      connect_timeout=timeout, reserve_mb=reserve, keepalive=keepalive, deadlines=deadlines)


def _deadlines(d: Any, where: str) -> Tuple[Tuple[str, float], ...]:
    """:data:`DEADLINES` with the entry's ``deadlines:`` mapping applied (positive seconds)."""
    if d is None:
        return tuple(DEADLINES.items())
    if not isinstance(d, dict):
        raise InventoryError(f"{where}: deadlines must map {', '.join(DEADLINES)} to seconds")
    unknown = sorted(str(k) for k in set(d) - set(DEADLINES))
    if unknown:
        raise InventoryError(f"{where}: unknown deadline {unknown[0]!r} (known: {', '.join(DEADLINES)})")
    out = dict(DEADLINES)
    for k, v in d.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            out[k] = -1.0
        if not 0 < out[k] < 1e6:
            raise InventoryError(f"{where}: deadlines.{k}={v!r} must be a positive number of seconds")
    return tuple(out.items())
