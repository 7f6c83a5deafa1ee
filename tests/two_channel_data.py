"""Test helper: a synthetic two-channel dataset whose class needs both channels.

Each sample holds one Gaussian bump at the same random position in both channels, with an
independent random sign per channel, plus noise and a per-channel offset and gain (raw units,
so ``standardize`` preprocessing has something to do). Class 1: the two signs agree; class 0:
they differ. Either channel alone is independent of the class (accuracy 50% at best), while a
convolution that sees both channels at once separates the classes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np

LENGTH = 64


def make(n: int, rng: np.random.Generator, length: int = LENGTH) -> Tuple[np.ndarray, np.ndarray]:
    t = np.arange(length)
    pos = rng.uniform(8, length - 8, size=n)
    bump = np.exp(-0.5 * ((t[None, :] - pos[:, None]) / 2.5) ** 2)
    signs = rng.choice([-1.0, 1.0], size=(n, 2))
    x = bump[:, :, None] * signs[:, None, :] + 0.15 * rng.standard_normal((n, length, 2))
    x = x * np.array([2.0, 0.5]) + np.array([1.0, -3.0])  # raw units differ per channel
    y = (signs[:, 0] == signs[:, 1]).astype(np.int64)
    return x.astype(np.float32), y


def write_npz(path: Path, seed: int = 0, n_train: int = 240, n_test: int = 200) -> Path:
    rng = np.random.default_rng(seed)
    xtr, ytr = make(n_train, rng)
    xte, yte = make(n_test, rng)
    arrays: Dict[str, np.ndarray] = {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte,
                                     "labels": np.array(["differ", "agree"])}
    np.savez(path, **arrays)
    return path
