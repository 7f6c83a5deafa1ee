"""The measurements database: one SQLite file (stdlib ``sqlite3``), one row per measurement unit.

A *unit* is one benchmark of one overlay on one board at one batch size, repetition ``r``; its
key ``(board, bundle_hash, batch, repetition)`` is UNIQUE, so a resumed campaign can ask what
is missing and never stores a unit twice. Each row is written in its own transaction: a
campaign killed at any instant leaves whole rows only. Every row carries its provenance: the
bundle's hash (sha256 of its manifest, which lists the sha256 of every file), board name,
catalogue board and part, PYNQ version, the PL clock measured on the board, batch, calls,
time (UTC) and the project version that measured it. ``designs`` keeps each bundle's manifest
(stages with their unrolling, I/O, clock), so a refit never needs the bundle directories.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple, Union

from ..errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS designs (
    bundle_hash TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    board       TEXT NOT NULL,         -- catalogue board the bundle was built for
    part        TEXT NOT NULL,
    clock_mhz   REAL NOT NULL,
    kind        TEXT NOT NULL,         -- sim | rtlsim | bitstream (rtlsim: the RTL backend in Verilator)
    manifest    TEXT NOT NULL,         -- JSON
    path        TEXT                   -- where it was when first measured
);
CREATE TABLE IF NOT EXISTS measurements (
    id              INTEGER PRIMARY KEY,
    board           TEXT NOT NULL,     -- campaign board: inventory name or sim:<catalogue board>
    bundle_hash     TEXT NOT NULL REFERENCES designs(bundle_hash),
    batch           INTEGER NOT NULL,
    repetition      INTEGER NOT NULL,
    campaign        TEXT,
    overlay         TEXT NOT NULL,
    catalogue_board TEXT,
    part            TEXT NOT NULL,
    simulated       INTEGER NOT NULL,
    pynq_version    TEXT,
    python_version  TEXT,
    hostname        TEXT,
    clock_mhz       REAL NOT NULL,
    calls           INTEGER NOT NULL,
    warmup          INTEGER NOT NULL,
    latency_us      TEXT NOT NULL,     -- JSON {min, mean, p50, p95, p99, max}: end-to-end per call
    hw_us           TEXT NOT NULL,     -- JSON, ap_start -> ap_done per call; null: no hardware time
    overhead_us     TEXT NOT NULL,     -- JSON, end-to-end minus hardware per call
    throughput_sps  REAL NOT NULL,
    power_source    TEXT,              -- rails | meter | NULL (none readable)
    idle_w          REAL,
    busy_w          REAL,
    energy_j        REAL,              -- dynamic energy per inference (busy - idle) * T / n
    power           TEXT,              -- JSON: the whole power report (per rail)
    power_interval_s REAL,
    measured_at     TEXT NOT NULL,     -- UTC ISO 8601
    project_version TEXT NOT NULL,
    UNIQUE (board, bundle_hash, batch, repetition)
);
CREATE INDEX IF NOT EXISTS measurements_board ON measurements(board);
"""

Key = Tuple[str, int, int]  # (bundle_hash, batch, repetition) within one board


class DatabaseError(UserError):
    """The file is not a measurements database (or is unreadable)."""


@dataclass
class Design:
    """A measured bundle, as recorded in ``designs``."""

    bundle_hash: str
    name: str
    board: str
    part: str
    clock_mhz: float
    kind: str
    manifest: Dict[str, Any]
    path: Optional[str] = None

    @property
    def stages(self) -> List[Dict[str, Any]]:
        return list(((self.manifest.get("model") or {}).get("quantization") or {}).get("stages") or [])


@dataclass
class Measurement:
    """One row of ``measurements``."""

    board: str
    bundle_hash: str
    batch: int
    repetition: int
    overlay: str
    part: str
    simulated: bool
    clock_mhz: float
    calls: int
    warmup: int
    latency_us: Dict[str, float]
    hw_us: Optional[Dict[str, float]]  # None: no hardware time (C-simulation bundle)
    overhead_us: Optional[Dict[str, float]]
    throughput_sps: float
    measured_at: str
    project_version: str
    campaign: Optional[str] = None
    catalogue_board: Optional[str] = None
    pynq_version: Optional[str] = None
    python_version: Optional[str] = None
    hostname: Optional[str] = None
    power_source: Optional[str] = None
    idle_w: Optional[float] = None
    busy_w: Optional[float] = None
    energy_j: Optional[float] = None
    power: Optional[Dict[str, Any]] = None
    power_interval_s: Optional[float] = None
    id: Optional[int] = field(default=None, compare=False)

    @property
    def key(self) -> Key:
        return (self.bundle_hash, self.batch, self.repetition)


