"""Measurement campaigns: boards x overlays x batch sizes x repetitions → the measurements DB.

Campaign file (YAML; relative paths are relative to it)::

    name: ecg-z2                       # recorded with every row (default: the file's stem)
    db: measurements.sqlite            # default: measurements.sqlite next to this file (--db overrides)
    work: campaign.work                # built overlays and board logs (default: <file stem>.work/)
    inventory: boards.yaml             # for inventory boards (default: $SUSTAINML_BOARDS, ./boards.yaml)
    boards: [sim:pynq-z2, pynq1]       # sim:<catalogue board> = a local simulated board; else inventory names
    overlays:
      - overlays/ecg_baseline_sim      # a bundle directory, or a folder of bundles
      - {pareto: runs/search/ecg5000, objective: latency}   # a NAS run's Pareto set (sim boards)
      - {calibration: 16, seed: 0}     # random-weight calibration designs (sim boards)
      # built sources take backend: rtl (default: rtlsim bundles, timed by the circuit's cycles)
      # or backend: hls (C-simulation bundles: bit-exact, no circuit timing)
    batches: [1, 16]
    calls: 200                         # timed calls per unit
    repetitions: 3                     # units per (board, overlay, batch)
    warmup: 10                         # untimed calls before each unit
    power: {interval_s: 0.005, idle_s: 0.25, meter: sim}   # or false; meter: sim = simulated external
                                                           # meter on sim boards without rails

Each board gets the overlays built for its part. Boards run in parallel, one thread each; a
board measures its overlays one after another: the overlay is pushed (inventory boards: only
when it is not the active release already; a local simulated board loads it in a fresh
subprocess running :mod:`sustainml.board.measure`), then its missing units run and every result
is stored in its own transaction as soon as the board reports it.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union


from sustainml import REPO_ROOT, __version__
from sustainml.board.bundle import MANIFEST, read_manifest
from sustainml.board.measure import manifest_digest
from sustainml.nas.catalogue import UnknownBoardError, get_board
from sustainml.yamlio import read_yaml

from ..errors import SustainmlError, UserError
from .db import Design, MeasurementDB, Measurement

SIM_PREFIX = "sim:"
FIELDS = ("name", "db", "work", "inventory", "boards", "overlays", "batches", "calls", "repetitions", "warmup", "power")
Observer = Callable[[str, Dict[str, Any]], None]


class CampaignError(UserError):
    """A campaign file is invalid, or a board cannot run it; the message names the file/board and field."""


# ---------------------------------------------------------------------------------- the file
@dataclass(frozen=True)
class PowerSpec:
    interval_s: float = 0.005
    idle_s: float = 0.25
    meter: Optional[str] = None  # "sim": simulated external meter on a simulated board without rails

    def plan(self) -> Dict[str, float]:
        return {"interval_s": self.interval_s, "idle_s": self.idle_s}


@dataclass(frozen=True)
class Campaign:
    path: Path
    name: str
    boards: Tuple[str, ...]
    overlays: Tuple[Any, ...]  # Path | {"pareto": Path, "objective": str} | {"calibration": n, "seed": s}
    batches: Tuple[int, ...]
    calls: int
    repetitions: int
    warmup: int
    power: Optional[PowerSpec]
    db: Path
    work: Path
    inventory: Optional[Path] = None


def _ints(where: str, v: Any, lo: int) -> Tuple[int, ...]:
    vals = v if isinstance(v, list) else [v]
    if not vals or not all(isinstance(x, int) and not isinstance(x, bool) and x >= lo for x in vals):
        raise CampaignError(f"{where} must be an integer >= {lo} or a non-empty list of them, got {v!r}")
    return tuple(dict.fromkeys(vals))


def _backend(item: Dict[str, Any], where: str) -> str:
    from .designs import BACKENDS

    b = item.get("backend", "rtl")
    if b not in BACKENDS:
        raise CampaignError(f"{where}: backend {b!r}: expected one of {', '.join(BACKENDS)}")
    return str(b)


def _overlay_source(item: Any, base: Path, where: str) -> Any:
    if isinstance(item, str):
        return (base / item).resolve() if not Path(item).is_absolute() else Path(item)
    if isinstance(item, dict) and "pareto" in item:
        extra = set(item) - {"pareto", "objective", "backend"}
        objective = item.get("objective", "latency")
        if extra or objective not in ("latency", "dsp", "energy"):
            raise CampaignError(f"{where}: a Pareto source is {{pareto: RUN_DIR, objective: latency|dsp|energy}}")
        return {"pareto": (base / str(item["pareto"])).resolve(), "objective": objective,
                "backend": _backend(item, where)}
    if isinstance(item, dict) and "calibration" in item:
        extra = set(item) - {"calibration", "seed", "length", "channels", "classes", "backend"}
        n = item["calibration"]
        if extra or not isinstance(n, int) or n < 1:
            raise CampaignError(f"{where}: a calibration source is {{calibration: N >= 1, seed: S, length, channels, classes}}")
        return {"calibration": n, "seed": int(item.get("seed", 0)), "length": int(item.get("length", 140)),
                "channels": int(item.get("channels", 1)), "classes": int(item.get("classes", 5)),
                "backend": _backend(item, where)}
    raise CampaignError(f"{where}: expected a bundle path, {{pareto: RUN_DIR}} or {{calibration: N}}, got {item!r}")


def load_campaign(path: Union[str, Path], db: Union[str, Path, None] = None) -> Campaign:
    """Read and validate a campaign file (see the module docstring)."""
    p = Path(path)
    doc = read_yaml(p, CampaignError, "campaign file not found")
    if not isinstance(doc, dict):
        raise CampaignError(f"{p}: expected a mapping of {', '.join(FIELDS)}")
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise CampaignError(f"{p}: unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    base = p.parent.resolve()
    boards = doc.get("boards")
    if not isinstance(boards, list) or not boards or not all(isinstance(b, str) and b for b in boards):
        raise CampaignError(f"{p}: boards must be a non-empty list of names (sim:<board> or inventory names)")
    for b in boards:
        if b.startswith(SIM_PREFIX):
            try:
                get_board(b[len(SIM_PREFIX):])
            except UnknownBoardError as exc:
                raise CampaignError(f"{p}: boards: {b}: {exc}") from None
    overlays = doc.get("overlays")
    if not isinstance(overlays, list) or not overlays:
        raise CampaignError(f"{p}: overlays must be a non-empty list")
    sources = tuple(_overlay_source(o, base, f"{p}: overlays[{i}]") for i, o in enumerate(overlays))
    power_doc = doc.get("power", {})
    power: Optional[PowerSpec] = None
    if power_doc not in (False, None):
        if power_doc is True:
            power_doc = {}
        if not isinstance(power_doc, dict) or set(power_doc) - {"interval_s", "idle_s", "meter"}:
            raise CampaignError(f"{p}: power must be false or {{interval_s, idle_s, meter}}")
        try:
            power = PowerSpec(float(power_doc.get("interval_s", 0.005)), float(power_doc.get("idle_s", 0.25)),
                              power_doc.get("meter"))
        except (TypeError, ValueError):
            raise CampaignError(f"{p}: power.interval_s and power.idle_s must be numbers") from None
        if not power.interval_s > 0 or not power.idle_s > 0 or power.meter not in (None, "sim"):
            raise CampaignError(f"{p}: power needs interval_s > 0, idle_s > 0 and meter: sim or nothing")
    name = str(doc.get("name") or p.stem)
    db_path = Path(db) if db else base / str(doc.get("db") or "measurements.sqlite")
    return Campaign(
        path=p, name=name, boards=tuple(dict.fromkeys(boards)), overlays=sources,
        batches=_ints(f"{p}: batches", doc.get("batches", [1]), 1),
        calls=_ints(f"{p}: calls", doc.get("calls", 200), 1)[0],
        repetitions=_ints(f"{p}: repetitions", doc.get("repetitions", 1), 1)[0],
        warmup=_ints(f"{p}: warmup", doc.get("warmup", 10), 0)[0], power=power, db=db_path,
        work=base / str(doc.get("work") or f"{p.stem}.work"),
        inventory=(base / str(doc["inventory"])) if doc.get("inventory") else None)


# ---------------------------------------------------------------------------------- boards
Line = Callable[[Dict[str, Any]], None]


class SimBoard:
    """A simulated board on this machine: :mod:`sustainml.board.measure` in a subprocess per overlay."""

    simulated = True

    def __init__(self, name: str, power: Optional[PowerSpec], log_dir: Path) -> None:
        self.name = name
        self.board = get_board(name[len(SIM_PREFIX):])
        self.part = self.board.part
        self.sim_meter = bool(power and power.meter == "sim")
        self.log = log_dir / f"{name.replace(':', '_')}.log"
        self._procs: List[subprocess.Popen] = []

    def measure(self, bundle: Path, plan: List[Dict[str, Any]], on_line: Line) -> None:
        env = {**os.environ, "SUSTAINML_SIM_BOARD": self.board.name, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "sustainml.board.measure", "--bundle", str(bundle), "--plan", json.dumps(plan)]
        if self.sim_meter:
            cmd.append("--sim-meter")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                                    env=env)
            self._procs.append(proc)
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if line.strip():
                        on_line(_parse(line, self.name))
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                self._procs.remove(proc)

    def close(self) -> None:
        for p in list(self._procs):
            p.kill()


class InventoryBoard:
    """A board from the inventory, over SSH (the deployment API: fabric session, push, agent layout)."""

    def __init__(self, entry: Any, known_hosts: Path, accept_new: bool = False, wheel: Any = None,
                 power: Optional[PowerSpec] = None) -> None:
        from sustainml.board.identity import lookup

        self.entry = entry
        self.name = entry.name
        self.part = entry.part
        self.board = get_board(lookup(entry.board).name)
        self.simulated = bool(entry.simulated)
        self.known_hosts, self.accept_new = known_hosts, accept_new
        self.sim_meter = bool(power and power.meter == "sim" and entry.simulated)
        self._session: Any = None
        self._remote: Any = None
        self._wheel = wheel

    def _open(self) -> Any:
        if self._remote is None:
            from ..deploy.fleet import session

            self._session = session(self.entry, self.known_hosts, self.accept_new)
            self._remote = self._session.__enter__()
        return self._remote

    def _push_if_needed(self, remote: Any, bundle: Path) -> None:
        from sustainml.board.bundle import load_bundle

        from ..deploy.push import push_one, require_part
        from ..deploy.runtime_wheel import build_runtime_wheel

        from ..deploy.errors import AuthFailed, ConnectionLost, HostKeyChanged, UnknownHostKey, Unreachable

        active = (remote.info() or {}).get("active") or {}
        if active.get("digest") == manifest_digest(str(bundle)):
            return
        try:
            b = load_bundle(bundle)
            require_part(b, self.entry)
            if self._wheel is None:
                self._wheel = build_runtime_wheel()
            push_one(remote, b, self._wheel, lambda board, what: None)
        except (Unreachable, AuthFailed, HostKeyChanged, UnknownHostKey, ConnectionLost):
            raise  # the board is gone: stop measuring on it
        except SustainmlError as exc:  # this overlay cannot go on this board; the next one may
            raise OverlayFailed(f"{self.name}: {bundle.name}: push failed: {exc}") from None

    def measure(self, bundle: Path, plan: List[Dict[str, Any]], on_line: Line) -> None:
        from ..deploy.connection import lost
        from ..deploy.errors import DeployError
        from ..deploy.remote import command

        remote = self._open()
        self._push_if_needed(remote, bundle)
        env = {"PYTHONPATH": str(remote.layout.active_runtime())}
        if self.simulated:
            env["SUSTAINML_SIM_BOARD"] = self.entry.board
        cmd = command([self.entry.python, "-m", "sustainml.board.measure", "--root", remote.layout.root,
                       "--plan", json.dumps(plan)] + (["--sim-meter"] if self.sim_meter else []), env)
        out = _LineStream(lambda line: on_line(_parse(line, self.name)))
        err = io.StringIO()
        try:
            res = remote.conn.run(cmd, hide=False, warn=True, out_stream=out, err_stream=err, in_stream=False)
        except DeployError:
            raise
        except Exception as exc:  # noqa: BLE001 - paramiko/socket failures become one line
            raise lost(self.entry, "measuring", exc) from None
        out.flush_rest()
        if res.exited not in (0, 2):
            tail = [ln for ln in err.getvalue().splitlines() if ln.strip()][-1:] or ["no output"]
            raise CampaignError(f"{self.name}: measuring {bundle.name} failed (exit {res.exited}): {tail[0]}")

    def close(self) -> None:
        if self._session is not None:
            self._session.__exit__(None, None, None)
            self._session = self._remote = None


class _LineStream:
    """A file-like sink that calls ``fn`` once per complete line (fabric's out_stream)."""

    def __init__(self, fn: Callable[[str], None]) -> None:
        self.fn, self.buf = fn, ""

    def write(self, data: str) -> int:
        self.buf += data
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if line.strip():
                self.fn(line)
        return len(data)

    def flush(self) -> None:
        pass

    def flush_rest(self) -> None:
        if self.buf.strip():
            self.fn(self.buf)
        self.buf = ""


def _parse(line: str, board: str) -> Dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError:
        return {"ok": False, "kind": "Output", "error": f"{board}: unexpected output {line.strip()[:120]!r}"}
    return doc if isinstance(doc, dict) else {"ok": False, "kind": "Output", "error": f"{board}: unexpected output"}


def make_boards(c: Campaign, accept_new_host_key: bool = False, known_hosts: Optional[Path] = None,
                wheel: Any = None) -> List[Any]:
    """Runners for the campaign's boards (the inventory is read only when it names one).
    ``wheel``: the board runtime to install where a push needs one (default: built from source)."""
    out: List[Any] = []
    inv = None
    for name in c.boards:
        if name.startswith(SIM_PREFIX):
            out.append(SimBoard(name, c.power, c.work / "logs"))
            continue
        if inv is None:
            from ..deploy.inventory import load_inventory

            inv = load_inventory(c.inventory, known_hosts)
        entry = inv.select([name])[0]
        out.append(InventoryBoard(entry, inv.known_hosts, accept_new_host_key, wheel, c.power))
    return out


# ---------------------------------------------------------------------------------- overlays
def _bundles_in(path: Path) -> List[Path]:
    if (path / MANIFEST).is_file():
        return [path]
    if path.is_dir():
        found = sorted(d for d in path.iterdir() if (d / MANIFEST).is_file())
        if found:
            return found
    raise CampaignError(f"{path}: not an overlay bundle (no {MANIFEST}) nor a folder of bundles")


def overlays_for(c: Campaign, board: Any, log: Callable[[str], None] = lambda s: None) -> List[Path]:
    """The bundles ``board`` measures: listed bundles for its part, and sources built for it."""
    from . import designs

    out: List[Path] = []
    for src in c.overlays:
        if isinstance(src, Path):
            for b in _bundles_in(src):
                if str(read_manifest(b).get("part", "")).lower() == board.part.lower():
                    out.append(b)
            continue
        if not isinstance(board, SimBoard):
            what = "Pareto sets" if "pareto" in src else "calibration designs"
            raise CampaignError(f"{c.path}: board {board.name}: {what} are built as simulated bundles only; "
                                "a real board needs bitstream bundles (sustainml build): list their directories "
                                "under overlays")
        if "pareto" in src:
            out += designs.build_pareto(src["pareto"], board.board.name, c.work, src["objective"], log,
                                        src["backend"])
        else:
            out += designs.build_calibration(board.board.name, src["calibration"], c.work, src["seed"], src["length"],
                                             src["channels"], src["classes"], log, src["backend"])
    if not out:
        raise CampaignError(f"{c.path}: no overlay for board {board.name} (part {board.part})")
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------------------------- planning
@dataclass
class Unit:
    bundle_hash: str
    batch: int
    repetition: int

    @property
    def key(self) -> Tuple[str, int, int]:
        return (self.bundle_hash, self.batch, self.repetition)

    @property
    def tag(self) -> str:
        return f"{self.bundle_hash[:12]}:{self.batch}:{self.repetition}"


@dataclass
class BoardPlan:
    board: Any
    overlays: List[Tuple[Path, str, List[Unit]]] = field(default_factory=list)  # (bundle, hash, missing units)
    done: int = 0  # units already in the database

    @property
    def todo(self) -> int:
        return sum(len(u) for _, _, u in self.overlays)


def plan_campaign(c: Campaign, boards: Sequence[Any], db: MeasurementDB, resume: bool,
                  log: Callable[[str], None] = lambda s: None) -> List[BoardPlan]:
    """What each board still has to measure; without ``resume`` any unit already stored is an error."""
    plans = []
    for b in boards:
        have = db.done_keys(b.name)
        bp = BoardPlan(b)
        for bundle in overlays_for(c, b, log):
            digest = manifest_digest(str(bundle))
            units = [Unit(digest, batch, r) for r in range(c.repetitions) for batch in c.batches]  # repetitions apart in time
            missing = [u for u in units if u.key not in have]
            bp.done += len(units) - len(missing)
            if missing:
                bp.overlays.append((bundle, digest, missing))
        plans.append(bp)
    stored = sum(p.done for p in plans)
    if stored and not resume:
        raise CampaignError(f"{c.db}: {stored} unit(s) of this campaign are already measured; pass --resume to "
                            "measure only the missing ones, or use another --db")
    return plans


def project_version() -> str:
    """``<version>+g<commit>[.dirty]`` when run from a git checkout, else the package version."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=str(REPO_ROOT),
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+g{out.stdout.strip().replace('-dirty', '.dirty')}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


# ---------------------------------------------------------------------------------- running
@dataclass
class BoardOutcome:
    board: str
    measured: int = 0
    skipped: int = 0  # already in the database
    failed: List[str] = field(default_factory=list)
    error: Optional[str] = None


def _row(c: Campaign, board: Any, unit: Unit, env: Dict[str, Any], res: Dict[str, Any], version: str) -> Measurement:
    lat = res["latency"]
    p = res.get("power") or None
    return Measurement(
        board=board.name, bundle_hash=unit.bundle_hash, batch=unit.batch, repetition=unit.repetition,
        overlay=str(env.get("bundle")), part=str(env.get("part") or board.part), simulated=bool(env.get("simulated")),
        clock_mhz=float(env.get("clock_mhz") or lat["clock_mhz"]), calls=int(lat["calls"]), warmup=c.warmup,
        latency_us=lat["latency_us"], hw_us=lat["hw_us"], overhead_us=lat["overhead_us"],
        throughput_sps=float(lat["throughput_sps"]),
        measured_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), project_version=version,
        campaign=c.name, catalogue_board=env.get("board"), pynq_version=env.get("pynq"),
        python_version=env.get("python"), hostname=env.get("hostname"),
        power_source=p.get("source") if p else None, idle_w=p.get("idle_w") if p else None,
        busy_w=p.get("busy_w") if p else None, energy_j=p.get("energy_per_inference_j") if p else None,
        power=p, power_interval_s=c.power.interval_s if (p and c.power) else None)


class OverlayFailed(CampaignError):
    """A board could not measure one overlay at all (its units fail; the board goes on)."""


class _Receiver:
    """Stores the JSON lines a board reports for one overlay, each unit as it arrives."""

    def __init__(self, c: Campaign, board: Any, bundle: Path, digest: str, units: List[Unit], db: MeasurementDB,
                 version: str, out: "BoardOutcome", observer: Observer) -> None:
        self.c, self.board, self.bundle, self.digest, self.db = c, board, bundle, digest, db
        self.version, self.out, self.observer = version, out, observer
        self.units = {u.tag: u for u in units}
        self.reported: set = set()
        self.env: Optional[Dict[str, Any]] = None

    def __call__(self, doc: Dict[str, Any]) -> None:
        where = f"{self.board.name}: {self.bundle.name}"
        if "env" in doc:
            self.env = doc["env"]
            if self.env.get("digest") != self.digest:
                raise OverlayFailed(f"{where}: the board measured bundle {str(self.env.get('digest'))[:12]}, "
                                    f"not {self.digest[:12]}")
            return
        if "done" in doc:
            return
        unit = self.units.get(str(doc.get("key")))
        if unit is None or self.env is None:  # the board failed before the first unit
            raise OverlayFailed(f"{where}: {doc.get('error') or 'measuring failed'}")
        self.reported.add(unit.tag)
        info = {"board": self.board.name, "overlay": self.bundle.name, "batch": unit.batch,
                "repetition": unit.repetition, "ok": bool(doc.get("ok"))}
        if doc.get("ok"):
            self.db.insert(_row(self.c, self.board, unit, self.env, doc, self.version))
            self.out.measured += 1
        else:
            self.out.failed.append(f"{where} batch {unit.batch} rep {unit.repetition}: {doc.get('error', 'failed')}")
        self.observer("unit", info)

    def missing(self) -> List[Unit]:
        return [u for t, u in self.units.items() if t not in self.reported]


def _run_board(c: Campaign, bp: BoardPlan, db: MeasurementDB, version: str, observer: Observer,
               stop: threading.Event) -> BoardOutcome:
    b = bp.board
    out = BoardOutcome(b.name, skipped=bp.done)
    try:
        for bundle, digest, units in bp.overlays:
            if stop.is_set():
                break
            manifest = read_manifest(bundle)
            db.add_design(Design(digest, str(manifest["name"]), str(manifest["board"]), str(manifest["part"]),
                                 float(manifest["clock_mhz"]), str(manifest["kind"]), manifest, str(bundle)))
            observer("overlay", {"board": b.name, "overlay": bundle.name})
            plan = [{"key": u.tag, "batch": u.batch, "calls": c.calls, "warmup": c.warmup,
                     "power": c.power.plan() if c.power else None} for u in units]
            rx = _Receiver(c, b, bundle, digest, units, db, version, out, observer)
            try:
                b.measure(bundle, plan, rx)
                if rx.missing():
                    raise OverlayFailed(f"{b.name}: {bundle.name}: the board stopped before reporting "
                                        f"{len(rx.missing())} unit(s)")
            except OverlayFailed as exc:
                out.failed.append(str(exc))
                for u in rx.missing():
                    observer("unit", {"board": b.name, "overlay": bundle.name, "batch": u.batch,
                                      "repetition": u.repetition, "ok": False})
    except SustainmlError as exc:
        out.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a failing board must not take the others down
        out.error = f"{b.name}: unexpected {type(exc).__name__}: {exc}"
    finally:
        b.close()
    observer("board done", {"board": b.name, "error": out.error})
    return out


def run_campaign(c: Campaign, plans: Sequence[BoardPlan], db: MeasurementDB,
                 observer: Observer = lambda e, i: None) -> List[BoardOutcome]:
    """Measure every planned unit, all boards in parallel; one :class:`BoardOutcome` per board."""
    version = project_version()
    stop = threading.Event()
    results: Dict[str, BoardOutcome] = {}

    def work(bp: BoardPlan) -> None:
        results[bp.board.name] = _run_board(c, bp, db, version, observer, stop)

    threads = [threading.Thread(target=work, args=(bp,), name=f"measure-{bp.board.name}", daemon=True)
               for bp in plans]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        for bp in plans:
            bp.board.close()
        raise
    return [results[bp.board.name] for bp in plans]
