"""UCR loader: ECG5000 facts, deterministic stratified split, clear errors on bad files."""
from __future__ import annotations

import numpy as np
import pytest

from sustainml.nas.data import DatasetError, load_dataset


def test_ecg5000_shapes_labels_and_normalisation(ecg5000):
    d = ecg5000
    assert (d.length, d.channels, d.classes) == (140, 1, 5)
    assert len(d.train.y) + len(d.val.y) == 500 and len(d.test.y) == 4500
    counts = np.bincount(np.concatenate([d.train.y, d.val.y]), minlength=5)
    assert counts.tolist() == [292, 177, 10, 19, 2]
    # stratified: each class gives round(0.2 * count) samples to validation (class 4 has 2: none)
    assert np.bincount(d.val.y, minlength=5).tolist() == [58, 35, 2, 4, 0]
    assert set(np.unique(d.train.y)) == set(range(5))
    assert np.allclose(d.test.x.mean(axis=1), 0, atol=1e-4) and np.allclose(d.test.x.std(axis=1), 1, atol=1e-3)


def test_split_is_deterministic_and_seeded():
    a, b, c = load_dataset("ECG5000", seed=0), load_dataset("ECG5000", seed=0), load_dataset("ECG5000", seed=1)
    assert np.array_equal(a.val.x, b.val.x)
    assert not np.array_equal(a.val.x, c.val.x)


def write(tmp_path, train, test="1\t0.5\t0.25\t0.1\n2\t0.1\t0.2\t0.3\n"):
    (tmp_path / "X_TRAIN.tsv").write_text(train)
    (tmp_path / "X_TEST.tsv").write_text(test)
    return tmp_path / "X_TRAIN.tsv"


@pytest.mark.parametrize("content, message", [
    ("1\t0.5\t0.2\t0.1\n2\t0.1\tabc\t0.3\n", "X_TRAIN.tsv:2: not a number"),
    ("1\t0.5\t0.2\t0.1\n2\t0.1\t0.3\n", "X_TRAIN.tsv:2: 2 samples, expected 3"),
    ("1\t0.5\tNaN\t0.1\n", "X_TRAIN.tsv:1: missing or non-finite values"),
    ("", "X_TRAIN.tsv: no data rows"),
    ("7\n", "X_TRAIN.tsv:1: expected a label and at least one sample"),
])
def test_malformed_files(tmp_path, content, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load_dataset(write(tmp_path, content))


def test_missing_dataset_and_unseen_test_labels(tmp_path):
    with pytest.raises(DatasetError, match="dataset 'NoSuchSet' not found"):
        load_dataset("NoSuchSet")
    path = write(tmp_path, "1\t0.5\t0.2\t0.1\n1\t0.4\t0.2\t0.1\n2\t0.1\t0.2\t0.3\n2\t0.1\t0.4\t0.3\n",
                 test="3\t0.5\t0.25\t0.1\n")
    with pytest.raises(DatasetError, match=r"labels \['3'\] do not occur"):
        load_dataset(path)
