"""The search on a real Ray cluster as ``ray start`` makes one (token authentication on by
default once a token exists): a head node and a worker node as separate processes on
127.0.0.1, trainings on both, the worker node killed mid-search, every candidate journaled
exactly once. Both nodes are stopped by their process groups, never by ``ray stop`` (which
would stop every Ray on the machine)."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from sustainml.nas.search.ray_cluster import RayClusterError, find_token, probe  # noqa: E402

EVALUATIONS = 10
REQ = {
    "dataset": "ECG5000", "board": "pynq-z2", "seed": 5,
    "objectives": {"accuracy": "max", "energy_uj": "min"},
    "constraints": {"max_energy_uj": 40},
    "budget": {"evaluations": EVALUATIONS, "initial": 2, "population": 2, "mutants": 24, "generations": 30},
    "training": {"schedule": "quick", "float_epochs": 2, "qat_epochs": 1, "folded_epochs": 1},
    "space": {"blocks": [1, 2], "filters": [4, 8], "strides": [1, 2], "pools": [0, 4]},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli(*args: str) -> List[str]:
    # `python -m` of this interpreter: the nodes' workers import this checkout's sustainml
    return [sys.executable, "-m", "ray.scripts.scripts", *args]


def _start_node(args: List[str], env: Dict[str, str], log: Path) -> subprocess.Popen:
    ports = ["--dashboard-agent-listen-port", str(_free_port()), "--metrics-export-port", str(_free_port())]
    return subprocess.Popen(_ray_cli("start", "--block", "--disable-usage-stats", *args, *ports), env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _rows(journal: Path):
    db = sqlite3.connect(str(journal))
    try:
        return db.execute("SELECT id, key, status, metrics FROM candidates ORDER BY id").fetchall()
    finally:
        db.close()


def _wait_cluster(address: str, token_file: Path, nodes: int, timeout: float = 90) -> None:
    """Until ``nodes`` raylets are registered (asked through Ray's GCS, with the token)."""
    code = ("import ray,sys; from sustainml.nas.search.ray_cluster import connect; connect(sys.argv[1], sys.argv[2]);"
            "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", code, address, str(token_file)], capture_output=True, text=True,
                             timeout=60)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1] == str(nodes):
            return
        time.sleep(1)
    pytest.fail(f"the Ray cluster at {address} did not reach {nodes} nodes")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A token-authenticated head node and one worker node; yields (address, env, head, worker).
    Shared by this module's tests; the last one kills the worker node."""
    tmp_path = tmp_path_factory.mktemp("ray_cluster")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1")
    subprocess.run(_ray_cli("get-auth-token", "--generate"), env=env, check=True, capture_output=True, timeout=120)
    assert (home / ".ray" / "auth_token").is_file()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start_node(["--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
                        "--include-dashboard", "false", "--ray-client-server-port", str(_free_port())],
                       env, tmp_path / "head.log")
    worker = None
    try:
        deadline = time.time() + 90
        while True:  # the head answers (its GCS) before the worker joins
            try:
                probe(address, None)
            except RayClusterError as exc:
                if "requires token authentication" in str(exc):
                    break
                if time.time() > deadline:
                    raise
            time.sleep(0.5)
        # `ray start --address` (like ray.init with an address) only sends the token in token mode,
        # which Ray's token-auth guide sets with RAY_AUTH_MODE=token on joining nodes
        worker = _start_node(["--address", address, "--num-cpus", "1"], {**env, "RAY_AUTH_MODE": "token"},
                             tmp_path / "worker.log")
        _wait_cluster(address, home / ".ray" / "auth_token", 2)
        yield address, env, head, worker
    finally:
        for proc in (worker, head):
            if proc is not None:
                _kill(proc)
        # `ray start` records its cluster for later ray.init() calls; forget ours
        current = Path("/tmp/ray/ray_current_cluster")
        if current.is_file() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


