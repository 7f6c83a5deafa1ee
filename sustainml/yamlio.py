"""YAML files as every stage reads and writes them: one-line errors, numpy-safe values.

Standard library, numpy and pyyaml only (the board runtime uses it too).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Type, Union

import numpy as np
import yaml


def read_yaml(path: Union[str, Path], error: Type[Exception], missing: str = "file not found") -> Any:
    """Parse ``path``; a missing file or invalid YAML raises ``error`` with one line naming the file."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: {missing}")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None


def plain(obj: Any) -> Any:
    """numpy scalars/arrays and tuples → YAML-safe builtins (recursively)."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
