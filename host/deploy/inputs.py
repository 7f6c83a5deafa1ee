"""Inference input checked on the host: before connecting (:func:`load_batch`), and against the
board's active overlay before upload (:func:`check_against`).

Accepted: a plain ``.npy`` array (no pickles) of shape ``(N, L)`` or ``(N, L, C)`` with N, L,
C >= 1, of real numbers: finite floats (quantized on the board with the manifest's ``io``) or
integers (taken as input containers, so they must fit the container). ``allow_nonfinite``
lets NaN and +-Inf through to the board's quantizer, which clips +-Inf to the container's ends
(NaN becomes whatever numpy's float-to-int cast makes of it). Every refusal is one
:class:`InputError` line naming the file and what is wrong; the CLI exits 2.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import DeployError

#: The widest input container (``int32``): integers beyond it can never be valid input.
WIDEST = np.iinfo(np.int32)


class InputError(DeployError):
    """The inference input is not a batch the DNNU can take."""


def load_batch(path: Path, allow_nonfinite: bool = False) -> np.ndarray:
    """The batch in ``path``, or :class:`InputError` (checked without any board)."""
    if not path.is_file():
        raise InputError(f"{path}: input batch not found")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        why = "it holds Python objects (pickles are refused)" if "allow_pickle" in str(exc) else str(exc)
        raise InputError(f"{path}: not a numeric .npy array: {why}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npy file ({exc})") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        x.close()
        raise InputError(f"{path}: an .npz archive; save one array with numpy.save")
    kind = x.dtype.kind
    if kind == "c":
        raise InputError(f"{path}: complex input ({x.dtype}); the DNNU takes real numbers")
    if kind not in "iuf":
        raise InputError(f"{path}: dtype {x.dtype} is not a real number type (integers or floats)")
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise InputError(f"{path}: shape {x.shape}: expected (N, L) or (N, L, C) with N, L, C >= 1")
    if kind == "f" and not allow_nonfinite:
        bad = ~np.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"{path}: {int(bad.sum())} non-finite value(s) (first {x[first]} at {first}); "
                             "pass --allow-nonfinite to have them clipped")
    if kind in "iu" and x.size and (int(x.min()) < WIDEST.min or int(x.max()) > WIDEST.max):
        raise InputError(f"{path}: integer range [{x.min()}, {x.max()}] exceeds every input container (int32)")
    return x


def check_against(path: Path, x: np.ndarray, io: Mapping[str, Any], overlay: str) -> None:
    """Refuse ``x`` that the active overlay's input spec (``io.input`` of its manifest) cannot take."""
    spec = io.get("input") if isinstance(io, Mapping) else None
    if not isinstance(spec, Mapping):
        return  # a release activated before release.json recorded io: the board checks it
    shape = tuple(int(s) for s in spec["shape"])
    sample = x.shape[1:] + ((1,) if x.ndim == 2 else ())
    if sample != shape:
        raise InputError(f"{path}: samples of shape {x.shape[1:]} do not match overlay {overlay}'s input "
                         f"(L, C) = {shape}")
    if x.dtype.kind in "iu" and spec.get("encoding", "int") == "int":
        bits, signed = int(spec["bits"]), bool(spec.get("signed", True))
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if int(x.min()) < lo or int(x.max()) > hi:
            raise InputError(f"{path}: integer range [{x.min()}, {x.max()}] exceeds overlay {overlay}'s "
                             f"{bits}-bit input [{lo}, {hi}]")
