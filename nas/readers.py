"""Readers of the dataset files a user brings: UCR TSV, UCR/UEA ARFF, and ``.npz`` arrays.

Every reader returns raw samples ``(N, L, C)`` as float32 (no preprocessing) and the labels as
they appear in the file (text for TSV/ARFF, an array for ``.npz``). Every error is a
:class:`DatasetError` whose message names the file and the line or array.

* TSV (UCR 2018): one series per line, the label first, then ``L`` samples (tab or comma).
* ARFF (UEA multivariate / UCR univariate): after ``@data``, one instance per line; a
  univariate instance is ``v1,...,vL,label``; a multivariate one (relational attribute) is
  ``'c0v1,...,c0vL\\nc1v1,...,c1vL',label``, channels separated by a literal ``\\n``.
* ``.npz``: ``x_train`` (N, L) or (N, L, C), ``y_train`` (N,), ``x_test``, ``y_test``, optional
  ``x_val``/``y_val`` and ``labels`` (class names; then ``y`` holds class indices).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from sustainml.errors import SustainmlError

Raw = Tuple[np.ndarray, List[str]]  # (N, L, C) float32 samples, label text per sample


class DatasetError(SustainmlError, ValueError):
    """A dataset is missing or malformed; the message names the file and line or array."""


def _numbers(text: str, where: str) -> List[float]:
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError as exc:
        raise DatasetError(f"{where}: not a number ({exc})") from None
    if not values:
        raise DatasetError(f"{where}: no samples")
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{where}: missing or non-finite values (variable-length series are not supported)")
    return values


def _label_text(text: str) -> str:
    t = text.strip().strip("'\"")
    try:  # UCR labels are numbers written as 1, 1.0 or -1: one text per class
        f = float(t)
        return str(int(f)) if f == int(f) else repr(f)
    except ValueError:
        return t


def _stack(rows: List[np.ndarray], path: Path, lines: List[int]) -> np.ndarray:
    shape = rows[0].shape
    for row, lineno in zip(rows, lines):
        if row.shape[1] != shape[1]:
            raise DatasetError(f"{path}:{lineno}: {row.shape[1]} channels, expected {shape[1]} like the first row")
        if row.shape[0] != shape[0]:
            raise DatasetError(f"{path}:{lineno}: {row.shape[0]} samples, expected {shape[0]} like the first row")
    return np.stack(rows).astype(np.float32)


def read_tsv(path: Path) -> Raw:
    """One UCR TSV file (label, then samples): one channel."""
    rows: List[np.ndarray] = []
    labels: List[str] = []
    lines: List[int] = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.strip().replace(",", "\t").split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DatasetError(f"{path}:{lineno}: expected a label and at least one sample")
            try:
                float(parts[0])
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: not a number (label {parts[0]!r})") from None
            values = _numbers(" ".join(parts[1:]), f"{path}:{lineno}")
            rows.append(np.asarray(values)[:, None])
            labels.append(_label_text(parts[0]))
            lines.append(lineno)
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    return _stack(rows, path, lines), labels


def read_arff(path: Path) -> Raw:
    """One ARFF file, univariate (UCR) or multivariate (UEA relational attribute)."""
    rows: List[np.ndarray] = []
    labels: List[str] = []
    lines: List[int] = []
    in_data = False
    with open(path, errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.strip()
            if not s or s.startswith("%"):
                continue
            if not in_data:
                in_data = s.lower().startswith("@data")
                continue
            where = f"{path}:{lineno}"
            if s[0] in "'\"":
                end = s.rfind(s[0])
                if end <= 0:
                    raise DatasetError(f"{where}: unterminated quoted multivariate instance")
                body, rest = s[1:end], s[end + 1:].lstrip(",").strip()
                channels = [np.asarray(_numbers(c, f"{where} (channel {i})")) for i, c in
                            enumerate(body.replace("\\n", "\n").split("\n"))]
                if len({len(c) for c in channels}) != 1:
                    raise DatasetError(f"{where}: channels of different lengths {[len(c) for c in channels]} "
                                       "(variable-length series are not supported)")
                sample = np.stack(channels, axis=1)
            else:
                head, _, rest = s.rpartition(",")
                if not head:
                    raise DatasetError(f"{where}: expected samples then a label, comma-separated")
                sample = np.asarray(_numbers(head, where))[:, None]
            if not rest or rest == "?":
                raise DatasetError(f"{where}: missing class label")
            rows.append(sample)
            labels.append(_label_text(rest))
            lines.append(lineno)
    if not in_data:
        raise DatasetError(f"{path}: no @data section (not an ARFF file)")
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    return _stack(rows, path, lines), labels


def read_npz(path: Path) -> Tuple[Dict[str, Raw], Optional[List[str]]]:
    """An ``.npz`` dataset: ``({"train": raw, "test": raw[, "val": raw]}, class names or None)``."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from None
    with npz:
        files = set(npz.files)
        for key in ("x_train", "y_train", "x_test", "y_test"):
            if key not in files:
                raise DatasetError(f"{path}: missing array {key!r} (has: {', '.join(sorted(files)) or 'none'})")
        if ("x_val" in files) != ("y_val" in files):
            raise DatasetError(f"{path}: x_val and y_val must be given together")
        names: Optional[List[str]] = None
        if "labels" in files:
            lab = npz["labels"]
            if lab.ndim != 1 or not len(lab):
                raise DatasetError(f"{path}: array 'labels' must be a non-empty 1-D list of class names")
            names = [str(v) for v in lab.tolist()]
        out: Dict[str, Raw] = {}
        length_ch: Optional[Tuple[int, int]] = None
        for split in ("train", "val", "test"):
            if f"x_{split}" not in files:
                continue
            x, y = npz[f"x_{split}"], npz[f"y_{split}"]
            xk, yk = f"{path}: array 'x_{split}'", f"{path}: array 'y_{split}'"
            if x.dtype.kind not in "iuf":
                raise DatasetError(f"{xk}: dtype {x.dtype} is not numeric")
            if x.ndim == 2:
                x = x[:, :, None]
            if x.ndim != 3 or 0 in x.shape:
                raise DatasetError(f"{xk}: shape {x.shape}, expected (N, L) or (N, L, C) with N, L, C > 0")
            if not np.all(np.isfinite(x)):
                bad = int(np.argwhere(~np.isfinite(x))[0][0])
                raise DatasetError(f"{xk}: non-finite values (first in sample {bad})")
            if length_ch is None:
                length_ch = x.shape[1:]
            elif x.shape[1:] != length_ch:
                raise DatasetError(f"{xk}: samples of shape {x.shape[1:]}, x_train has {length_ch}")
            if y.ndim != 1 or len(y) != len(x):
                raise DatasetError(f"{yk}: shape {y.shape}, expected ({len(x)},) like x_{split}")
            if y.dtype.kind not in "iuUS":
                raise DatasetError(f"{yk}: dtype {y.dtype}: labels must be integers or strings")
            if names is not None:
                if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= len(names):
                    raise DatasetError(f"{yk}: with 'labels' given, y must be class indices 0..{len(names) - 1}")
                text = [names[int(v)] for v in y]
            else:
                text = [str(v) for v in y.tolist()]
            out[split] = (x.astype(np.float32), text)
    return out, names
