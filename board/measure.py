"""Board side of a measurement campaign: benchmark one overlay for a list of measurement units.

``python -m sustainml.board.measure (--bundle DIR | --root ROOT) --plan JSON [--sim-meter]``

``--plan`` is a JSON list of units ``{"key": ..., "batch": B, "calls": N, "warmup": W,
"power": {"interval_s": S, "idle_s": I} | null}``. The overlay is loaded once (``--root``: the
active release under an overlay root, see :mod:`sustainml.board.agent`), then every unit runs
and prints one JSON line as soon as it is done, so the host can store it before the next one
starts::

    {"env": {...}}                                   first: board, part, PYNQ, clock, bundle digest
    {"key": ..., "ok": true, "latency": {...}, "power": {...} | null}
    {"key": ..., "ok": false, "kind": ..., "error": "..."}
    {"done": N}                                      last, when every unit was attempted

A unit times ``calls`` calls with nothing else running (:func:`sustainml.board.bench.benchmark`;
simulated boards on one machine take turns, :mod:`sustainml.board.sim.turns`)
and, with ``power``, repeats them under a :class:`~sustainml.board.power.PowerMonitor`: the
recorder's sampling thread perturbs the timing, so latency never comes from the power run.
``--sim-meter`` adds the simulated external meter on a simulated board that has no rails.
Exit 0 when every unit was attempted, 2 on a failure before the first unit.

Board-side module: standard library, numpy, pyyaml and pynq only (Python 3.8+).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import sys
from typing import Any, Dict, List, Optional, Sequence

from .errors import BoardError


def _pynq_version() -> Optional[str]:
    try:
        from importlib import metadata
        return metadata.version("pynq")
    except Exception:  # noqa: BLE001 - pynq without distribution metadata
        return None


def manifest_digest(bundle_dir: str) -> str:
    """sha256 of a bundle's ``manifest.yaml``: it lists every file's sha256, so it names the bundle."""
    with open(os.path.join(bundle_dir, "manifest.yaml"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def environment(dnnu: Any, bundle_dir: str) -> Dict[str, Any]:
    """Provenance of every measurement on this overlay."""
    from .identity import detect

    info = detect(dnnu.device)
    return {"board": info.name if info else None, "part": info.part if info else dnnu.bundle.part,
            "pynq": _pynq_version(), "python": platform.python_version(), "hostname": platform.node(),
            "simulated": dnnu.simulated, "clock_mhz": dnnu.clock_mhz, "bundle": dnnu.bundle.name,
            "digest": manifest_digest(bundle_dir), "kind": dnnu.bundle.kind}


def _check_unit(u: Any, i: int) -> Dict[str, Any]:
    if not isinstance(u, dict) or "key" not in u:
        raise BoardError(f"--plan: unit {i} must be a mapping with a 'key'")
    out = {"key": u["key"], "batch": u.get("batch", 1), "calls": u.get("calls", 100), "warmup": u.get("warmup", 10),
           "power": u.get("power")}
    for name in ("batch", "calls", "warmup"):
        v = out[name]
        if not isinstance(v, int) or v < (0 if name == "warmup" else 1):
            raise BoardError(f"--plan: unit {i}: {name}={v!r} must be an integer >= {0 if name == 'warmup' else 1}")
    return out


def _turn() -> Any:
    """A simulated board's session holds this machine's measuring turn (:mod:`.sim.turns`): loading
    an overlay is heavy Python, and it must not run beside another simulated board's timing."""
    from .sim import ENV

    if not os.environ.get(ENV):
        return contextlib.nullcontext()
    from .sim.turns import cpu_turn

    return cpu_turn()


def run_unit(dnnu: Any, unit: Dict[str, Any], meters: Sequence[Any] = ()) -> Dict[str, Any]:
    """One unit: an undisturbed timing run, then (with ``power``) a run under the power recorder."""
    from .power import PowerMonitor

    lat = dnnu.benchmark(n=unit["calls"], batch=unit["batch"], warmup=unit["warmup"])
    power = None
    p = unit.get("power")
    if p:
        mon = PowerMonitor(dnnu.device, meters=meters, interval_s=float(p.get("interval_s", 0.005)),
                           idle_s=float(p.get("idle_s", 0.25)))
        if mon.source != "none":
            power = dnnu.benchmark(n=unit["calls"], batch=unit["batch"], warmup=0, power=mon).power
    doc = lat.to_dict()
    doc.pop("power", None)
    return {"key": unit["key"], "ok": True, "latency": doc, "power": power}


def _emit(out: Any, doc: Dict[str, Any]) -> None:
    out.write(json.dumps(doc) + "\n")
    out.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="sustainml.board.measure", description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--bundle", help="overlay bundle directory")
    where.add_argument("--root", help="overlay root: measure its active release")
    ap.add_argument("--plan", required=True, help="JSON list of measurement units")
    ap.add_argument("--sim-meter", action="store_true", help="simulated board: add the simulated external meter")
    args = ap.parse_args(argv)
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr), _turn():  # library chatter must not corrupt the JSON lines
        try:
            plan = json.loads(args.plan)
            if not isinstance(plan, list):
                raise BoardError("--plan must be a JSON list of units")
            units = [_check_unit(u, i) for i, u in enumerate(plan)]
            bundle_dir = args.bundle or os.path.join(args.root, "current", "bundle")
            if args.root and not os.path.isdir(bundle_dir):
                raise BoardError(f"no overlay is active under {args.root} (push one first)")
            from .dnnu import Dnnu
            from .power import device_rails

            dnnu = Dnnu.load(bundle_dir, max_batch=max([u["batch"] for u in units] + [1]))
            meters: List[Any] = []
            if args.sim_meter and dnnu.simulated and not device_rails(dnnu.device):
                from .sim.device import SimMeter
                meters.append(SimMeter(dnnu.device))
            env = environment(dnnu, bundle_dir)
        except (BoardError, ValueError, OSError) as exc:
            _emit(out, {"ok": False, "kind": type(exc).__name__, "error": str(exc)})
            return 2
        try:
            _emit(out, {"env": env})
            for u in units:
                try:
                    doc = run_unit(dnnu, u, meters)
                except Exception as exc:  # noqa: BLE001 - one failed unit is reported, the others still run
                    doc = {"key": u["key"], "ok": False, "kind": type(exc).__name__, "error": str(exc) or type(exc).__name__}
                _emit(out, doc)
            _emit(out, {"done": len(units)})
        except BrokenPipeError:  # the host went away (killed campaign): stop quietly
            return 1
        finally:
            dnnu.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
