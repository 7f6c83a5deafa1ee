"""Deployment hardening (issue 18) against the loopback OpenSSH boards: hostile bundles and
inventories, frozen boards, edited manifests, bad inference input, clear messages."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from deploy_helpers import assemble_bundle, forge_manifest
from loopback_sshd import free_port, signal_all
from sustainml.board.bundle import IoSpec, float_golden_input, load_bundle, write_manifest
from sustainml.host.deploy.inventory import load_inventory
from sustainml.host.deploy.push import push
from sustainml.host.deploy_cli import main


def cli(capfd, *argv) -> tuple:
    code = main([str(a) for a in argv])
    out = capfd.readouterr()
    return code, out.out, out.err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------ 1. paths outside the root
def test_bundle_keys_leaving_the_root_never_write_outside_it(make_inventory, tmp_path, runtime_wheel, capfd):
    inv = make_inventory()
    root = Path(load_inventory(inv).boards["sim-a"].root)  # tmp_path/boards/sim-a
    # ROOT/staging/<token>/bundle/../../../../X is tmp_path/boards/X, outside the overlay root
    bundle = assemble_bundle(tmp_path / "h" / "1" / "2" / "3" / "bundle")
    payload = b"written by a hostile bundle\n"
    (tmp_path / "h" / "X").write_bytes(payload)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    sha = hashlib.sha256(payload).hexdigest()
    for key, escaped in (("../../../../X", tmp_path / "boards" / "X"), (str(victim), victim)):
        forge_manifest(bundle, lambda d: d["files"].update({key: sha}))
        code, out, err = cli(capfd, "push", bundle, "--board", "sim-a", "--inventory", inv,
                             "--runtime-wheel", runtime_wheel.path)
        assert code == 2, err
        assert f"files key {key!r} must be a relative path" in one_error_line(err)
        assert not root.exists()  # refused before connecting
        assert not (tmp_path / "boards" / "X").exists() and victim.read_bytes() == b"precious\n", escaped
        forge_manifest(bundle, lambda d: d["files"].pop(key))


def test_a_bundle_file_linking_outside_the_bundle_is_refused(tmp_path):
    """A listed file that is a symlink to a host file (its sha256 matching) would upload that file."""
    from sustainml.board.errors import BundleError

    secret = tmp_path / "id_ed25519"
    secret.write_bytes(b"host secret\n")
    bundle = assemble_bundle(tmp_path / "b")
    (bundle / "notes.txt").symlink_to(secret)
    forge_manifest(bundle, lambda d: d["files"].update({"notes.txt": hashlib.sha256(b"host secret\n").hexdigest()}))
    with pytest.raises(BundleError, match=r"files key 'notes.txt' resolves to .*id_ed25519, outside"):
        load_bundle(bundle)


def test_board_agent_refuses_a_staged_bundle_leaving_its_root(tmp_path, capsys):
    """The board checks again before writing: a stage that reached it by other means is refused."""
    import json

    from sustainml.board import agent

    root = tmp_path / "root"
    (root / "runtime" / "rt").mkdir(parents=True)
    staged = assemble_bundle(root / "staging" / "t" / "bundle")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    forge_manifest(staged, lambda d: d["files"].update({"../../../../outside.bin": hashlib.sha256(b"x").hexdigest()}))
    for argv in (("verify", staged), ("activate", staged, "--runtime", "rt")):
        code = agent.main(["--root", str(root), *map(str, argv)])
        doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert code == 2 and "must be a relative path of safe names" in doc["error"], doc
    assert not (root / "current").exists() and not list((root / "releases").glob(".incoming-*"))
    code = agent.main(["--root", str(root / ".." / "elsewhere"), "info"])
    assert code == 2 and "--root" in capsys.readouterr().out


def test_pull_for_a_board_named_to_escape_dest_is_refused(make_inventory, tmp_path, capfd):
    inv = make_inventory(**{"../../escape": {}})
    code, out, err = cli(capfd, "pull", "--board", "../../escape", "--inventory", inv, "--dest", tmp_path / "d" / "e")
    assert code == 2 and "board name '../../escape' is not a safe name" in one_error_line(err)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "d").exists()


# ------------------------------------------------------------------ 2. a frozen board
def test_a_sigstopped_board_fails_by_its_deadline_while_the_other_is_printed(
        make_inventory, sim_bundle, variant, runtime_wheel, sshds, tmp_path):
    import re

    deadline = 5
    inv = make_inventory(**{"sim-a": {"deadlines": {"upload": deadline}, "keepalive": 1}})
    boards = load_inventory(inv).boards
    # B has the runtime already (A installs it first), so B is usually done well before A's deadline
    [pre] = push(sim_bundle, [boards["sim-b"]], runtime_wheel, load_inventory(inv).known_hosts)
    assert pre.ok, pre.error
    big = variant("frozen", extra={"pad.bin": os.urandom(16 * 2**20)})
    staging = Path(boards["sim-a"].root) / "staging"
    stopped: list = []

    def freeze_a_mid_upload() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end and not stopped:
            if any(p.stat().st_size > 2**20 for p in staging.glob("*/bundle/pad.bin")):
                pids = sshds["sim-a"].sessions()
                signal_all(pids, signal.SIGSTOP)
                stopped.append((time.monotonic(), pids))
            time.sleep(0.005)

    watcher = threading.Thread(target=freeze_a_mid_upload, daemon=True)
    watcher.start()
    proc = subprocess.Popen([sys.executable, "-m", "sustainml.host.deploy_cli", "push", str(big), "--board", "sim-a",
                             "--board", "sim-b", "--inventory", str(inv), "--runtime-wheel", str(runtime_wheel.path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stderr:  # progress and each board's line as it finishes, timed as they arrive
            lines.append((time.monotonic(), line.rstrip()))
        err = "\n".join(ln for _, ln in lines)
        code = proc.wait(timeout=60)
        ended = time.monotonic()
    finally:
        watcher.join(timeout=5)
        if stopped:
            signal_all(stopped[0][1], signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    assert stopped and stopped[0][1], "board A was never frozen mid-upload"
    assert code == 1, err
    assert "sim-a" in proc.stdout.read()  # the table
    [(t_a, line_a)] = [(t, ln) for t, ln in lines if ln.startswith("sim-a: FAILED (DeadlinePassed) after ")]
    [(t_b, line_b)] = [(t, ln) for t, ln in lines if ln.startswith("sim-b: ok, ")]
    assert t_a - stopped[0][0] < deadline + 10 and ended - stopped[0][0] < deadline + 10
    # each line arrives when its board finishes: the gap between the lines is the gap between the
    # boards' own durations (printing both at the end would put them together)
    s_a, s_b = (float(re.search(r"after ([\d.]+) s", ln).group(1)) for ln in (line_a, line_b))
    print(f"A failed {t_a - stopped[0][0]:.1f} s after the freeze; durations A {s_a} s, B {s_b} s; "
          f"lines {t_a - t_b:+.2f} s apart")
    assert abs((t_a - t_b) - (s_a - s_b)) < 2.0, (s_a, s_b, t_a - t_b)
    assert f"deadline passed: uploading the bundle took more than {deadline} s (deadlines.upload" in err
    assert "Traceback" not in err


def test_a_command_past_its_deadline_fails_alone(make_inventory, tmp_path):
    from sustainml.host.deploy.errors import DeadlinePassed
    from sustainml.host.deploy.fleet import for_each, session

    inv = load_inventory(make_inventory(**{"sim-a": {"deadlines": {"command": 1}}}))

    def sleep(board):
        with session(board, inv.known_hosts) as remote:
            t0 = time.monotonic()
            try:
                remote.sh(["sleep", "30"], "sleeping")
            finally:
                took = time.monotonic() - t0
        return took

    a, b = for_each([inv.boards["sim-a"], inv.boards["sim-b"]], lambda board: (
        sleep(board) if board.name == "sim-a" else "ok"))
    assert a.kind == DeadlinePassed.__name__ and a.seconds < 1 + 10
    assert "deadline passed: sleeping took more than 1 s (deadlines.command in the inventory)" in a.error
    assert b.ok and b.value == "ok"


# ------------------------------------------------------------------ 3. the manifest's digest
def test_an_edited_manifest_is_refused_before_connecting(make_inventory, variant, runtime_wheel, tmp_path, capfd):
    inv = make_inventory()
    edited = variant("edited")
    doc = yaml.safe_load((edited / "manifest.yaml").read_text())
    doc["io"]["input"]["frac"] += 2
    (edited / "manifest.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    code, out, err = cli(capfd, "push", edited, "--board", "sim-a", "--inventory", inv,
                         "--runtime-wheel", runtime_wheel.path)
    assert code == 2 and "the manifest was edited after the bundle was built" in one_error_line(err)
    assert not Path(load_inventory(inv).boards["sim-a"].root).exists()


def test_a_manifest_edited_on_the_board_is_refused_there(inventory, variant, runtime_wheel):
    board = inventory.boards["sim-a"]

    def edit_on_board(b, what: str) -> None:
        if what.startswith("verifying"):
            [m] = Path(board.root).glob("staging/*/bundle/manifest.yaml")
            m.write_text(m.read_text().replace("frac: ", "frac: 2", 1))

    [out] = push(variant("board-edit"), [board], runtime_wheel, inventory.known_hosts, step=edit_on_board)
    assert not out.ok and "the manifest was edited after the bundle was built" in out.error, out
    assert not (Path(board.root) / "current").exists()


def test_a_redigested_frac_edit_fails_the_float_smoke_test(inventory, sim_bundle, variant, runtime_wheel):
    assert load_bundle(sim_bundle).golden_float() is not None
    edited = variant("frac")
    doc = yaml.safe_load((edited / "manifest.yaml").read_text())
    doc["io"]["input"]["frac"] += 2
    doc.pop("files")
    write_manifest(edited, doc)  # a consistent digest: only the smoke test's float path can tell
    [out] = push(edited, [inventory.boards["sim-a"]], runtime_wheel, inventory.known_hosts)
    assert out.kind == "SmokeMismatch" and "(float path)" in out.error, out
    assert not (Path(inventory.boards["sim-a"].root) / "current").exists()


@pytest.mark.parametrize("spec, golden", [
    (IoSpec((16, 1), "int8", 8, True, 4), np.random.default_rng(1).integers(-128, 128, (4, 16, 1)).astype(np.int8)),
    (IoSpec((16, 1), "int16", 12, True, 9), np.random.default_rng(2).integers(-2048, 2048, (4, 16, 1)).astype(np.int16)),
    (IoSpec((192,), "uint8", 8, True, 4, "fp8-e5m2", 15, "in_bias"),  # every finite E5M2 code
     np.array([[c for c in range(256) if c & 0x7C != 0x7C]], dtype=np.uint8)),
])
def test_float_golden_input_quantizes_back_only_with_the_right_io(spec, golden):
    from dataclasses import replace

    x = float_golden_input(spec, golden)
    assert x is not None and x.dtype == np.float64 and np.array_equal(spec.quantize(x), golden)
    if not spec.fp8:  # sub-LSB offsets: a quantizer that truncates, or another frac, gets other values
        assert np.abs(x * 2.0 ** spec.frac - golden).max() > 0.2
        assert not np.array_equal(replace(spec, frac=spec.frac + 2).quantize(x), golden)
        assert not np.array_equal(np.trunc(x * 2.0 ** spec.frac), golden)


# ------------------------------------------------------------------ 4. hostile names and roots
@pytest.mark.parametrize("field, value, message", [
    ("root", "{tmp}/x;touch PWNED", "x;touch PWNED' must be an absolute path of safe names"),
    ("root", "{tmp}/../etc", "/../etc' must be an absolute path of safe names"),
    ("python", "python3 -c 'import os'", "python \"python3 -c 'import os'\" is not a safe name"),
    ("user", "x$(id)", "user 'x$(id)' is not a user name"),
])
def test_hostile_inventory_fields_are_refused_before_connecting(make_inventory, sim_bundle, runtime_wheel, tmp_path,
                                                                 capfd, field, value, message):
    inv = make_inventory(**{"sim-a": {field: value.format(tmp=tmp_path)}})
    code, out, err = cli(capfd, "push", sim_bundle, "--board", "sim-a", "--inventory", inv,
                         "--runtime-wheel", runtime_wheel.path)
    assert code == 2 and message in one_error_line(err)
    assert not list(tmp_path.glob("x;touch*")) and not (tmp_path / "boards").exists()


@pytest.mark.parametrize("name", ["evil$(touch PWNED)", "sub/dir", ".hidden"])
def test_hostile_overlay_names_are_refused_before_connecting(make_inventory, tmp_path, runtime_wheel, capfd, name):
    bundle = tmp_path / "bundle"
    (bundle / "sub").mkdir(parents=True)
    shutil.copytree(assemble_bundle(tmp_path / "ok"), bundle, dirs_exist_ok=True)
    (bundle / "tiny.hwh").rename(bundle / f"{name}.hwh")
    forge_manifest(bundle, lambda d: (d.update(name=name), d["files"].update(
        {f"{name}.hwh": d["files"].pop("tiny.hwh")})))
    inv = make_inventory()
    code, out, err = cli(capfd, "push", bundle, "--board", "sim-a", "--inventory", inv,
                         "--runtime-wheel", runtime_wheel.path)
    assert code == 2 and f"name {name!r} is not a safe name" in one_error_line(err)
    assert not (tmp_path / "boards").exists()


def test_the_name_and_path_rules():
    from sustainml.board.names import UnsafeName, check_abspath, check_name, check_relpath

    for ok in ("/usr/local/share/pynq-venv/bin/python", "/home/me/.venv/bin/python", "/r", "/a+b/c-d_e.f"):
        assert check_abspath(ok, "p") == ok
    for ok in ("x.npy", "sub/.hidden", "lib+1/a-b_c.so"):
        assert check_relpath(ok, "p") == ok
    for ok in ("z2-lab", "ecg_baseline_sim", "cal-pynq-z2-s0-001", "0.1.0-70e573c3008c"):
        assert check_name(ok, "n") == ok
    for fn, bad in [(check_abspath, p) for p in ("r", "/a/../b", "/a/./b", "/a b", "/x;y", "/$(id)", "/a\nb")] + \
                   [(check_relpath, p) for p in ("", "..", "../x", "a/../b", "/abs", "a//b", "./a", "a/.", "a\\b")] + \
                   [(check_name, n) for n in ("", ".", "..", ".hidden", "a/b", "a b", "$(id)", "x" * 129, 7)]:
        with pytest.raises(UnsafeName):
            fn(bad, "w")


# ------------------------------------------------------------------ 5. bad inference input
@pytest.mark.parametrize("x, message", [
    (np.array([[[np.nan]] * 4]), "4 non-finite value(s) (first nan at (0, 0, 0))"),
    (np.array([[[1.0]] * 3 + [[-np.inf]]]), "1 non-finite value(s) (first -inf at (0, 3, 0))"),
    (np.ones((2, 16, 1)) * (1 + 2j), "complex input (complex128)"),
    (np.zeros((0, 16, 1)), "shape (0, 16, 1): expected (N, L) or (N, L, C) with N, L, C >= 1"),
    (np.zeros(16), "shape (16,)"),
    (np.array([{"a": 1}], dtype=object), "not a numeric .npy array: it holds Python objects"),
    (np.array(["a", "b"]), "dtype <U1 is not a real number type"),
    (np.array([[2**40]]), "integer range [1099511627776, 1099511627776] exceeds every input container (int32)"),
])
def test_bad_inference_input_is_refused_before_connecting(make_inventory, tmp_path, capfd, x, message):
    # a closed port: reaching the connection would print "host unreachable" and exit 1
    inv = make_inventory(**{"sim-a": {"port": free_port()}})
    path = tmp_path / "x.npy"
    np.save(path, x, allow_pickle=True)
    code, out, err = cli(capfd, "infer", "--board", "sim-a", path, "--inventory", inv)
    assert code == 2 and f"{path}: {message}" in one_error_line(err)


def test_allow_nonfinite_lets_the_batch_through(make_inventory, tmp_path, capfd):
    inv = make_inventory(**{"sim-a": {"port": free_port()}})
    np.save(tmp_path / "x.npy", np.array([[[np.inf]] * 16]))
    code, out, err = cli(capfd, "infer", "--board", "sim-a", tmp_path / "x.npy", "--inventory", inv,
                         "--allow-nonfinite")
    assert code == 1 and "host unreachable" in err  # past the input checks, on to the board


def test_input_is_checked_against_the_active_overlay_before_upload(make_inventory, sim_bundle, runtime_wheel,
                                                                   tmp_path, capfd):
    inv = make_inventory()
    code, out, err = cli(capfd, "push", sim_bundle, "--board", "sim-a", "--inventory", inv,
                         "--runtime-wheel", runtime_wheel.path)
    assert code == 0, err
    gx, gy = load_bundle(sim_bundle).golden()
    spec = load_bundle(sim_bundle).input
    for x, message in ((gx[:, :-1], "do not match overlay"), (np.full_like(gx, spec.hi + 1, dtype=np.int64),
                                                             f"exceeds overlay {load_bundle(sim_bundle).name}'s")):
        np.save(tmp_path / "x.npy", x)
        code, out, err = cli(capfd, "infer", "--board", "sim-a", tmp_path / "x.npy", "--inventory", inv)
        assert code == 2 and message in one_error_line(err)
    root = Path(load_inventory(inv).boards["sim-a"].root)
    assert list((root / "staging").iterdir()) == []  # nothing was uploaded
    x = load_bundle(sim_bundle).golden_float()  # floats go through the manifest's quantizer
    np.save(tmp_path / "f.npy", x)
    code, out, err = cli(capfd, "infer", "--board", "sim-a", tmp_path / "f.npy", "--inventory", inv,
                         "--out", tmp_path / "y.npy")
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "y.npy"), gy)


# ------------------------------------------------------------------ 6. messages
def test_a_port_that_closes_without_a_greeting_is_one_line(make_inventory, capfd):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        stop = threading.Event()

        def close_each() -> None:
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                    conn.close()
                except OSError:
                    pass

        t = threading.Thread(target=close_each, daemon=True)
        t.start()
        try:
            inv = make_inventory(**{"sim-a": {"port": srv.getsockname()[1]}})
            code, out, err = cli(capfd, "boards", "--board", "sim-a", "--inventory", inv)
        finally:
            stop.set()
            t.join()
    assert code == 1
    assert "no SSH greeting: port" in one_error_line(err) and "closed the connection" in err


def test_a_disk_that_fills_says_disk_full(make_inventory, sim_bundle, variant, tmp_path, runtime_wheel, capfd):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(small)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    filler = small / "filler"

    def fill(leave: int) -> None:  # another process takes the space
        with open(filler, "wb") as f:
            f.write(b"\0" * (shutil.disk_usage(small).free - leave))

    try:
        inv = make_inventory(**{"sim-a": {"root": str(small / "sustainml")}})
        board = load_inventory(inv).boards["sim-a"]
        [first] = push(sim_bundle, [board], runtime_wheel, load_inventory(inv).known_hosts)
        assert first.ok, first.error
        # infer: the batch does not fit any more (SFTP said "size mismatch in put!")
        gx, _ = load_bundle(sim_bundle).golden()
        np.save(tmp_path / "x.npy", np.tile(gx, (2000 // len(gx) + 1, 1, 1)))
        fill(leave=4096)
        code, out, err = cli(capfd, "infer", "--board", "sim-a", tmp_path / "x.npy", "--inventory", inv)
        assert code == 1 and "disk full: uploading x.npy failed: 0.0 MB left under" in one_error_line(err)
        filler.unlink()
        # push: the space goes after the free-space check, during the upload (SFTP said "Failure")
        big = variant("fills", extra={"pad.bin": os.urandom(2 * 2**20)})
        [out] = push(big, [board], runtime_wheel, load_inventory(inv).known_hosts,
                     step=lambda b, what: what == "uploading bundle" and fill(leave=2**20))
        assert out.kind == "DiskFull", out
        assert "disk full: uploading pad.bin failed: " in out.error and "MB left under" in out.error
        assert os.readlink(small / "sustainml" / "current").endswith(first.value["release"]["release"])
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_status_shows_digests_literally(capfd, monkeypatch):
    """A digest starting with a letter inside brackets is not eaten as rich markup."""
    monkeypatch.setenv("COLUMNS", "200")
    from types import SimpleNamespace

    from sustainml.host.deploy.commands import status
    from sustainml.host.deploy.fleet import Outcome
    from sustainml.host.deploy.options import report

    rel = {"name": "ecg", "digest": "bf39cafe" * 8, "pushed_at": "now", "origin": "me@host", "runtime": "rt"}
    board = SimpleNamespace(name="z2")
    info = {"active": rel, "previous": {**rel, "digest": "deadbeef" * 8}, "staging": [], "results": []}
    assert report(SimpleNamespace(json=False), "status", status.COLUMNS, [Outcome(board, value=info)], status.row) == 0
    out = capfd.readouterr().out
    assert "ecg [bf39cafe" in out and "ecg [deadbeef" in out
