"""Fixtures for deployment tests: two loopback OpenSSH "boards", their Python, inventories, bundles.

The sim boards' Python is a venv that sees the host venv's numpy, pyyaml, pynq and pip (through a
``.pth`` line) but not sustainml: everything of ours it runs comes from the pushed runtime wheel.
"""
from __future__ import annotations

import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import pytest
import yaml

from deploy_helpers import build_small_rtlsim_bundle, build_small_sim_bundle, derive_bundle
from loopback_sshd import LoopbackSshd, find_sshd, keygen


@pytest.fixture(scope="session")
def ssh_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ssh")


@pytest.fixture(scope="session")
def user_key(ssh_dir) -> Path:
    """A throwaway client key; the loopback servers accept only it."""
    key = keygen(ssh_dir / "id_ed25519")
    (ssh_dir / "authorized_keys").write_text((ssh_dir / "id_ed25519.pub").read_text())
    return key


@pytest.fixture(scope="session")
def sshds(ssh_dir, user_key) -> Iterator[Dict[str, LoopbackSshd]]:
    """Two real sshd instances on 127.0.0.1: the boards sim-a and sim-b."""
    if not find_sshd():
        pytest.skip("openssh-server is not installed (scripts/setup installs it)")
    servers = {name: LoopbackSshd(ssh_dir / name, ssh_dir / "authorized_keys") for name in ("sim-a", "sim-b")}
    try:
        for s in servers.values():
            s.start()
        yield servers
    finally:
        for s in servers.values():
            s.stop()


