"""The board-side agent on its own (no SSH): release switching, pruning, errors, board-safety."""
from __future__ import annotations

import ast
import json
import os
import sys
import time
from pathlib import Path


from deploy_helpers import assemble_bundle
from sustainml.board import agent


def run_agent(capsys, root: Path, *argv) -> tuple:
    code = agent.main(["--root", str(root), *map(str, argv)])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def stage(root: Path, tag: str) -> Path:
    return assemble_bundle(root / "staging" / tag / "bundle", name=f"b{tag}")


def test_activate_switches_current_and_previous_and_prunes(tmp_path, capsys):
    root = tmp_path / "root"
    for rid in ("rt-old", "rt-new", "rt-fresh-unused"):
        (root / "runtime" / rid).mkdir(parents=True)
    then = time.time() - agent.STALE_S - 10
    os.utime(root / "runtime" / "rt-old", (then, then))
    releases = []
    for i in range(6):
        code, doc = run_agent(capsys, root, "activate", stage(root, str(i)), "--runtime", "rt-old" if i < 2 else "rt-new")
        assert code == 0, doc
        releases.append(doc["result"]["active"]["release"])
        assert os.readlink(root / "current") == f"releases/{releases[-1]}"
        if i:
            assert os.readlink(root / "previous") == f"releases/{releases[-2]}"
        assert not (root / "staging" / str(i) / "bundle").exists()  # moved, not copied
    kept = sorted(p.name for p in (root / "releases").iterdir())
    assert kept == sorted(releases[-agent.KEEP_RELEASES:])
    # rt-old: no kept release uses it and it is old; an unused fresh one may be a push in progress
    assert sorted(p.name for p in (root / "runtime").iterdir()) == ["rt-fresh-unused", "rt-new"]
    meta = json.loads((root / "current" / "release.json").read_text())
    assert meta["name"] == "b5" and meta["runtime"] == "rt-new" and len(meta["digest"]) == 64


def test_stale_temporaries_are_removed_fresh_ones_kept(tmp_path, capsys):
    root = tmp_path / "root"
    (root / "runtime" / "rt").mkdir(parents=True)
    old, fresh = root / "runtime" / ".rt.deadbeef", root / "releases" / ".incoming-now"
    for d in (old, fresh):
        d.mkdir(parents=True)
    then = time.time() - agent.STALE_S - 10
    os.utime(old, (then, then))
    assert run_agent(capsys, root, "activate", stage(root, "x"), "--runtime", "rt")[0] == 0
    assert not old.exists() and fresh.exists()


def test_rollback_swaps_and_refuses_without_previous(tmp_path, capsys):
    root = tmp_path / "root"
    (root / "runtime" / "rt").mkdir(parents=True)
    code, doc = run_agent(capsys, root, "rollback")
    assert code == 2 and doc["kind"] == "NoPrevious" and "nothing to roll back to" in doc["error"]
    a = run_agent(capsys, root, "activate", stage(root, "a"), "--runtime", "rt")[1]["result"]["active"]["release"]
    b = run_agent(capsys, root, "activate", stage(root, "b"), "--runtime", "rt")[1]["result"]["active"]["release"]
    code, doc = run_agent(capsys, root, "rollback")
    assert code == 0 and doc["result"]["active"]["release"] == a and doc["result"]["previous"]["release"] == b


def test_activate_refuses_a_tampered_stage(tmp_path, capsys):
    root = tmp_path / "root"
    (root / "runtime" / "rt").mkdir(parents=True)
    staged = stage(root, "t")
    (staged / "golden_output.npy").write_bytes(b"changed")
    code, doc = run_agent(capsys, root, "activate", staged, "--runtime", "rt")
    assert code == 2 and "sha256 does not match" in doc["error"]
    assert not (root / "current").exists()


def test_info_on_an_empty_root(tmp_path, capsys):
    code, doc = run_agent(capsys, tmp_path / "nothing" / "here", "info")
    info = doc["result"]
    assert code == 0 and info["active"] is None and info["runtimes"] == [] and info["free_bytes"] > 0
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))


def test_agent_runs_on_a_board_python():
    """Python 3.8 syntax; imports only the standard library, numpy, pyyaml, pynq and sustainml.board."""
    src = Path(agent.__file__).read_text()
    tree = ast.parse(src, feature_version=(3, 8))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    allowed = set(sys.stdlib_module_names) | {"numpy", "yaml", "pynq", "__future__"}
    bad = [m for m in names if m.split(".")[0] not in allowed and not m.startswith("sustainml.board")]
    assert not bad, bad
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]  # what `info -c` needs
    assert all((n.module if isinstance(n, ast.ImportFrom) else n.names[0].name).split(".")[0] in sys.stdlib_module_names
               or getattr(n, "module", "") == "__future__" for n in top)
