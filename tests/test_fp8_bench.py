"""The FP8 bench's multi-seed table (mean ± std, paired gaps) and its command-line checks."""
from __future__ import annotations

import statistics

import pytest

from sustainml.host.cli import main
from sustainml.nas.fp8_compare import DEFAULT_TASKS, TASKS, bias_summary, markdown, median_summary
from sustainml.nas.fp8_training import FormatResult


def _result(storage: str, acc: float, scale: float, biases=None, medians=None) -> FormatResult:
    per_class = {"w": (400.0 * scale, 100.0 * scale), "a": (2000.0 * scale, 1000.0 * scale)}
    return FormatResult(storage, acc, 0.1, per_class, biases or {}, medians or {})


def _cells(table: str, fmt: str):
    row = next(ln for ln in table.splitlines() if ln.startswith(f"| t | {fmt} |"))
    return [c.strip() for c in row.split("|")[1:-1]]


def test_table_reports_mean_std_and_paired_gap():
    fp32 = [0.90, 0.92, 0.94]
    fp8 = [0.89, 0.93, 0.90]
    res = {"t": {"fp32": [_result("fp32", a, 1.0) for a in fp32],
                 "e5m2-adaptive": [_result("e5m2-adaptive", a, 0.25, {"o:x": 31 - i, "d:y": 25},
                                           {"o:x": 2.0 ** (-20 - i), "o:z": None, "d:y": 0.0}) for i, a in enumerate(fp8)]}}
    table = markdown(res)
    cells = _cells(table, "e5m2-adaptive")
    acc = [100 * a for a in fp8]
    assert cells[2] == f"{statistics.mean(acc):.2f} ± {statistics.stdev(acc):.2f}%"
    gaps = [100 * (a - b) for a, b in zip(fp8, fp32)]  # per seed, not difference of means ± pooled std
    assert cells[3] == f"{statistics.mean(gaps):+.2f} ± {statistics.stdev(gaps):.2f}"
    assert cells[4] == "0.001" and cells[5] == "0.250" and cells[-1] == "3"  # 875 bytes, a quarter of FP32
    assert _cells(table, "fp32")[3] == "+0.00 ± 0.00"
    assert bias_summary(res) == ["t: d 25..25, o 29..31"]
    assert median_summary(res) == ["t: o 2^-22..2^-20"]  # zero/absent medians (nothing sampled) left out
    one = markdown({"t": {"fp32": [_result("fp32", 0.9, 1.0)], "e4m3": [_result("e4m3", 0.85, 0.25)]}})
    assert _cells(one, "e4m3")[2:4] == ["85.00%", "-5.00"]


def test_default_tasks_include_the_adamw_task():
    names = [t.name for t in DEFAULT_TASKS]
    assert names == ["ecg_baseline/ECG5000", "ecg_baseline/ECG5000-adamw"]
    adamw = DEFAULT_TASKS[1]
    assert adamw.optimizer == "adamw" and adamw.lr and adamw.topology == DEFAULT_TASKS[0].topology
    assert {t.name for t in TASKS} >= {"ecg_baseline/FordA", "vgg1d/ECG5000"}


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds 0 must be at least 1"),
    (["--fp32-classes", "oz"], "z not a class"),
    (["--lr", "0"], "--lr 0.0 must be positive"),
])
def test_bench_options_are_checked(argv, message, capsys):
    assert main(["fp8-bench", *argv]) == 2
    assert message in capsys.readouterr().err
