"""What the simulated board knows of a board and of a loaded design: its hidden constants
(``params.yaml``, power only: see :mod:`.power`) and the design's stages from the bundle manifest.

There is no timing model here: a call's hardware time is the Verilated circuit's cycle count
(rtlsim bundles) or none (C-simulation bundles, see :mod:`.core`). Only the simulated device
reads this module; the host's cost model never does.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import os

import yaml

from ..errors import SimError

PARAMS = Path(__file__).with_name("params.yaml")
#: Environment variable naming another constants file (a what-if ground truth, e.g. in the test
#: that changes the energies per event and checks that the host's cost model cannot see it).
PARAMS_ENV = "SUSTAINML_SIM_PARAMS"


def params_path() -> Path:
    return Path(os.environ.get(PARAMS_ENV) or PARAMS)


@lru_cache(maxsize=4)
def _load(path: str) -> Dict[str, Any]:
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SimError(f"{path}: cannot read the simulated boards' constants ({exc})") from None


def _all_params() -> Dict[str, Any]:
    return _load(str(params_path()))


def board_params(board: str) -> Dict[str, Any]:
    p = _all_params()
    if board not in p:
        raise SimError(f"no simulated board {board!r} (simulated boards: {', '.join(p)})")
    return p[board]


@dataclass(frozen=True)
class Design:
    """What the power model needs of a bundle: its stages (manifest ``model.quantization.stages``)."""

    stages: Tuple[Mapping[str, Any], ...]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> "Design":
        q = (manifest.get("model") or {}).get("quantization") or {}
        stages = tuple(q.get("stages") or ())
        if not stages:
            raise SimError(f"bundle {manifest.get('name')!r}: manifest model.quantization.stages is empty; "
                           "the simulated board needs the stages for its power model")
        return cls(stages)
