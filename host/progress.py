"""Rich progress and tables shared by the CLI commands."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)


def make_progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False)


@contextmanager
def training_progress(title: str) -> Iterator:
    """A callback for ``sustainml.nas.train.train(progress=...)`` rendering one bar per phase."""
    with make_progress() as prog:
        tasks: Dict[str, int] = {}

        def update(phase: str, epoch: int, epochs: int, stats: Dict[str, float]) -> None:
            if phase not in tasks:
                tasks[phase] = prog.add_task(f"{title} {phase}", total=epochs, info="")
            info = " ".join(f"{k}={v:.4f}" for k, v in stats.items())
            prog.update(tasks[phase], completed=epoch, info=info)

        yield update


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], out: Optional[Console] = None) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(str(c))
    for r in rows:
        t.add_row(*[str(v) for v in r])
    (out or Console()).print(t)
    return t


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-markdown table (for benchmark scripts whose output goes into the README)."""
    lines: List[str] = ["| " + " | ".join(map(str, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)
