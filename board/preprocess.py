"""Per-channel input preprocessing: the one definition the loader and the board runtime share.

A preprocessing spec is a small mapping recorded in ``model.yaml`` (``preprocessing:``) and in
the overlay manifest (``model.preprocessing``)::

    {method: none}                                   # samples used as given
    {method: znorm}                                  # per sample and channel: (x - mean_t) / std_t
    {method: standardize, mean: [m0, ...], std: [s0, ...]}   # per channel, statistics of the training set

``znorm`` is the UCR/UEA archive convention (constant series map to zeros); ``standardize``
keeps amplitude differences between samples (user data in physical units). :func:`apply`
computes in float64 and returns float32 ``(N, L, C)``: the training loader and the board run
the same arithmetic on raw samples, so the board quantizes exactly the numbers the model saw.

Board-side module: numpy only.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np

METHODS = ("none", "znorm", "standardize")
EPS = 1e-8


class PreprocessError(ValueError):
    """A preprocessing spec is malformed or does not match the input's channels."""


def check(spec: Optional[Mapping[str, Any]], channels: Optional[int] = None,
          where: str = "preprocessing") -> Dict[str, Any]:
    """Validate ``spec`` (None means ``{method: none}``); returns a plain copy."""
    if spec is None:
        return {"method": "none"}
    if not isinstance(spec, Mapping) or spec.get("method") not in METHODS:
        raise PreprocessError(f"{where}: expected a mapping with method one of {', '.join(METHODS)}, got {spec!r}")
    out: Dict[str, Any] = {"method": str(spec["method"])}
    if out["method"] == "standardize":
        for key in ("mean", "std"):
            v = spec.get(key)
            if not isinstance(v, (list, tuple)) or not v or not all(isinstance(a, (int, float)) for a in v):
                raise PreprocessError(f"{where}.{key}: expected a list of numbers, one per channel")
            out[key] = [float(a) for a in v]
        if len(out["mean"]) != len(out["std"]):
            raise PreprocessError(f"{where}: mean has {len(out['mean'])} channels, std {len(out['std'])}")
        if any(s <= 0 for s in out["std"]):
            raise PreprocessError(f"{where}.std: every channel's std must be positive")
        if channels is not None and len(out["mean"]) != channels:
            raise PreprocessError(f"{where}: {len(out['mean'])} channels recorded, the input has {channels}")
    return out


def fit_standardize(x: np.ndarray) -> Dict[str, Any]:
    """A ``standardize`` spec from training samples ``(N, L, C)`` (constant channels get std 1)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=(0, 1))
    std = x.std(axis=(0, 1))
    std = np.where(std < EPS, 1.0, std)
    return {"method": "standardize", "mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def apply(x: np.ndarray, spec: Optional[Mapping[str, Any]]) -> np.ndarray:
    """Raw samples ``(N, L, C)`` or ``(N, L)`` (one channel) → preprocessed float32 ``(N, L, C)``."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise PreprocessError(f"samples must be (N, L) or (N, L, C), got shape {a.shape}")
    s = check(spec, a.shape[2])
    if s["method"] == "znorm":
        mu = a.mean(axis=1, keepdims=True)
        sd = a.std(axis=1, keepdims=True)
        a = (a - mu) / np.where(sd < EPS, 1.0, sd)
    elif s["method"] == "standardize":
        a = (a - np.asarray(s["mean"])) / np.asarray(s["std"])
    return a.astype(np.float32)
