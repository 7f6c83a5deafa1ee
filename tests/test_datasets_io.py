"""Datasets a user brings: .npz (one or several channels), UEA/UCR ARFF and TSV folders; errors
name the file and the array or line; per-channel preprocessing is recorded and the board's
copy of it reproduces the loader's numbers bit for bit from the raw samples."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from sustainml.board import preprocess
from sustainml.nas.data import DatasetError, load_dataset

from two_channel_data import write_npz


def test_npz_two_channels_standardized_with_training_statistics(tmp_path):
    d = load_dataset(write_npz(tmp_path / "leads.npz"))
    assert (d.name, d.length, d.channels, d.classes, d.labels) == ("leads", 64, 2, 2, ["differ", "agree"])
    assert len(d.train.y) + len(d.val.y) == 240 and len(d.test.y) == 200 and d.val_from == "split"
    p = d.preprocessing
    assert p["method"] == "standardize" and len(p["mean"]) == 2
    # statistics of the samples trained on: that split comes out with mean 0, std 1 per channel
    assert np.allclose(d.train.x.mean(axis=(0, 1)), 0, atol=1e-5)
    assert np.allclose(d.train.x.std(axis=(0, 1)), 1, atol=1e-4)
    assert not np.allclose(d.raw_test_x.mean(axis=(0, 1)), 0, atol=0.5)  # raw units stay raw
    # the board's preprocessing of the raw test samples is the loader's, bit for bit
    assert np.array_equal(preprocess.apply(d.raw_test_x, p), d.test.x)


def test_npz_one_channel_given_validation_and_znorm(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(5, 3, (30, 20)), "y_train": np.repeat([3, 7, 9], 10),
              "x_val": rng.normal(5, 3, (6, 20)), "y_val": np.array([3, 7, 9, 3, 7, 9]),
              "x_test": rng.normal(5, 3, (9, 20)), "y_test": np.array([9, 7, 3] * 3)}
    np.savez(tmp_path / "one.npz", **arrays)
    d = load_dataset(tmp_path / "one.npz", preprocess="znorm")
    assert d.channels == 1 and d.labels == ["3", "7", "9"] and d.val_from == "file"
    assert len(d.train.y) == 30 and d.val.y.tolist() == [0, 1, 2, 0, 1, 2] and d.test.y[:3].tolist() == [2, 1, 0]
    assert np.allclose(d.test.x.mean(axis=1), 0, atol=1e-5) and np.allclose(d.test.x.std(axis=1), 1, atol=1e-4)
    assert d.preprocessing == {"method": "znorm"}


def _npz(tmp_path, **over):
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.normal(size=(8, 16, 2)), "y_train": np.arange(8) % 2,
              "x_test": rng.normal(size=(4, 16, 2)), "y_test": np.arange(4) % 2}
    arrays.update(over)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(tmp_path / "bad.npz", **arrays)
    return tmp_path / "bad.npz"


@pytest.mark.parametrize("over, message", [
    ({"x_test": None}, "bad.npz: missing array 'x_test'"),
    ({"x_train": np.zeros((8, 16, 2, 3))}, "bad.npz: array 'x_train': shape (8, 16, 2, 3)"),
    ({"x_test": np.zeros((4, 15, 2))}, "bad.npz: array 'x_test': samples of shape (15, 2), x_train has (16, 2)"),
    ({"y_train": np.zeros(7, dtype=int)}, "bad.npz: array 'y_train': shape (7,), expected (8,)"),
    ({"x_test": np.where(np.arange(4 * 16 * 2).reshape(4, 16, 2) == 70, np.nan, 0.0)},
     "bad.npz: array 'x_test': non-finite values (first in sample 2)"),
    ({"labels": np.array(["a"])}, "bad.npz: array 'y_train': with 'labels' given, y must be class indices 0..0"),
    ({"y_test": np.array([0, 1, 5, 1])}, "bad.npz: y_test: labels ['5'] do not occur in the training file"),
    ({"x_val": np.zeros((2, 16, 2))}, "bad.npz: x_val and y_val must be given together"),
])
def test_npz_errors_name_the_file_and_array(tmp_path, over, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_dataset(_npz(tmp_path, **over))


UEA_HEADER = """% UEA multivariate format
@relation Toy
@attribute relationalAtt relational
  @attribute att0 numeric
  @attribute att1 numeric
  @attribute att2 numeric
