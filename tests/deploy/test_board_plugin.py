"""The board-test plugin as a user runs it: ``pytest -m board --board NAME ...`` in a subprocess, from
the repository root and from an unrelated folder, against a loopback sshd holding a simulated board."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from sustainml import REPO_ROOT
from sustainml.pytest_plugin import ENV

BATTERY_TESTS = 9  # push, golden, test set, 3 x latency band, power, recovery, rollback


@pytest.fixture(scope="module")
def plugin_board(sshds, user_key, board_python, sim_bundle, runtime_wheel, tmp_path_factory) -> Path:
    """An inventory with loopback board sim-b (own root) that already holds a release."""
    from sustainml.host.deploy.inventory import load_inventory
    from sustainml.host.deploy.push import push

    d = tmp_path_factory.mktemp("plugin-board")
    (d / "known_hosts").write_text("".join(s.host_key_line for s in sshds.values()))
    boards = {name: {"host": "127.0.0.1", "port": s.port, "user": s.user, "key": str(user_key), "board": "pynq-z2",
                     "python": board_python, "root": str(d / "root" / name), "simulated": True, "connect_timeout": 5,
                     "reserve_mb": 0} for name, s in sshds.items()}  # the battery runs on sim-b
    inv = d / "boards.yaml"
    inv.write_text(yaml.safe_dump({"known_hosts": "known_hosts", "boards": boards}))
    loaded = load_inventory(inv)
    [first] = push(sim_bundle, [loaded.boards["sim-b"]], runtime_wheel, loaded.known_hosts)
    assert first.ok, first.error
    return inv


def run_pytest(args: List[str], cwd: Path, env_extra: Dict[str, str] = None, timeout: float = 600):
    drop = set(ENV.values()) | {"PYTEST_ADDOPTS", "SUSTAINML_BOARDS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=timeout)


def junit(path: Path):
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    cases = suite.findall("testcase")
    props = {p.get("name"): p.get("value") for c in cases for p in c.iter("property")}
    return suite, cases, props


def check_battery_report(xml: Path, expect_at_least: int) -> Dict[str, str]:
    suite, cases, props = junit(xml)
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    assert not skipped, skipped
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0 and int(suite.get("skipped")) == 0
    battery = [c for c in cases if c.get("classname", "").endswith("test_board_battery")]
    assert len(battery) == BATTERY_TESTS and len(cases) >= expect_at_least
    assert all("[sim-b" in c.get("name") for c in battery)  # parametrized by the --board name
    for b in (1, 8, 64):  # measured latency, throughput and energy as JUnit properties
        assert float(props[f"latency_us_p50_b{b}"]) >= float(props[f"hw_us_p50_b{b}"]) > 0
        assert float(props[f"throughput_sps_b{b}"]) > 0
        assert float(props[f"energy_uj_b{b}"]) > 0
    return props


def battery_args(inventory: Path, bundle: Path, wheel: Path) -> List[str]:
    # `--opt=PATH`: pytest reads a separate absolute path outside the cwd as a test path (see the plugin)
    return ["-m", "board", "--board", "sim-b", f"--board-inventory={inventory}", f"--board-bundle={bundle}",
            f"--board-runtime-wheel={wheel}"]


def db_rows(db: Path) -> List[tuple]:
    return sqlite3.connect(str(db)).execute(
        "SELECT board, batch, repetition, energy_j, throughput_sps, campaign FROM measurements ORDER BY id").fetchall()


def test_board_battery_from_an_unrelated_folder(plugin_board, battery_bundle, runtime_wheel, tmp_path):
    """A user's folder (no ini, no conftest) holding boards.yaml and overlays/NAME: the README's
    command as written; the entry point (and ``-p``) bring the options, the battery and its fixtures."""
    import shutil

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(plugin_board.parent, elsewhere, ignore=shutil.ignore_patterns("root"))  # boards.yaml, known_hosts
    shutil.copytree(battery_bundle, elsewhere / "overlays" / battery_bundle.name)
    db = tmp_path / "m.sqlite"
    res = run_pytest(["-m", "board", "--board", "sim-b", "--board-inventory", "boards.yaml",
                      "--board-bundle", f"overlays/{battery_bundle.name}", "-p", "sustainml.pytest_plugin",
                      f"--board-db={db}", f"--junitxml={tmp_path / 'else.xml'}"], elsewhere,
                     {ENV["board_runtime_wheel"]: str(runtime_wheel.path)})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    props = check_battery_report(tmp_path / "else.xml", BATTERY_TESTS)
    rows = db_rows(db)
    assert [(r[0], r[1], r[2]) for r in rows] == [("sim-b", 1, 0), ("sim-b", 8, 0), ("sim-b", 64, 0)]
    assert all(r[3] > 0 and r[4] > 0 and r[5] == "pytest-board-battery" for r in rows)
    assert abs(rows[0][3] * 1e6 - float(props["energy_uj_b1"])) < 1e-3  # the report and the DB agree


def test_measurements_are_appended_as_new_repetitions(battery_bundle, tmp_path):
    from sustainml.board.bundle import load_bundle
    from sustainml.host.deploy.inventory import BoardEntry
    from sustainml.testing.onboard import BoardTarget, store_unit

    entry = BoardEntry(name="z2-lab", host="h", user="u", board="pynq-z2", part="xc7z020clg400-1", root="/r")
    target = BoardTarget(entry, tmp_path / "kh", battery_bundle)
    dist = {"min": 1.0, "mean": 2.0, "p50": 2.0, "p95": 3.0, "p99": 3.0, "max": 4.0}
    unit = {"latency": {"batch": 8, "calls": 10, "clock_mhz": 100.0, "latency_us": dist, "hw_us": dist,
                        "overhead_us": dist, "throughput_sps": 5.0},
            "power": {"source": "meter", "idle_w": 1.7, "busy_w": 1.8, "energy_per_inference_j": 2e-7}}
    env = {"board": "pynq-z2", "part": "xc7z020clg400-1", "simulated": True, "clock_mhz": 100.0}
    bundle = load_bundle(battery_bundle)
    assert [store_unit(tmp_path / "m.sqlite", target, bundle, env, unit) for _ in range(3)] == [0, 1, 2]
    rows = db_rows(tmp_path / "m.sqlite")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("z2-lab", 8, rep, 2e-7) for rep in (0, 1, 2)]


@pytest.mark.slow
def test_board_battery_from_the_repository_root(plugin_board, battery_bundle, runtime_wheel, tmp_path):
    """From the root, tests/ is collected too (~20 s more): its board-marked tests also run on sim-b,
    and the battery's re-export there is not run twice. Slow: run by scripts/check_board_tests."""
    res = run_pytest([*battery_args(plugin_board, battery_bundle, runtime_wheel.path), "-q",
                      "--junitxml", str(tmp_path / "root.xml")], REPO_ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    check_battery_report(tmp_path / "root.xml", BATTERY_TESTS + 1)


def test_environment_variables_select_the_board_and_all_expands(plugin_board, sim_bundle, tmp_path):
    env = {ENV["board"]: "all", ENV["board_inventory"]: str(plugin_board), ENV["board_bundle"]: str(sim_bundle)}
    res = run_pytest(["--collect-only", "-q", "-p", "sustainml"], tmp_path, env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    ids = [ln for ln in res.stdout.splitlines() if ln.startswith("test_board_battery.py::")]
    assert len(ids) == 2 * BATTERY_TESTS  # once per board of the inventory
    assert sum("[sim-a" in i for i in ids) == sum("[sim-b" in i for i in ids) == BATTERY_TESTS


def test_a_separate_path_outside_the_project_is_refused_with_the_fix(plugin_board, tmp_path):
    res = run_pytest(["--board", "sim-b", "--board-inventory", str(plugin_board), "--collect-only"], REPO_ROOT)
    err = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode == 2 and len(err) == 1, err
    assert f"skipped {REPO_ROOT / 'pyproject.toml'}; write --board-inventory={plugin_board}" in err[0]


@pytest.mark.parametrize("args, message", [
    (["--board", "nope"], "no board named 'nope' (known: sim-a, sim-b)"),
    (["--board", "sim-b"], "--board needs --board-bundle DIR"),
    (["--board", "sim-b", "--board-bundle", "missing-dir"], "missing-dir"),
])
def test_a_bad_selection_is_one_line_and_exit_2(plugin_board, tmp_path, args, message):
    res = run_pytest([*args, "--board-inventory", str(plugin_board)], tmp_path)
    err = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode == 2, err
    assert len(err) == 1 and message in err[0] and "Traceback" not in res.stderr


def test_the_manifest_states_the_cost_model_band(battery_bundle):
    from sustainml.board.bundle import load_bundle
    from sustainml.testing.onboard import hw_time_band

    bundle = load_bundle(battery_bundle)
    band = hw_time_band(bundle)
    assert sorted(band) == [1, 8, 64]
    assert bundle.manifest["estimates"]["hw_time_band"]["coefficients"] == "prior"  # the shipped priors
    for b, r in band.items():
        assert r["lo_us"] * 4.0 == pytest.approx(r["estimate_us"], rel=1e-3) == r["hi_us"] / 4.0
    interval_us = bundle.manifest["estimates"]["interval_cycles"] / bundle.clock_mhz
    assert band[8]["estimate_us"] - band[1]["estimate_us"] == pytest.approx(7 * interval_us, rel=1e-3)


@pytest.mark.slow
def test_a_hardware_time_outside_the_band_fails_the_battery(plugin_board, battery_bundle, runtime_wheel, tmp_path):
    """The band test can fail: the same overlay with a band 100x too fast."""
    from deploy_helpers import derive_bundle

    from sustainml.board.bundle import MANIFEST, write_manifest

    dst = derive_bundle(battery_bundle, tmp_path / "fast" / battery_bundle.name)
    doc = yaml.safe_load((dst / MANIFEST).read_text())
    for r in doc["estimates"]["hw_time_band"]["batches"]:
        r["lo_us"], r["hi_us"] = r["lo_us"] / 100, r["hi_us"] / 100
    doc.pop("files")
    write_manifest(dst, doc)
    res = run_pytest([*battery_args(plugin_board, dst, runtime_wheel.path), "-k", "within_band", "-q"], tmp_path)
    assert res.returncode == 1, res.stdout[-3000:]
    assert res.stdout.count("outside the manifest's band") >= 3 and "3 failed" in res.stdout