_JSON = ("latency_us", "hw_us", "overhead_us", "power")
_TIMING = ("hw_us", "overhead_us")  # JSON null: no hardware time (C-simulation bundle, no circuit)
_COLUMNS = [f for f in Measurement.__dataclass_fields__ if f != "id"]


class MeasurementDB:
    """Thread-safe access to one database file (WAL mode; one writer at a time)."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path}: not a measurements database ({exc})") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "MeasurementDB":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def add_design(self, design: Design) -> None:
        with self._lock:
            self.conn.execute(
                "INSERT OR IGNORE INTO designs (bundle_hash, name, board, part, clock_mhz, kind, manifest, path) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (design.bundle_hash, design.name, design.board, design.part, float(design.clock_mhz), design.kind,
                 json.dumps(design.manifest, sort_keys=True, default=str), design.path))

    def insert(self, m: Measurement) -> bool:
        """Store one unit in one transaction; False when its key is already there."""
        # hw_us / overhead_us of an untimed call (C-simulation bundle) are stored as JSON null
        values = [json.dumps(getattr(m, c)) if c in _JSON and (getattr(m, c) is not None or c in _TIMING) else
                  getattr(m, c) for c in _COLUMNS]
        values[_COLUMNS.index("simulated")] = int(m.simulated)
        sql = f"INSERT OR IGNORE INTO measurements ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self.conn.execute(sql, values)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return cur.rowcount == 1

    # ------------------------------------------------------------------ reading
    def done_keys(self, board: str) -> Set[Key]:
        with self._lock:
            rows = self.conn.execute("SELECT bundle_hash, batch, repetition FROM measurements WHERE board = ?",
                                     (board,)).fetchall()
        return {(h, int(b), int(r)) for h, b, r in rows}

    def boards(self) -> List[str]:
        with self._lock:
            return [r[0] for r in self.conn.execute("SELECT DISTINCT board FROM measurements ORDER BY board")]

    def measurements(self, board: Optional[str] = None) -> List[Measurement]:
        sql = f"SELECT id, {', '.join(_COLUMNS)} FROM measurements"
        args: Tuple[Any, ...] = ()
        if board is not None:
            sql += " WHERE board = ?"
            args = (board,)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY id", args).fetchall()
        return [_measurement(r) for r in rows]

    def designs(self) -> Dict[str, Design]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT bundle_hash, name, board, part, clock_mhz, kind, manifest, path FROM designs").fetchall()
        return {r[0]: Design(r[0], r[1], r[2], r[3], float(r[4]), r[5], json.loads(r[6]), r[7]) for r in rows}

    def count(self, board: Optional[str] = None) -> int:
        with self._lock:
            if board is None:
                return int(self.conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])
            return int(self.conn.execute("SELECT COUNT(*) FROM measurements WHERE board = ?", (board,)).fetchone()[0])


def _measurement(row: Tuple[Any, ...]) -> Measurement:
    vals: Dict[str, Any] = dict(zip(["id"] + _COLUMNS, row))
    for c in _JSON:
        if vals[c] is not None:
            vals[c] = json.loads(vals[c])
    vals["simulated"] = bool(vals["simulated"])
    return Measurement(**vals)


def open_existing(path: Union[str, Path]) -> MeasurementDB:
    """Open a database that must already exist (refine, report)."""
    p = Path(path)
    if not p.is_file():
        raise DatabaseError(f"{p}: measurements database not found (run `sustainml-deploy measure` first)")
    db = MeasurementDB(p)
    try:
        db.count()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise DatabaseError(f"{p}: not a measurements database ({exc})") from None
    return db


def rows_by_design(rows: List[Measurement]) -> Dict[str, List[Measurement]]:
    out: Dict[str, List[Measurement]] = {}
    for m in rows:
        out.setdefault(m.bundle_hash, []).append(m)
    return out

