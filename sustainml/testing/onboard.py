"""Host side of the on-board test battery: one board session, driven through the deploy API.

A :class:`BoardTarget` names an inventory board and the bundle to test on it. A
:class:`BoardRun` opens one SSH session (``host.deploy.fleet.session``), remembers the release
that was active, pushes the bundle (``host.deploy.push.push_one``: upload, sha256, smoke test,
activate), and then offers what the battery needs, each through the deploy code's public
functions: :meth:`BoardRun.infer` (``actions.infer``), :meth:`BoardRun.measure`
(``board.measure`` over SSH via ``host.measure.campaign.InventoryBoard``),
:meth:`BoardRun.recovery` (``board.recovery`` on the active release), :meth:`BoardRun.rollback`
(``actions.rollback``) and :meth:`BoardRun.restore` (leave the board as it was found).

A bundle may carry its test set (:func:`attach_test_set`): ``test_set: {input: FILE, labels:
FILE}`` in the manifest, integer inputs in the input container and integer class labels.
Measurements go to the measurements database as ordinary rows (:func:`store_unit`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from sustainml.board.bundle import Bundle, load_bundle, write_manifest
from sustainml.board.measure import manifest_digest
from sustainml.errors import SustainmlError

#: Batches the battery measures; calls per unit (power runs repeat them under the recorder).
BATCHES = (1, 8, 64)
CALLS = {1: 200, 8: 60, 64: 20}
POWER = {"interval_s": 0.005, "idle_s": 0.25}
RECOVERY_TIMEOUT_S = 0.5
CAMPAIGN = "pytest-board-battery"


class BatteryError(SustainmlError):
    """The battery cannot run on a board (bad target, failed push); one line naming the board."""


@dataclass(frozen=True)
class BoardTarget:
    """Where the battery runs: an inventory entry, its known_hosts, and a bundle for its part."""

    entry: Any  # sustainml.host.deploy.inventory.BoardEntry
    known_hosts: Path
    bundle: Path
    real: bool = True

    @property
    def name(self) -> str:
        return str(self.entry.name)


# ------------------------------------------------------------------------------------- bundles
def attach_test_set(bundle_dir: Path, x: np.ndarray, labels: np.ndarray) -> Path:
    """Add a test set to a bundle (integer inputs (N, L, C) in the input container, labels (N,))
    and rewrite its manifest (every file's sha256 again, the manifest last)."""
    b = load_bundle(bundle_dir)
    x = np.asarray(x)
    if x.shape[1:] != b.input.shape or x.dtype != b.input.np_dtype:
        raise BatteryError(f"{bundle_dir}: test inputs are {x.dtype}{list(x.shape)}, the bundle takes "
                           f"{b.input.dtype}[n, {', '.join(map(str, b.input.shape))}]")
    labels = np.asarray(labels)
    if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
        raise BatteryError(f"{bundle_dir}: test labels must be {len(x)} integers, "
                           f"got {labels.dtype}{list(labels.shape)}")
    np.save(Path(bundle_dir) / "test_input.npy", x)
    np.save(Path(bundle_dir) / "test_labels.npy", labels.astype(np.int64))
    doc = dict(b.manifest)
    doc.pop("files", None)
    doc["test_set"] = {"input": "test_input.npy", "labels": "test_labels.npy", "samples": int(len(x))}
    write_manifest(bundle_dir, doc)
    return Path(bundle_dir)


def bundle_test_set(bundle: Bundle) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The bundle's test set (inputs, labels), or None when it carries none."""
    ts = bundle.manifest.get("test_set")
    if not ts:
        return None
    return (np.load(bundle.path / ts["input"], allow_pickle=False),
            np.load(bundle.path / ts["labels"], allow_pickle=False))


def golden_model(bundle: Bundle) -> Any:
    """The bundle's integer model (``model.yaml`` + ``weights.npz``) or None when it has none."""
    if not (bundle.path / "model.yaml").is_file():
        return None
    from sustainml.nas.quantized import QuantizedModel

    return QuantizedModel.load(bundle.path)


def hw_time_band(bundle: Bundle) -> Dict[int, Dict[str, float]]:
    """The manifest's hardware-time band per batch (``estimates.hw_time_band``); {} if absent."""
    band = (bundle.manifest.get("estimates") or {}).get("hw_time_band") or {}
    return {int(r["batch"]): r for r in band.get("batches") or ()}


# ------------------------------------------------------------------------------------- a board
class BoardRun:
    """One battery run on one board (see module docstring). Use :meth:`open` and :meth:`close`."""

    def __init__(self, target: BoardTarget, wheel: Any) -> None:
        self.target, self.wheel = target, wheel
        self.bundle = load_bundle(target.bundle)
        self.before: Optional[Dict[str, Any]] = None  # the release active when we came
        self.pushed: Optional[Dict[str, Any]] = None
        self.push_error: Optional[str] = None
        self.push_seconds = 0.0
        self._stack = contextlib.ExitStack()
        self.remote: Any = None

    # -------------------------------------------------------------- session
    def open(self) -> "BoardRun":
        import time

        from sustainml.host.deploy.fleet import session
        from sustainml.host.deploy.push import push_one, require_part

        entry = self.target.entry
        require_part(self.bundle, entry)
        self.remote = self._stack.enter_context(session(entry, self.target.known_hosts))
        self.before = self.remote.info().get("active")
        t0 = time.perf_counter()
        try:
            self.pushed = push_one(self.remote, self.bundle, self.wheel, lambda b, s: None)
        except SustainmlError as exc:
            self.push_error = str(exc)
        self.push_seconds = time.perf_counter() - t0
        return self

    def close(self) -> None:
        self._stack.close()

    def active(self) -> Optional[Dict[str, Any]]:
        return self.remote.info().get("active")

    def require_pushed(self) -> Dict[str, Any]:
        if self.pushed is None:
            raise BatteryError(f"{self.target.entry}: the push failed, nothing to test: {self.push_error}")
        return self.pushed

    # -------------------------------------------------------------- actions
    def infer(self, x: np.ndarray) -> np.ndarray:
        """Outputs of the active overlay on ``x`` (integers in the input container: used as they are)."""
        from sustainml.host.deploy.actions import infer

        with tempfile.TemporaryDirectory(prefix="sustainml-battery-") as tmp:
            np.save(Path(tmp) / "x.npy", x)
            return np.array(infer(self.remote, Path(tmp) / "x.npy", Path(tmp) / "y.npy")["outputs"])

    def measure(self, batches: Sequence[int] = BATCHES, power: bool = True) -> Tuple[Dict[str, Any], List[Dict]]:
        """``board.measure`` on the active release: (env, one result per batch) with latency and power."""
        from sustainml.host.measure.campaign import InventoryBoard, PowerSpec

        plan = [{"key": f"b{b}", "batch": int(b), "calls": CALLS.get(b, 50), "warmup": 10,
                 "power": POWER if power else None} for b in batches]
        spec = PowerSpec(meter="sim")  # a simulated external meter only ever on a simulated board
        runner = InventoryBoard(self.target.entry, self.target.known_hosts, wheel=self.wheel, power=spec)
        lines: List[Dict[str, Any]] = []
        try:
            runner.measure(self.bundle.path, plan, lines.append)
        finally:
            runner.close()
        failed = [d for d in lines if d.get("ok") is False]
        if failed:
            raise BatteryError(f"{self.target.entry}: measuring failed: {failed[0].get('error')}")
        env = next((d["env"] for d in lines if "env" in d), {})
        return env, [d for d in lines if d.get("key")]

    def recovery(self, timeout_s: float = RECOVERY_TIMEOUT_S) -> Dict[str, Any]:
        """``board.recovery`` on the active release (a hung call, then a golden call)."""
        from sustainml.board.sim import ENV as SIM_ENV

        lay, entry = self.remote.layout, self.target.entry
        env = {"PYTHONPATH": str(lay.active_runtime())}
        if entry.simulated:
            env[SIM_ENV] = entry.board
        res = self.remote.sh([entry.python, "-m", "sustainml.board.recovery", "--root", lay.root,
                              "--timeout", f"{timeout_s:g}"], "checking fault recovery", env=env, check=False)
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        try:
            doc = json.loads(lines[-1])
        except (IndexError, ValueError):
            tail = [ln for ln in res.stderr.splitlines() if ln.strip()][-1:] or ["no output"]
            raise BatteryError(f"{entry}: fault-recovery check failed (exit {res.exited}): {tail[0]}") from None
        if not doc.get("ok"):
            raise BatteryError(f"{entry}: fault-recovery check failed: {doc.get('error')}")
        return doc["result"]

    def rollback(self) -> Dict[str, Any]:
        from sustainml.host.deploy.actions import rollback

        return rollback(self.remote)

    def restore(self) -> None:
        """Leave the board as found: when our push is still active over the release found, roll back."""
        if self.pushed is None or self.before is None or self.remote is None:
            return
        with contextlib.suppress(SustainmlError):
            active = self.active() or {}
            if active.get("release") == self.pushed["release"]["release"]:
                self.rollback()


# ------------------------------------------------------------------------------------- database
def store_unit(db_path: Path, target: BoardTarget, bundle: Bundle, env: Dict[str, Any], unit: Dict[str, Any]) -> int:
    """Append one measured unit to the measurements database; returns the row's repetition."""
    from sustainml.host.measure.campaign import project_version
    from sustainml.host.measure.db import Design, MeasurementDB, Measurement

    digest = manifest_digest(str(bundle.path))
    lat = unit["latency"]
    p = unit.get("power") or None
    with MeasurementDB(db_path) as db:
        db.add_design(Design(digest, bundle.name, bundle.board, bundle.part, bundle.clock_mhz, bundle.kind,
                             bundle.manifest, str(bundle.path)))
        taken = {r for h, b, r in db.done_keys(target.name) if h == digest and b == int(lat["batch"])}
        rep = max(taken, default=-1) + 1
        db.insert(Measurement(
            board=target.name, bundle_hash=digest, batch=int(lat["batch"]), repetition=rep, campaign=CAMPAIGN,
            overlay=bundle.name, part=str(env.get("part") or bundle.part), simulated=bool(env.get("simulated")),
            clock_mhz=float(env.get("clock_mhz") or lat["clock_mhz"]), calls=int(lat["calls"]), warmup=10,
            latency_us=lat["latency_us"], hw_us=lat["hw_us"], overhead_us=lat["overhead_us"],
            throughput_sps=float(lat["throughput_sps"]),
            measured_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            project_version=project_version(), catalogue_board=env.get("board"), pynq_version=env.get("pynq"),
            python_version=env.get("python"), hostname=env.get("hostname"),
            power_source=p.get("source") if p else None, idle_w=p.get("idle_w") if p else None,
            busy_w=p.get("busy_w") if p else None, energy_j=p.get("energy_per_inference_j") if p else None,
            power=p, power_interval_s=POWER["interval_s"] if p else None))
    return rep