def _venv(path: Path, pth_to: Optional[List[str]]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    if pth_to:
        purelib = subprocess.run([str(path / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        Path(purelib, "host-packages.pth").write_text("\n".join(pth_to) + "\n")
    return path / "bin" / "python"


@pytest.fixture(scope="session")
def board_python(tmp_path_factory) -> str:
    """A board Python with numpy, pyyaml, pynq and pip, and no sustainml."""
    # every site directory this interpreter sees (a worktree venv may chain another venv's through a .pth)
    dirs = list(dict.fromkeys(site.getsitepackages() + [p for p in sys.path if p.endswith("-packages")]))
    py = _venv(tmp_path_factory.mktemp("board-venv") / "venv", dirs)
    probe = subprocess.run([str(py), "-c", "import numpy, yaml, pynq, pip\ntry:\n import sustainml\nexcept ImportError:\n print('clean')"],
                           capture_output=True, text=True, cwd=py.parent)
    assert probe.stdout.strip() == "clean", probe.stderr
    return str(py)


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> str:
    """A Python without pynq (what /usr/bin/python3 is on a PYNQ image)."""
    return str(_venv(tmp_path_factory.mktemp("bare-venv") / "venv", None))


@pytest.fixture(scope="session")
def runtime_wheel(tmp_path_factory):
    from sustainml.host.deploy.runtime_wheel import build_runtime_wheel

    return build_runtime_wheel(cache_dir=tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def known_hosts(tmp_path, sshds) -> Path:
    """A per-test known_hosts that already trusts both loopback boards."""
    kh = tmp_path / "known_hosts"
    kh.write_text("".join(s.host_key_line for s in sshds.values()))
    return kh


@pytest.fixture
def make_inventory(tmp_path, sshds, user_key, board_python, known_hosts) -> Callable[..., Path]:
    """Write a boards.yaml for sim-a / sim-b (roots under tmp_path); keyword overrides per board."""

    def make(**overrides: Dict[str, Any]) -> Path:
        boards = {}
        for name, s in sshds.items():
            boards[name] = {"host": "127.0.0.1", "port": s.port, "user": s.user, "key": str(user_key),
                            "board": "pynq-z2", "python": board_python, "root": str(tmp_path / "boards" / name),
                            "simulated": True, "connect_timeout": 5, "reserve_mb": 0}
        for name, fields in overrides.items():
            boards[name] = {**boards.get(name, boards["sim-a"]), **fields}
        path = tmp_path / "boards.yaml"
        path.write_text(yaml.safe_dump({"known_hosts": str(known_hosts), "boards": boards}))
        return path

    return make


@pytest.fixture
def inventory(make_inventory):
    from sustainml.host.deploy.inventory import load_inventory

    return load_inventory(make_inventory())



@pytest.fixture(scope="session")
def sim_bundle(request, tmp_path_factory) -> Path:
    """A real sim overlay bundle (C-sim library + hwh + golden vectors): the session's
    ``reference_bundle`` when tests/conftest.py provides one, else a small generated model."""
    try:
        return Path(request.getfixturevalue("reference_bundle"))
    except pytest.FixtureLookupError:
        return build_small_sim_bundle(tmp_path_factory.mktemp("small-overlay"))


@pytest.fixture(scope="session")
def variant(sim_bundle, tmp_path_factory) -> Callable[..., Path]:
    """``variant(tag, extra={file: bytes}, golden_delta=0)``: a copy of the sim bundle with extra
    files and/or a golden output changed by ``golden_delta`` at one position, re-manifested."""

    def make(tag: str, extra: Optional[Dict[str, bytes]] = None, golden_delta: int = 0) -> Path:
        return derive_bundle(sim_bundle, tmp_path_factory.mktemp(tag) / sim_bundle.name, extra, golden_delta)

    return make


@dataclass(frozen=True)
class Target:
    """Where the `board` tests run: an inventory, one of its boards, and a bundle for its part."""

    inventory: Path
    board: str
    bundle: Path
    real: bool


@pytest.fixture
def target(request) -> Target:
    """The first ``--board`` of the board-test plugin (with its inventory and bundle): that real
    board; otherwise the loopback sim board sim-a with the session's sim bundle."""
    from sustainml.pytest_plugin import selection

    sel = selection(request.config)
    if not sel.names:
        make_inventory = request.getfixturevalue("make_inventory")
        return Target(make_inventory(), "sim-a", request.getfixturevalue("sim_bundle"), real=False)
    t = sel.target(sel.names[0])
    return Target(sel.inventory.path, t.name, t.bundle, real=True)


@pytest.fixture(scope="session")
def battery_inventory(sshds, user_key, board_python, tmp_path_factory) -> Path:
    """A session inventory with the loopback board sim-a (its own overlay root), host key trusted."""
    d = tmp_path_factory.mktemp("battery-board")
    (d / "known_hosts").write_text(sshds["sim-a"].host_key_line)
    s = sshds["sim-a"]
    entry = {"host": "127.0.0.1", "port": s.port, "user": s.user, "key": str(user_key), "board": "pynq-z2",
             "python": board_python, "root": str(d / "root"), "simulated": True, "connect_timeout": 5,
             "reserve_mb": 0}
    path = d / "boards.yaml"
    path.write_text(yaml.safe_dump({"known_hosts": "known_hosts", "boards": {"sim-a": entry}}))
    return path


@pytest.fixture(scope="session")
def rtl_bundle(tmp_path_factory) -> Path:
    """The small model as an rtlsim bundle: hardware time and power are measured only on a circuit."""
    return build_small_rtlsim_bundle(tmp_path_factory.mktemp("small-rtl"))


@pytest.fixture(scope="session")
def battery_bundle(rtl_bundle, tmp_path_factory) -> Path:
    """The small rtlsim bundle (the battery measures hardware time and energy) with a test set
    attached (seeded inputs, random labels)."""
    from sustainml.board.bundle import load_bundle
    from sustainml.testing.onboard import attach_test_set

    dst = derive_bundle(rtl_bundle, tmp_path_factory.mktemp("battery-bundle") / rtl_bundle.name)
    spec = load_bundle(dst).input
    rng = np.random.default_rng(7)
    x = rng.integers(spec.lo, spec.hi + 1, size=(200,) + spec.shape).astype(spec.np_dtype)
    labels = rng.integers(0, int(np.prod(load_bundle(dst).output.shape)), size=200)
    return attach_test_set(dst, x, labels)


@pytest.fixture(scope="session")
def sustainml_default_board(battery_inventory, battery_bundle, sim_bundle, runtime_wheel):
    """The board the on-board battery uses without ``--board``: loopback sim-a, already holding a
    release (the plain sim bundle) for the battery to leave active again."""
    from sustainml.host.deploy.inventory import load_inventory
    from sustainml.host.deploy.push import push
    from sustainml.testing.onboard import BoardTarget

    inv = load_inventory(battery_inventory)
    [first] = push(sim_bundle, [inv.boards["sim-a"]], runtime_wheel, inv.known_hosts)
    assert first.ok, first.error
    return BoardTarget(inv.boards["sim-a"], inv.known_hosts, battery_bundle, real=False)


@pytest.fixture(scope="session")
def runtime_wheel_v2(tmp_path_factory):
    """A second runtime: this project's source with one changed byte (an upgrade)."""
    import shutil

    from sustainml import REPO_ROOT
    from sustainml.host.deploy.runtime_wheel import SOURCES, build_runtime_wheel

    src = tmp_path_factory.mktemp("src-v2")
    for name in SOURCES:
        p = REPO_ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        elif p.is_file():
            shutil.copy2(p, src / name)
    with open(src / "board" / "__init__.py", "a") as f:
        f.write("# v2\n")
    return build_runtime_wheel(cache_dir=tmp_path_factory.mktemp("wheels-v2"), source=src)
