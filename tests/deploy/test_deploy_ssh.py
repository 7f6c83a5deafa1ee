"""SSH machinery against real loopback OpenSSH servers: host keys, auth, reachability, board checks."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from deploy_helpers import assemble_bundle
from loopback_sshd import free_port, keygen
from sustainml.host.deploy.errors import (AuthFailed, DeployError, DiskFull, HostKeyChanged, PartMismatch,
                                          RemotePythonError, UnknownHostKey, Unreachable)
from sustainml.host.deploy.fleet import session
from sustainml.host.deploy.inventory import load_inventory
from sustainml.host.deploy.push import push
from sustainml.host.deploy_cli import main


def _entry(inv, name="sim-a"):
    return inv.boards[name]


def test_info_runs_from_stdin_on_a_board_without_our_package(inventory, board_python):
    with session(_entry(inventory), inventory.known_hosts) as remote:
        info = remote.info()
    assert info["executable"].startswith(str(Path(board_python).parent.parent))  # the board venv, not ours
    assert info["pynq"] == "4.0.0" and info["numpy"].startswith("1.26") and info["pip"]
    assert info["runtimes"] == [] and info["active"] is None
    assert info["free_bytes"] > 0


def test_unknown_host_key_is_refused_then_accepted_explicitly(make_inventory, tmp_path, sshds, user_key):
    kh = tmp_path / "user_known_hosts"
    kind, blob = Path(f"{user_key}.pub").read_text().split()[:2]
    existing = f"# my hosts\nother.example.org {kind} {blob}\n"
    kh.write_text(existing)
    inv = load_inventory(make_inventory(), known_hosts=kh)
    board = _entry(inv)
    with pytest.raises(UnknownHostKey, match=r"host key ssh-ed25519 SHA256:\S+ is not in .*--accept-new-host-key"):
        session(board, inv.known_hosts).__enter__()
    assert kh.read_text() == existing
    with session(board, inv.known_hosts, accept_new_host_key=True) as remote:
        assert remote.info()["python"]
    assert kh.read_text() == existing + sshds["sim-a"].host_key_line  # appended; nothing else rewritten
    with session(board, inv.known_hosts) as remote:  # recorded: no flag needed any more
        assert remote.info()["python"]


def test_known_hosts_paramiko_cannot_read_is_one_line(make_inventory, tmp_path, user_key):
    kind, blob = Path(f"{user_key}.pub").read_text().split()[:2]
    kh = tmp_path / "kh_ca"
    kh.write_text(f"@cert-authority *.example.org {kind} {blob}\n")
    inv = load_inventory(make_inventory(), known_hosts=kh)
    with pytest.raises(DeployError, match=r"kh_ca: unreadable line '@cert-authority \*.example.org .*--known-hosts"):
        session(_entry(inv), inv.known_hosts).__enter__()


def test_changed_host_key_is_refused_even_with_accept_new(make_inventory, tmp_path, sshds):
    other = keygen(tmp_path / "impostor")
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]
    kh = tmp_path / "kh_changed"
    kh.write_text(f"[127.0.0.1]:{sshds['sim-a'].port} {kind} {blob}\n")
    inv = load_inventory(make_inventory(), known_hosts=kh)
    with pytest.raises(HostKeyChanged, match=r"host key changed: got ssh-ed25519 .*ssh-keygen -R '\[127.0.0.1\]:\d+'"):
        session(_entry(inv), inv.known_hosts, accept_new_host_key=True).__enter__()
    assert kh.read_text().count("\n") == 1  # not overwritten


def test_wrong_key_is_authentication_failure(make_inventory, tmp_path):
    stranger = keygen(tmp_path / "stranger")
    inv = load_inventory(make_inventory(**{"sim-a": {"key": str(stranger), "user": "root"}}))
    with pytest.raises(AuthFailed, match=r"sim-a \(root@127.0.0.1:\d+\): authentication failed as 'root' with key .*stranger"):
        session(_entry(inv), inv.known_hosts).__enter__()


def test_refused_port_is_unreachable(make_inventory):
    inv = load_inventory(make_inventory(**{"sim-a": {"port": free_port()}}))
    with pytest.raises(Unreachable, match=r"host unreachable: connection refused"):
        session(_entry(inv), inv.known_hosts).__enter__()


def test_silent_server_times_out_with_a_clear_message(make_inventory):
    with socket.socket() as silent:  # accepts TCP (kernel backlog) but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        inv = load_inventory(make_inventory(**{"sim-a": {"port": silent.getsockname()[1], "connect_timeout": 1}}))
        t0 = time.monotonic()
        with pytest.raises(Unreachable, match=r"host unreachable: no SSH handshake within 1 s \(is port \d+ an SSH server\?\)"):
            session(_entry(inv), inv.known_hosts).__enter__()
        assert time.monotonic() - t0 < 5


def test_part_mismatch_is_refused_before_connecting(make_inventory, tmp_path, runtime_wheel):
    bundle = assemble_bundle(tmp_path / "z2", board="pynq-z2")
    # Declared zcu104, and pointed at a closed port: a connection attempt would say "unreachable".
    inv = load_inventory(make_inventory(**{"sim-a": {"board": "zcu104", "port": free_port()}}))
    [out] = push(bundle, [_entry(inv)], runtime_wheel, inv.known_hosts)
    assert out.kind == "PartMismatch"
    assert "built for part xc7z020clg400-1 (pynq-z2), this board is xczu7ev-ffvc1156-2-e" in out.error
    assert "nothing uploaded" in out.error


def test_part_mismatch_on_reachable_board_uploads_nothing(make_inventory, tmp_path, runtime_wheel):
    bundle = assemble_bundle(tmp_path / "z2", board="pynq-z2")
    inv = load_inventory(make_inventory(**{"sim-a": {"board": "zcu104"}}))
    outs = push(bundle, [inv.boards["sim-a"], inv.boards["sim-b"]], runtime_wheel, inv.known_hosts)
    assert outs[0].kind == PartMismatch.__name__
    assert not Path(inv.boards["sim-a"].root).exists()  # nothing was created on that board


def test_python_without_pynq_is_refused_before_upload(make_inventory, bare_python, tmp_path, runtime_wheel):
    bundle = assemble_bundle(tmp_path / "b")
    inv = load_inventory(make_inventory(**{"sim-a": {"python": bare_python}}))
    [out] = push(bundle, [_entry(inv)], runtime_wheel, inv.known_hosts)
    assert out.kind == RemotePythonError.__name__
    assert f"remote Python {bare_python} is missing pynq, numpy, pyyaml, pip" in out.error
    assert not Path(_entry(inv).root).exists()


def test_missing_python_is_named(make_inventory, tmp_path, runtime_wheel):
    inv = load_inventory(make_inventory(**{"sim-a": {"python": str(tmp_path / "no" / "python")}}))
    with session(_entry(inv), inv.known_hosts) as remote, pytest.raises(RemotePythonError, match="not found"):
        remote.info()


def test_disk_full_is_refused_before_upload(make_inventory, tmp_path, runtime_wheel):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    try:
        bundle = assemble_bundle(tmp_path / "big", pad_bytes=2 * 2**20)
        inv = load_inventory(make_inventory(**{"sim-a": {"root": str(small / "sustainml")}}))
        [out] = push(bundle, [_entry(inv)], runtime_wheel, inv.known_hosts)
        assert out.kind == DiskFull.__name__
        assert "disk full: 1.0 MB free under" in out.error and "nothing uploaded" in out.error
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_remote_commands_quote_every_word(inventory, tmp_path):
    weird = tmp_path / "we ird; $(touch PWNED) `touch PWNED2` 'q\"\\"
    with session(_entry(inventory), inventory.known_hosts) as remote:
        remote.sh(["mkdir", "-p", "--", str(weird)], "making a weird directory")
    assert weird.is_dir()
    assert not list(Path.cwd().glob("PWNED*")) and not list(Path("/").glob("PWNED*"))


@pytest.mark.parametrize("boards, message", [
    ({"x": {"host": "h", "user": "u", "board": "pynq-z2", "root": "/r", "password": "hunter2"}},
     "'password' is not allowed: no passwords in the inventory"),
    ({"x": {"host": "h", "user": "u", "board": "pynq-z9", "root": "/r"}}, "unknown board 'pynq-z9'"),
    ({"x": {"host": "h", "user": "u", "board": "pynq-z2", "root": "/r", "prot": 22}}, "unknown field 'prot'"),
    ({"x": {"host": "h", "user": "u", "board": "pynq-z2", "root": "r"}}, "root must be an absolute path"),
    ({"x": {"host": "h", "board": "pynq-z2", "root": "/r"}}, "missing field 'user'"),
])
def test_bad_inventory_is_one_line(tmp_path, capsys, boards, message):
    inv = tmp_path / "boards.yaml"
    inv.write_text(yaml.safe_dump({"boards": boards}))
    assert main(["status", "--inventory", str(inv)]) == 2
    err = capsys.readouterr().err
    assert message in err and f"{inv}: board 'x'" in err and err.count("\n") == 1


def test_unknown_board_name_and_missing_inventory(make_inventory, tmp_path, capsys):
    assert main(["status", "--inventory", str(make_inventory()), "--board", "sim-c"]) == 2
    assert "no board named 'sim-c' (known: sim-a, sim-b)" in capsys.readouterr().err
    assert main(["status", "--inventory", str(tmp_path / "none.yaml")]) == 2
    assert "board inventory not found" in capsys.readouterr().err


def test_boards_command_reports_each_board_separately(make_inventory, capsys):
    inv = make_inventory(**{"sim-c": {"port": free_port()}})
    assert main(["boards", "--inventory", str(inv), "--json"]) == 1  # one board down
    out = capsys.readouterr()
    doc = yaml.safe_load(out.out)
    assert doc["sim-a"]["ok"] and doc["sim-b"]["ok"] and doc["sim-a"]["pynq"] == "4.0.0"
    assert doc["sim-c"] == {"ok": False, "kind": "Unreachable", "error": doc["sim-c"]["error"]}
    assert "sim-c (" in out.err and "host unreachable" in out.err