@end relationalAtt
@attribute classAttribute {walk,run}
@data
"""


def test_uea_multivariate_arff_folder(tmp_path):
    (tmp_path / "Toy_TRAIN.arff").write_text(UEA_HEADER + "'1,2,3\\n4,5,6',walk\n'0,0,1\\n1,0,0',run\n"
                                             "'2,2,2\\n3,3,3',walk\n'1,1,0\\n0,1,1',run\n")
    (tmp_path / "Toy_TEST.arff").write_text(UEA_HEADER + "'1,2,4\\n4,5,7',run\n")
    d = load_dataset(tmp_path, val_fraction=0.0)
    assert (d.name, d.length, d.channels, d.labels) == ("Toy", 3, 2, ["run", "walk"])
    assert d.raw_test_x[0].tolist() == [[1, 4], [2, 5], [4, 7]] and d.test.y.tolist() == [0]
    assert d.preprocessing == {"method": "znorm"}


def test_ucr_arff_and_tsv_and_their_errors(tmp_path):
    uni = "@relation u\n@attribute a numeric\n@attribute b numeric\n@attribute target {1,2}\n@data\n"
    (tmp_path / "U_TRAIN.arff").write_text(uni + "0.5,0.1,1\n0.2,0.3,2\n0.1,0.1,1\n0.9,0.4,2\n")
    (tmp_path / "U_TEST.arff").write_text(uni + "0.5,0.2,2\n")
    d = load_dataset(tmp_path / "U_TRAIN.arff")
    assert (d.length, d.channels, d.labels) == (2, 1, ["1", "2"])
    (tmp_path / "U_TEST.arff").write_text(uni + "0.5,abc,2\n")
    with pytest.raises(DatasetError, match=r"U_TEST.arff:6: not a number"):
        load_dataset(tmp_path / "U_TRAIN.arff")
    (tmp_path / "U_TEST.arff").write_text(UEA_HEADER + "'1,2\\n3,4,5',run\n")
    with pytest.raises(DatasetError, match=r"U_TEST.arff:10: channels of different lengths \[2, 3\]"):
        load_dataset(tmp_path / "U_TRAIN.arff")
    (tmp_path / "U_TEST.arff").write_text("no data section\n")
    with pytest.raises(DatasetError, match=r"U_TEST.arff: no @data section"):
        load_dataset(tmp_path / "U_TRAIN.arff")


def test_cli_bad_dataset_is_one_line_and_exit_2(tmp_path):
    from sustainml import REPO_ROOT

    bad = _npz(tmp_path, x_test=None)
    cmd = [sys.executable, "-m", "sustainml.host.cli", "train", str(REPO_ROOT / "nas/examples/ecg_baseline.yaml"),
           "--dataset", str(bad), "--quick", "--out", str(tmp_path / "m")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "bad.npz: missing array 'x_test'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_preprocess_spec_checks():
    with pytest.raises(preprocess.PreprocessError, match="method one of none, znorm, standardize"):
        preprocess.check({"method": "minmax"})
    with pytest.raises(preprocess.PreprocessError, match="2 channels recorded, the input has 3"):
        preprocess.apply(np.zeros((1, 4, 3)), {"method": "standardize", "mean": [0, 0], "std": [1, 1]})
    x = np.ones((2, 5, 1))
    assert np.array_equal(preprocess.apply(x, {"method": "znorm"}), np.zeros((2, 5, 1), np.float32))  # constant
