"""End-to-end NAS runs with tiny budgets: the exported front is real, a SIGKILLed search resumes
without re-training anything, the baselines run through the same machinery, Ray works."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sustainml.nas import golden
from sustainml.nas.quantized import QuantizedModel
from sustainml.nas.search import load_requirements, run_search
from sustainml.nas.search.evaluate import ProcessExecutor

TINY = {
    "dataset": "ECG5000", "board": "pynq-z2", "seed": 3,
    "objectives": {"accuracy": "max", "energy_uj": "min"},
    "constraints": {"max_energy_uj": 40},
    "budget": {"evaluations": 4, "initial": 2, "population": 2, "mutants": 24, "generations": 10},
    "training": {"schedule": "quick", "float_epochs": 2, "qat_epochs": 1, "folded_epochs": 1},
    "space": {"blocks": [1, 2], "filters": [4, 8], "strides": [1, 2], "pools": [0, 4]},
}


def _req(tmp_path: Path, **budget):
    doc = {**TINY, "budget": {**TINY["budget"], **budget}}
    path = tmp_path / "req.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def pool():
    ex = ProcessExecutor(2)
    yield ex
    ex.shutdown()


def _rows(run_dir: Path):
    db = sqlite3.connect(str(run_dir / "journal.sqlite"))
    rows = db.execute("SELECT id, key, status, metrics, finished FROM candidates ORDER BY id").fetchall()
    db.close()
    return rows


def test_search_exports_a_real_front(tmp_path, pool, ecg5000):
    req = load_requirements(_req(tmp_path))
    res = run_search(req, tmp_path / "run", executor=pool)
    rows = _rows(tmp_path / "run")
    assert len(rows) == 4 and {r[2] for r in rows} == {"done"}
    assert len({r[1] for r in rows}) == 4  # no genotype trained twice
    gens = sqlite3.connect(str(tmp_path / "run" / "journal.sqlite")).execute(
        "SELECT generation, parent FROM candidates").fetchall()
    assert any(g > 0 and p is not None for g, p in gens)  # offspring of trained parents
    assert res.front and (tmp_path / "run" / "front.png").stat().st_size > 0
    assert "| point |" in (tmp_path / "run" / "pareto.md").read_text()
    for rec in res.front:
        d = tmp_path / "run" / "pareto" / rec.name
        model = QuantizedModel.load(d)
        acc = float((golden.predict(model, ecg5000.test.x) == ecg5000.test.y).mean())
        assert acc == pytest.approx(rec.metrics["test_acc"])  # reported accuracy is the integer model's
        costs = yaml.safe_load((d / "costs.yaml").read_text())
        assert costs["search"]["estimate"]["energy_per_inference_uj"] <= 40
        assert "pynq-z2.yaml" in costs["cost_model"]
    # the front is non-dominated on (val accuracy, energy) among the trained candidates
    vals = [(r.values["accuracy"], r.values["energy_uj"]) for r in res.front]
    for a, e in vals:
        assert not any(a2 >= a and e2 <= e and (a2, e2) != (a, e) for a2, e2 in vals)


def test_killed_search_resumes_without_retraining(tmp_path):
    req = _req(tmp_path, evaluations=6)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "sustainml.host.cli", "search", str(req), "--out", str(run_dir), "--workers", "2"]
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
    deadline = time.time() + 150
    done_before = []
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if (run_dir / "journal.sqlite").exists():
                try:
                    rows = _rows(run_dir)
                except sqlite3.OperationalError:
                    continue
                if sum(r[2] == "done" for r in rows) >= 2:
                    break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the search and its worker processes
        proc.wait()
    before = _rows(run_dir)
    done_before = [r for r in before if r[2] == "done"]
    assert len(done_before) >= 2 and len(before) < 6, "kill came too late to test resume"
    out = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    after = _rows(run_dir)
    assert len(after) == 6 and {r[2] for r in after} == {"done"}
    assert len({r[1] for r in after}) == 6  # no genotype evaluated twice
    by_id = {r[0]: r for r in after}
    for r in done_before:  # finished evaluations kept untouched (same metrics, same finish time)
        assert by_id[r[0]][3] == r[3] and by_id[r[0]][4] == r[4]
    assert "already done" in out.stderr


def test_resume_rejects_changed_requirements(tmp_path, pool):
    req = load_requirements(_req(tmp_path, evaluations=2, initial=2))
    run_search(req, tmp_path / "run", executor=pool, export=False)
    from sustainml.nas.search.journal import JournalError

    with pytest.raises(JournalError, match="seed"):
        run_search(req.replace(seed=9), tmp_path / "run", executor=pool, resume=True)
    with pytest.raises(JournalError, match="--resume"):
        run_search(req, tmp_path / "run", executor=pool)


@pytest.mark.parametrize("strategy", ["random", "nsga2"])
def test_baselines_spend_the_same_budget(tmp_path, pool, strategy):
    req = load_requirements(_req(tmp_path, evaluations=4, initial=2))
    res = run_search(req, tmp_path / strategy, executor=pool, strategy=strategy)
    rows = _rows(tmp_path / strategy)
    assert len(rows) == 4 and len({r[1] for r in rows}) == 4
    assert all(r.values["energy_uj"] <= 40 for r in res.front)


@pytest.mark.ray
def test_ray_executor_local(tmp_path):
    pytest.importorskip("ray")
    req = load_requirements(_req(tmp_path, evaluations=1, initial=1))
    res = run_search(req, tmp_path / "run", executor="ray", address="local", workers=1)
    rows = _rows(tmp_path / "run")
    assert len(rows) == 1 and {r[2] for r in rows} == {"done"}
    assert all(np.isfinite(r.metrics["test_acc"]) for r in res.front)
