"""The search journal: every expensively evaluated candidate in SQLite (``RUN_DIR/journal.sqlite``).

A candidate is written ``pending`` (in the same transaction as the generation counter and the
RNG state that produced it) before it is trained, and ``done`` (with its metrics) when its
training finished and its model files are on disk. A killed search therefore loses only the
trainings in flight: ``--resume`` re-submits the ``pending`` ones and continues from the stored
generation and RNG state; nothing ``done`` is trained again.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set

from sustainml.errors import SustainmlError

from .space import Genotype

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,          -- genotype identity
    generation INTEGER NOT NULL,
    parent INTEGER,                    -- candidate id of the parent (NULL: sampled)
    origin TEXT NOT NULL,              -- how it was made (random, seed, mutation description)
    genotype TEXT NOT NULL,            -- JSON
    cheap TEXT NOT NULL,               -- JSON: cost-model metrics
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    metrics TEXT,                      -- JSON: training metrics (done)
    error TEXT,
    submitted REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS screening (
    generation INTEGER PRIMARY KEY,
    mutants INTEGER, invalid INTEGER, infeasible INTEGER, duplicates INTEGER, selected INTEGER,
    cheap_ms REAL                      -- mean time of one cheap evaluation (cost model)
);
"""


class JournalError(SustainmlError, RuntimeError):
    """The run directory's journal is missing, foreign or inconsistent."""


@dataclass
class Record:
    """One journaled candidate."""

    id: int
    key: str
    generation: int
    parent: Optional[int]
    origin: str
    genotype: Genotype
    cheap: Dict[str, float]
    status: str
    metrics: Dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def name(self) -> str:
        return f"c{self.id:04d}"

    @property
    def values(self) -> Dict[str, float]:
        """Every metric the search can optimise (accuracy = integer-model validation accuracy)."""
        out = dict(self.cheap)
        if "val_acc_int" in self.metrics:
            out["accuracy"] = float(self.metrics["val_acc_int"])
        return out


class Journal:
    """SQLite journal of one run directory."""

    FILE = "journal.sqlite"

    def __init__(self, run_dir: Path, create: bool):
        path = Path(run_dir) / self.FILE
        if not create and not path.exists():
            raise JournalError(f"{path}: no journal to resume (start without --resume)")
        if create and path.exists():
            raise JournalError(f"{path}: a search already ran here; pass --resume to continue it or choose another --out")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ meta
    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set(self, **values: Any) -> None:
        with self.db:
            self._set(values)

    def _set(self, values: Mapping[str, Any]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            [(k, json.dumps(v)) for k, v in values.items()])

    # ------------------------------------------------------------------ candidates
    def next_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM candidates").fetchone()[0])

    def add_pending(self, records: Iterable[Record], **meta: Any) -> None:
        """Insert candidates as pending and update meta in one transaction."""
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT INTO candidates(id, key, generation, parent, origin, genotype, cheap, status, submitted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [(r.id, r.key, r.generation, r.parent, r.origin, json.dumps(r.genotype.to_dict()), json.dumps(r.cheap),
                  now) for r in records])
            self._set(meta)

    def finish(self, cid: int, metrics: Mapping[str, Any]) -> None:
        with self.db:
            cur = self.db.execute("UPDATE candidates SET status = 'done', metrics = ?, finished = ? "
                                  "WHERE id = ? AND status = 'pending'", (json.dumps(metrics), time.time(), cid))
            if cur.rowcount != 1:
                raise JournalError(f"{self.path}: candidate {cid} is not pending")

    def fail(self, cid: int, error: str) -> None:
        with self.db:
            self.db.execute("UPDATE candidates SET status = 'failed', error = ?, finished = ? WHERE id = ?",
                            (error, time.time(), cid))

    def screening(self, generation: int, **stats: float) -> None:
        cols = ("mutants", "invalid", "infeasible", "duplicates", "selected", "cheap_ms")
        with self.db:
            self.db.execute(f"INSERT OR REPLACE INTO screening(generation, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
                            (generation,) + tuple(stats.get(c) for c in cols))

    def screening_rows(self) -> List[Dict[str, float]]:
        cur = self.db.execute("SELECT * FROM screening ORDER BY generation")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def records(self, status: Optional[str] = None) -> List[Record]:
        q = "SELECT id, key, generation, parent, origin, genotype, cheap, status, metrics, error FROM candidates"
        rows = self.db.execute(q + (" WHERE status = ?" if status else "") + " ORDER BY id",
                               (status,) if status else ()).fetchall()
        return [Record(r[0], r[1], r[2], r[3], r[4], Genotype.from_dict(json.loads(r[5])), json.loads(r[6]), r[7],
                       json.loads(r[8]) if r[8] else {}, r[9]) for r in rows]

    def keys(self) -> Set[str]:
        return {r[0] for r in self.db.execute("SELECT key FROM candidates")}

    def count(self, status: Optional[str] = None) -> int:
        if status is None:
            return int(self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM candidates WHERE status = ?", (status,)).fetchone()[0])
