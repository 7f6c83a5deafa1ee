"""Which cost-model coefficients a board uses: an explicit file, a refined file, or the prior.

Lookup order for board ``B`` (first that exists wins):

1. an explicit file (``--cost-model FILE``);
2. the refined file ``DIR/B.yaml`` written by ``sustainml refine``, where ``DIR`` is
   ``$SUSTAINML_COST_MODELS`` when set, else ``~/.config/sustainml/cost-models`` (one
   directory, so a test or a flow that sets the variable never sees the user's own files);
3. the packaged prior ``nas/cost_coefficients/B.yaml``.

Every consumer (NAS, generator, reports) says which file it used: :class:`CostSource` carries
the coefficients together with that description.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Union

from .catalogue import Board, get_board
from .costmodel import COEFF_DIR, Coefficients, CostModelError, load_coefficients

ENV_DIR = "SUSTAINML_COST_MODELS"
USER_DIR = Path("~/.config/sustainml/cost-models")


@dataclass(frozen=True)
class CostSource:
    """Coefficients of one board plus where they came from."""

    board: Board
    coeffs: Coefficients
    path: Path
    kind: str  # "explicit" | "refined" | "prior"

    def describe(self) -> str:
        return f"{self.path} ({self.kind}, source: {self.coeffs.source or 'unspecified'})"


def refined_candidates(board: str) -> List[Path]:
    """Where refined coefficients of ``board`` are looked for, in order."""
    return [refined_dir() / f"{board}.yaml"]


def refined_dir() -> Path:
    """Where ``sustainml refine`` writes and the search looks for refined coefficients."""
    env = os.environ.get(ENV_DIR)
    return Path(env) if env else USER_DIR.expanduser()


def resolve(board: Union[str, Board], explicit: Union[str, Path, None] = None) -> CostSource:
    """The coefficients to use for ``board`` (see the module docstring for the order)."""
    b = board if isinstance(board, Board) else get_board(board)
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise CostModelError(f"{p}: cost-model file not found")
        return _checked(b, p, "explicit")
    for p in refined_candidates(b.name):
        if p.is_file():
            return _checked(b, p, "refined")
    return CostSource(b, load_coefficients(b), COEFF_DIR / f"{b.name}.yaml", "prior")


def _checked(board: Board, path: Path, kind: str) -> CostSource:
    coeffs = load_coefficients(board, path)
    if coeffs.board and coeffs.board != board.name:
        raise CostModelError(f"{path}: coefficients are for board {coeffs.board!r}, not {board.name!r}")
    return CostSource(board, coeffs, path, kind)

