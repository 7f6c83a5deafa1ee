"""push / infer / status / pull / rollback end to end: real sim bundles on loopback OpenSSH boards
(or, with ``--board NAME``, the `board`-marked ones on a real board)."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from loopback_sshd import free_port
from sustainml.board.bundle import load_bundle
from sustainml.host.deploy.fleet import session
from sustainml.host.deploy.inventory import load_inventory
from sustainml.host.deploy.push import push
from sustainml.host.deploy_cli import main


def cli(capsys, *argv) -> tuple:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def cli_json(capsys, *argv) -> tuple:
    code, out, err = cli(capsys, *argv, "--json")
    return code, json.loads(out), err


def golden(bundle: Path):
    return load_bundle(bundle).golden()


@pytest.mark.board
def test_push_then_infer_returns_the_golden_outputs(target, runtime_wheel, tmp_path, capsys):
    inv = ["--inventory", target.inventory]
    code, doc, err = cli_json(capsys, "push", target.bundle, "--board", target.board, *inv,
                              "--runtime-wheel", runtime_wheel.path)
    assert code == 0, err
    res = doc[target.board]
    assert res["ok"] and res["smoke"]["ok"] and res["smoke"]["mismatches"] == 0
    assert res["release"]["name"] == load_bundle(target.bundle).name and res["runtime"] == runtime_wheel.id
    gx, gy = golden(target.bundle)
    np.save(tmp_path / "x.npy", gx)
    code, out, err = cli(capsys, "infer", "--board", target.board, tmp_path / "x.npy", "--out", tmp_path / "y.npy", *inv)
    assert code == 0, err
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == gy.dtype and np.array_equal(y, gy)  # bit for bit, same container
    assert out.splitlines()[0].strip().startswith("infer") and f"{target.board} " in out  # a table row
    code, doc, err = cli_json(capsys, "status", "--board", target.board, *inv)
    assert code == 0 and doc[target.board]["active"]["digest"] == res["release"]["digest"]
    # the board kept that result: pull fetches it (once)
    code, doc, err = cli_json(capsys, "pull", "--board", target.board, *inv, "--dest", tmp_path / "res")
    assert code == 0, err
    fetched = doc[target.board]["fetched"]
    assert fetched and all(f.endswith("-infer.npy") or f.endswith(".json") for f in fetched)
    assert any(np.array_equal(np.load(tmp_path / "res" / target.board / f), gy) for f in fetched if f.endswith(".npy"))
    code, doc, err = cli_json(capsys, "pull", "--board", target.board, *inv, "--dest", tmp_path / "res")
    assert doc[target.board]["fetched"] == [] and doc[target.board]["on_board"] == len(fetched)


def test_push_to_two_boards_concurrently(make_inventory, sim_bundle, runtime_wheel, tmp_path, capsys):
    inv = make_inventory()
    code, out, err = cli(capsys, "push", sim_bundle, "--board", "sim-a", "--board", "sim-b", "--inventory", inv,
                         "--runtime-wheel", runtime_wheel.path)
    assert code == 0, err
    assert out.count("pass:") == 2 and "sim-a" in out and "sim-b" in out  # one row per board
    gx, gy = golden(sim_bundle)
    np.save(tmp_path / "x.npy", gx)
    for name in ("sim-a", "sim-b"):
        code, doc, err = cli_json(capsys, "infer", "--board", name, tmp_path / "x.npy", "--inventory", inv)
        assert code == 0, err
        assert np.array_equal(np.asarray(doc[name]["outputs"]), gy)
        assert doc[name]["simulated"] is True and doc[name]["classes"] == gy.reshape(len(gy), -1).argmax(1).tolist()
    # the runtime lives under the overlay root, the board's Python is untouched
    boards = load_inventory(inv).boards
    for b in boards.values():
        assert (Path(b.root) / "runtime" / runtime_wheel.id / "sustainml" / "board" / "agent.py").is_file()
        purelib = Path(b.python).parent.parent / "lib"
        assert not list(purelib.rglob("sustainml*"))


def test_a_failing_board_does_not_stop_the_others(make_inventory, sim_bundle, runtime_wheel, capsys):
    inv = make_inventory(**{"sim-down": {"port": free_port()}})
    code, doc, err = cli_json(capsys, "push", sim_bundle, "--board", "sim-down", "--board", "sim-a",
                              "--inventory", inv, "--runtime-wheel", runtime_wheel.path)
    assert code == 1 and list(doc) == ["sim-down", "sim-a"]
    assert doc["sim-a"]["ok"] and doc["sim-a"]["smoke"]["ok"]
    assert doc["sim-down"]["kind"] == "Unreachable"
    assert [ln for ln in err.splitlines() if "error" in ln] == [f"sustainml-deploy: error: {doc['sim-down']['error']}"]


def _active(board) -> str:
    return os.readlink(Path(board.root) / "current")


def test_connection_killed_mid_upload_leaves_the_previous_overlay_working(
        inventory, sim_bundle, variant, runtime_wheel, sshds, tmp_path):
    board = inventory.boards["sim-a"]
    [first] = push(sim_bundle, [board], runtime_wheel, inventory.known_hosts)
    assert first.ok, first.error
    before = _active(board)
    big = variant("big", extra={"pad.bin": os.urandom(48 * 2**20)})
    staging = Path(board.root) / "staging"
    killed = []

    def kill_when_half_uploaded() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            part = [p for p in staging.glob("*/bundle/pad.bin") if p.stat().st_size > 2**20]
            if part:
                killed.append((part[0].stat().st_size, sshds["sim-a"].kill_sessions()))
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_when_half_uploaded)
    watcher.start()
    [out] = push(big, [board], runtime_wheel, inventory.known_hosts)
    watcher.join()
    assert killed and 2**20 < killed[0][0] < 48 * 2**20 and killed[0][1] > 0  # it really died mid-file
    assert out.kind == "ConnectionLost" and "connection lost while uploading pad.bin" in out.error
    assert _active(board) == before  # the switch never happened
    releases = [p.name for p in (Path(board.root) / "releases").iterdir()]
    assert releases == [Path(before).name]  # nothing half-installed next to it
    gx, gy = golden(sim_bundle)
    np.save(tmp_path / "x.npy", gx)
    with session(board, inventory.known_hosts) as remote:  # the previous overlay still answers
        from sustainml.host.deploy.actions import infer
        assert np.array_equal(infer(remote, tmp_path / "x.npy", tmp_path / "y.npy")["outputs"], gy)
        assert remote.info()["active"]["digest"] == first.value["release"]["digest"]


def test_smoke_mismatch_is_refused_and_previous_stays_active(inventory, sim_bundle, variant, runtime_wheel):
    board = inventory.boards["sim-a"]
    [first] = push(sim_bundle, [board], runtime_wheel, inventory.known_hosts)
    assert first.ok, first.error
    bad = variant("bad-golden", golden_delta=1)
    [out] = push(bad, [board], runtime_wheel, inventory.known_hosts)
    n = golden(sim_bundle)[1].size
    assert out.kind == "SmokeMismatch"
    assert f"smoke test mismatch on {load_bundle(sim_bundle).name}: 1 of {n} outputs differ" in out.error
    with session(board, inventory.known_hosts) as remote:
        info = remote.info()
    assert info["active"]["release"] == first.value["release"]["release"] and info["staging"] == []


def test_upgrade_then_rollback_switches_overlay_and_runtime_together(
        make_inventory, sim_bundle, variant, runtime_wheel, runtime_wheel_v2, capsys):
    inv = make_inventory()
    board = load_inventory(inv).boards["sim-a"]
    code, _, err = cli(capsys, "rollback", "--board", "sim-a", "--inventory", inv)
    assert code == 1 and "rolling back failed: no runtime under" in err and "push an overlay first" in err
    second = variant("second", extra={"NOTES.txt": b"second release\n"})
    digests = []
    for b, wheel in ((sim_bundle, runtime_wheel), (sim_bundle, runtime_wheel), (second, runtime_wheel_v2)):
        code, doc, err = cli_json(capsys, "push", b, "--board", "sim-a", "--inventory", inv,
                                  "--runtime-wheel", wheel.path)
        assert code == 0, err
        digests.append(doc["sim-a"]["release"]["digest"])
        assert doc["sim-a"]["installed_runtime"] is (len(digests) != 2)  # reused when already there
        assert doc["sim-a"]["release"]["runtime"] == wheel.id
    assert runtime_wheel_v2.id != runtime_wheel.id
    assert os.readlink(Path(board.root) / "current" / "runtime").endswith(runtime_wheel_v2.id)
    code, doc, err = cli_json(capsys, "rollback", "--board", "sim-a", "--inventory", inv)
    assert code == 0, err
    assert doc["sim-a"]["active"]["digest"] == digests[0] and doc["sim-a"]["previous"]["digest"] == digests[2]
    assert doc["sim-a"]["smoke"]["ok"]
    assert os.readlink(Path(board.root) / "current" / "runtime").endswith(runtime_wheel.id)  # switched with it
    code, doc, err = cli_json(capsys, "status", "--board", "sim-a", "--inventory", inv)
    assert doc["sim-a"]["active"]["digest"] == digests[0]
    code, doc, err = cli_json(capsys, "rollback", "--board", "sim-a", "--inventory", inv)  # and forward again
    assert doc["sim-a"]["active"]["digest"] == digests[2]
    assert _active(board).startswith("releases/")
