"""Run one operation on several boards at once, each over its own SSH session.

fabric's ThreadingGroup runs the *same* command on every host and raises one GroupException
at the end; a push is a per-board pipeline (its own paths, Python and part checks, several
round trips), so each board gets its own fabric Connection on a thread of a pool instead, and
its own :class:`Outcome`: one failing board never stops or hides the others.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence

from sustainml.errors import SustainmlError

from .connection import connect
from .inventory import BoardEntry
from .local import LOCAL_HOST, LocalConnection
from .remote import Remote

MAX_PARALLEL = 16


@dataclass
class Outcome:
    """What an operation returned on one board, or the one-line error that stopped it."""

    board: BoardEntry
    value: Any = None
    error: Optional[str] = None
    kind: Optional[str] = None  # the error's class name
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _run(board: BoardEntry, fn: Callable[[BoardEntry], Any]) -> Outcome:
    t0 = time.perf_counter()
    try:
        return Outcome(board, value=fn(board), seconds=time.perf_counter() - t0)
    except SustainmlError as exc:
        return Outcome(board, error=str(exc), kind=type(exc).__name__, seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - an unexpected failure must not take the other boards down
        return Outcome(board, error=f"{board}: unexpected {type(exc).__name__}: {exc}", kind=type(exc).__name__,
                       seconds=time.perf_counter() - t0)


@contextmanager
def session(board: BoardEntry, known_hosts: Path, accept_new_host_key: bool = False) -> Iterator[Remote]:
    """An open :class:`Remote` on ``board``, closed on exit."""
    conn = LocalConnection() if board.host == LOCAL_HOST else connect(board, known_hosts, accept_new_host_key)
    try:
        yield Remote(board, conn)
    finally:
        conn.close()


def for_each(boards: Sequence[BoardEntry], fn: Callable[[BoardEntry], Any],
             done: Optional[Callable[[Outcome], None]] = None) -> List[Outcome]:
    """``fn(board)`` on every board concurrently; outcomes in the order of ``boards``, each also
    passed to ``done`` (one call at a time) the moment its board finishes."""
    lock = threading.Lock()

    def one(board: BoardEntry) -> Outcome:
        out = _run(board, fn)
        if done is not None:
            with lock:
                done(out)
        return out

    if not boards:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(boards))) as pool:
        return list(pool.map(one, boards))
