"""pytest plugin for hardware-tagged test runs on boards from the inventory.

Loaded through the ``pytest11`` entry point of this package (or ``-p sustainml.pytest_plugin``,
or ``-p sustainml``), so ``pytest --board NAME`` works from any folder and in a user's own project.

Options (each falls back to the environment variable named after it)::

    --board NAME            $SUSTAINML_BOARD            repeatable (env: comma-separated); ``all`` = every board
    --board-inventory FILE  $SUSTAINML_BOARD_INVENTORY  then $SUSTAINML_BOARDS, then ./boards.yaml
    --board-bundle DIR      $SUSTAINML_BOARD_BUNDLE     repeatable (env: os.pathsep-separated); per board,
                                                        the bundle built for its part
    --board-db FILE         $SUSTAINML_BOARD_DB         append every measurement to this SQLite database
    --board-runtime-wheel F $SUSTAINML_BOARD_RUNTIME_WHEEL  runtime to install (default: built from source)

Markers: ``board`` (runs on a board), ``vivado`` (needs Vivado / Vitis HLS on PATH).

With a board selected, the on-board battery (:mod:`sustainml.testing.test_board_battery`) is added
to the collection and every test that uses ``board_target`` runs once per board. Without one,
``board_target`` comes from a ``sustainml_default_board`` fixture when a conftest provides one
(this repository's tests: a loopback OpenSSH server holding a simulated board), else the test
is skipped. A bad selection (unknown board, unreadable inventory or bundle, no bundle for a
board's part) stops the run with one line and exit code 2.

Fixtures: ``board_target`` (:class:`~sustainml.testing.onboard.BoardTarget`), ``board_run``
(an open session with the bundle pushed, smoke-tested and active; the board is left as found),
``golden_vectors``, ``golden_model``, ``board_measurements`` (latency, throughput, power over
batches 1, 8, 64; appended to ``--board-db``), ``board_db`` (the path or None).
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

BATTERY = "sustainml.testing.test_board_battery"
ENV = {"board": "SUSTAINML_BOARD", "board_inventory": "SUSTAINML_BOARD_INVENTORY",
       "board_bundle": "SUSTAINML_BOARD_BUNDLE", "board_db": "SUSTAINML_BOARD_DB",
       "board_runtime_wheel": "SUSTAINML_BOARD_RUNTIME_WHEEL"}
MARKERS = ("board: runs against a board from the inventory (--board NAME); defaults to a loopback simulated board",
           "vivado: needs Vivado / Vitis HLS on PATH")

pytest.register_assert_rewrite(BATTERY)


@dataclass
class Selection:
    """The boards a run targets, resolved from the options (empty ``names``: none selected)."""

    names: List[str] = field(default_factory=list)
    inventory: Any = None  # sustainml.host.deploy.inventory.Inventory
    bundles: List[Path] = field(default_factory=list)
    db: Optional[Path] = None
    wheel: Optional[Path] = None

    def target(self, name: str) -> Any:
        from sustainml.board.bundle import load_bundle

        from .testing.onboard import BoardTarget

        entry = self.inventory.boards[name]
        for b in self.bundles:
            if load_bundle(b).part.lower() == entry.part.lower():
                return BoardTarget(entry, self.inventory.known_hosts, b, real=not entry.simulated)
        raise AssertionError(f"no bundle for {name}")  # excluded by resolve()


_SELECTION = pytest.StashKey[Selection]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("sustainml-board", "sustainml: tests on boards from the inventory")
    g.addoption("--board", action="append", default=[], metavar="NAME",
                help="inventory board to run the `board` tests on (repeatable; 'all' = every board; "
                     "env $SUSTAINML_BOARD)")
    g.addoption("--board-inventory", metavar="FILE",
                help="boards.yaml (env $SUSTAINML_BOARD_INVENTORY, then $SUSTAINML_BOARDS, then ./boards.yaml)")
    g.addoption("--board-bundle", action="append", default=[], metavar="DIR",
                help="overlay bundle to test; repeatable, one per part (env $SUSTAINML_BOARD_BUNDLE)")
    g.addoption("--board-db", metavar="FILE", help="append measurements to this database (env $SUSTAINML_BOARD_DB)")
    g.addoption("--board-runtime-wheel", metavar="FILE",
                help="runtime wheel to install on the boards (env $SUSTAINML_BOARD_RUNTIME_WHEEL; default: built)")


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    if value:
        return value
    env = os.environ.get(ENV[name], "").strip()
    if not env:
        return [] if isinstance(value, list) else None
    if name == "board":
        return [n.strip() for n in env.split(",") if n.strip()]
    if name == "board_bundle":
        return [p for p in env.split(os.pathsep) if p]
    return env


def resolve(config: pytest.Config) -> Selection:
    """Read and check the board options; raises :class:`SustainmlError` with a one-line reason."""
    from sustainml.board.bundle import load_bundle
    from sustainml.host.deploy.errors import InventoryError
    from sustainml.host.deploy.inventory import load_inventory

    names = _option(config, "board")
    db, wheel = _option(config, "board_db"), _option(config, "board_runtime_wheel")
    sel = Selection(db=Path(db).expanduser().resolve() if db else None,
                    wheel=Path(wheel).expanduser().resolve() if wheel else None)
    if not names:
        return sel
    inv_opt = _option(config, "board_inventory") or os.environ.get("SUSTAINML_BOARDS")
    sel.inventory = load_inventory(inv_opt)
    sel.names = list(sel.inventory.boards) if "all" in names else [b.name for b in sel.inventory.select(names)]
    if not sel.names:
        raise InventoryError(f"{sel.inventory.path}: --board all, but the inventory has no boards")
    bundles = _option(config, "board_bundle")
    if not bundles:
        raise InventoryError("--board needs --board-bundle DIR (or $SUSTAINML_BOARD_BUNDLE): the overlay to test")
    parts: Dict[str, Path] = {}
    for b in bundles:
        p = Path(b).expanduser().resolve()
        parts.setdefault(load_bundle(p).part.lower(), p)  # verifies every sha256
        sel.bundles.append(p)
    for n in sel.names:
        entry = sel.inventory.boards[n]
        if entry.part.lower() not in parts:
            raise InventoryError(f"{sel.inventory.path}: board {n!r} is a {entry.board} ({entry.part}); no "
                                 f"--board-bundle was built for that part (given: {', '.join(map(str, bundles))})")
    if sel.wheel is not None and not sel.wheel.is_file():
        raise InventoryError(f"--board-runtime-wheel {sel.wheel}: no such file")
    return sel


PATH_OPTIONS = ("--board-inventory", "--board-bundle", "--board-db", "--board-runtime-wheel")
INI_FILES = (("pytest.ini", ""), (".pytest.ini", ""), ("pyproject.toml", "[tool.pytest.ini_options]"),
             ("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]"))


def _project_ini(start: Path) -> Optional[Path]:
    """The pytest configuration file pytest would find from ``start`` (first match upwards)."""
    for d in (start, *start.parents):
        for name, section in INI_FILES:
            f = d / name
            if f.is_file() and (not section or section in f.read_text(errors="replace")):
                return f
    return None


def _check_rootdir(config: pytest.Config) -> None:
    """pytest picks its rootdir and ini file before it loads plugins, so it takes the value of
    ``--board-inventory PATH`` (a separate argument) for a test path; a path outside the current
    folder then moves the rootdir away and the project's ini (addopts, testpaths) is skipped.
    Refuse that with the fix (``--board-inventory=PATH``) rather than run with the wrong setup."""
    from sustainml.errors import SustainmlError

    if config.inipath is not None or config.getoption("rootdir") or config.getoption("inifilename"):
        return
    here = config.invocation_params.dir
    ini = _project_ini(here)
    if ini is None:
        return
    args = list(config.invocation_params.args)
    for opt, value in zip(args, args[1:]):
        p = (here / value).resolve() if opt in PATH_OPTIONS else None
        if p is not None and p.exists() and here not in (p, *p.parents):
            raise SustainmlError(f"{opt} {value}: pytest read this path (outside {here}) as a test path before the "
                                 f"plugin loaded and so skipped {ini}; write {opt}={value}")


def selection(config: pytest.Config) -> Selection:
    return config.stash.get(_SELECTION, Selection())


def pytest_configure(config: pytest.Config) -> None:
    from sustainml.errors import SustainmlError

    for m in MARKERS:
        config.addinivalue_line("markers", m)
    try:
        _check_rootdir(config)
        sel = resolve(config)
    except SustainmlError as exc:
        pytest.exit(f"sustainml board tests: {exc}", returncode=2)
    config.stash[_SELECTION] = sel
    if sel.names:
        import importlib.util

        spec = importlib.util.find_spec(BATTERY)
        if spec and spec.origin:  # its folder, so node ids read test_board_battery.py::... from anywhere
            battery = Path(spec.origin)
            given = {Path(a.split("::")[0]).resolve() for a in config.args}
            if not given & {battery, *battery.parents}:  # not collected already
                config.args.append(str(battery.parent))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Module]:
    """Collect the battery even in a project whose ``python_files`` would not match its name."""
    if file_path.name != "test_board_battery.py" or not selection(parent.config).names:
        return None
    if any(fnmatch.fnmatch(file_path.name, pat) for pat in parent.config.getini("python_files")):
        return None  # pytest's own collector takes it
    import importlib.util

    spec = importlib.util.find_spec(BATTERY)
    if spec and spec.origin and Path(spec.origin) == file_path:
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """With boards selected the battery runs from its own module only (not from re-exports)."""
    if not selection(config).names:
        return
    dropped = [it for it in items if _reexported_battery_test(it)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [it for it in items if not _reexported_battery_test(it)]


def _reexported_battery_test(item: pytest.Item) -> bool:
    fn = getattr(item, "function", None)
    mod = getattr(item, "module", None)
    return fn is not None and getattr(fn, "__module__", None) == BATTERY and getattr(mod, "__name__", None) != BATTERY


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sustainml_board" in metafunc.fixturenames:
        names: List[Optional[str]] = list(selection(metafunc.config).names) or [None]
        metafunc.parametrize("sustainml_board", names, ids=[n or "default-board" for n in names], scope="session")


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def board_db(request: pytest.FixtureRequest) -> Optional[Path]:
    """``--board-db`` (or $SUSTAINML_BOARD_DB): the measurements database the battery appends to."""
    return selection(request.config).db


@pytest.fixture(scope="session")
def board_target(request: pytest.FixtureRequest, sustainml_board: Optional[str]) -> Any:
    """The board under test and its bundle (see module docstring)."""
    if sustainml_board is None:
        try:
            return request.getfixturevalue("sustainml_default_board")
        except pytest.FixtureLookupError:
            pytest.skip("no board selected: pass --board NAME --board-inventory FILE --board-bundle DIR")
    return selection(request.config).target(sustainml_board)


@pytest.fixture(scope="session")
def board_runtime_wheel(request: pytest.FixtureRequest) -> Any:
    """The runtime the push installs: ``--board-runtime-wheel`` or one built from this source."""
    from sustainml.host.deploy.runtime_wheel import RuntimeWheel, build_runtime_wheel

    wheel = selection(request.config).wheel
    return RuntimeWheel.from_file(wheel) if wheel else build_runtime_wheel()


@pytest.fixture(scope="session")
def board_run(board_target: Any, board_runtime_wheel: Any) -> Iterator[Any]:
    """One session on the board with the bundle pushed (push failures are reported by the battery's
    push test); at the end the release found active is active again."""
    from sustainml.errors import SustainmlError

    from .testing.onboard import BoardRun

    run = BoardRun(board_target, board_runtime_wheel)
    error = None
    try:
        run.open()
    except SustainmlError as exc:
        error = str(exc)
    if error is not None:
        run.close()
        pytest.fail(error, pytrace=False)
    try:
        yield run
    finally:
        run.restore()
        run.close()


@pytest.fixture(scope="session")
def golden_vectors(board_target: Any) -> Tuple[Any, Any]:
    """(inputs, outputs) the bundle carries: integer containers, outputs from the golden model."""
    from sustainml.board.bundle import load_bundle

    return load_bundle(board_target.bundle).golden()


@pytest.fixture(scope="session")
def golden_model(board_target: Any) -> Any:
    """The bundle's integer model (``sustainml.nas.quantized.QuantizedModel``), or None."""
    from sustainml.board.bundle import load_bundle

    from .testing.onboard import golden_model as load_model

    return load_model(load_bundle(board_target.bundle))


@pytest.fixture(scope="session")
def board_measurements(board_run: Any, board_db: Optional[Path]) -> Dict[str, Any]:
    """Latency, throughput and power of the pushed overlay at batches 1, 8, 64 (one ``board.measure``
    run); every unit is appended to ``--board-db`` when given. ``{"env": ..., "units": {batch: doc}}``."""
    from sustainml.errors import SustainmlError

    from .testing.onboard import store_unit

    board_run.require_pushed()
    try:
        env, units = board_run.measure()
    except SustainmlError as exc:
        error = str(exc)
    else:
        error = None
    if error is not None:
        pytest.fail(error, pytrace=False)
    stored = []
    if board_db is not None:
        for u in units:
            stored.append(store_unit(board_db, board_run.target, board_run.bundle, env, u))
    return {"env": env, "units": {int(u["latency"]["batch"]): u for u in units}, "db_rows": len(stored)}