def test_token_missing_or_wrong_is_one_line(tmp_path, cluster):
    address, env, _, _ = cluster
    req = tmp_path / "req.yaml"
    req.write_text(yaml.safe_dump({**REQ, "budget": {**REQ["budget"], "evaluations": 1, "initial": 1}}))
    base = [sys.executable, "-m", "sustainml.host.cli", "search", str(req), "--executor", "ray", "--address", address]
    nohome = tmp_path / "nohome"
    nohome.mkdir()
    env2 = {**env, "HOME": str(nohome)}
    out = subprocess.run(base + ["--out", str(tmp_path / "a")], env=env2, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "requires token authentication and no token was found" in out.stderr
    assert "Traceback" not in out.stderr and address in out.stderr
    wrong = tmp_path / "wrong_token"
    wrong.write_text("0" * 64)
    out = subprocess.run(base + ["--out", str(tmp_path / "b"), "--ray-token-file", str(wrong)], env=env2,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "rejected the token" in out.stderr and str(wrong) in out.stderr
    # the right token given explicitly from an empty HOME: the search runs on the cluster
    right = Path(env["HOME"]) / ".ray" / "auth_token"
    out = subprocess.run(base + ["--out", str(tmp_path / "c"), "--ray-token-file", str(right)], env=env2,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [r[2] for r in _rows(tmp_path / "c" / "journal.sqlite")] == ["done"]


def test_search_on_a_token_cluster_survives_a_killed_worker_node(tmp_path, cluster):
    address, env, head, worker = cluster
    # token authentication is on: without the token the cluster refuses, and says so
    with pytest.raises(RayClusterError, match="requires token authentication"):
        probe(address, None)
    req = tmp_path / "req.yaml"
    req.write_text(yaml.safe_dump(REQ))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "sustainml.host.cli", "search", str(req), "--out", str(run),
           "--executor", "ray", "--address", address, "--workers", "2"]
    search = subprocess.Popen(cmd, env={**env, "COLUMNS": "120"}, stdout=subprocess.DEVNULL,
                              stderr=(tmp_path / "search.log").open("w"), start_new_session=True)
    killed_after = None
    try:
        deadline = time.time() + 400
        while search.poll() is None and time.time() < deadline:
            time.sleep(0.5)
            if killed_after is None and (run / "journal.sqlite").exists():
                try:
                    rows = _rows(run / "journal.sqlite")
                except sqlite3.OperationalError:
                    continue
                done = [json.loads(r[3]) for r in rows if r[2] == "done"]
                if len({m["node"] for m in done}) == 2:  # trainings placed on both nodes
                    assert len(done) < EVALUATIONS, "the search ended before the worker could be killed"
                    _kill(worker)
                    killed_after = len(done)
        assert search.poll() == 0, (tmp_path / "search.log").read_text()[-3000:]
    finally:
        if search.poll() is None:
            os.killpg(search.pid, signal.SIGKILL)
            search.wait()
    assert killed_after is not None, "trainings never ran on both nodes"
    rows = _rows(run / "journal.sqlite")
    assert len(rows) == EVALUATIONS and [r[2] for r in rows] == ["done"] * EVALUATIONS
    assert len({r[1] for r in rows}) == EVALUATIONS  # no genotype twice
    assert len({r[0] for r in rows}) == EVALUATIONS
    nodes = [json.loads(r[3])["node"] for r in rows]
    assert len(set(nodes)) == 2
    assert (run / "pareto.md").is_file()


def test_find_token_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert find_token() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("home\n")
    assert find_token().value == "home"
    p = tmp_path / "path_token"
    p.write_text("path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(p))
    assert find_token().value == "path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "env")
    assert find_token().value == "env"
    f = tmp_path / "explicit"
    f.write_text("explicit")
    assert find_token(f).value == "explicit"
    with pytest.raises(RayClusterError, match="cannot read"):
        find_token(tmp_path / "missing")
