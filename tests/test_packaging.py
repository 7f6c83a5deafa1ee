"""The distribution maps the repository's folders and lists every Python package in them."""
from __future__ import annotations

import sys

from sustainml import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FOLDERS = {"sustainml": "sustainml", "host": "sustainml.host", "nas": "sustainml.nas", "board": "sustainml.board"}


def test_every_package_folder_is_listed():
    cfg = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for folder, pkg in FOLDERS.items():
        assert cfg["package-dir"][pkg] == folder
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO_ROOT / folder).parts
            found.add(".".join((pkg,) + rel))
    assert found == listed, f"missing: {sorted(found - listed)}, stale: {sorted(listed - found)}"


def test_subpackages_import_under_sustainml():
    import sustainml.board
    import sustainml.host
    import sustainml.nas

    assert sustainml.host.__file__.startswith(str(REPO_ROOT / "host"))
    assert sustainml.nas.__file__.startswith(str(REPO_ROOT / "nas"))
    assert sustainml.board.__file__.startswith(str(REPO_ROOT / "board"))
