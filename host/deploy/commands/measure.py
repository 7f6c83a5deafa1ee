"""``sustainml-deploy measure CAMPAIGN.yaml [--db DB] [--resume]``: a hardware-in-the-loop campaign.

Every board x overlay x batch x repetition of the campaign is benchmarked (latency
distribution, driver overhead and, where the board has rails or a meter, power and energy per
inference) and stored in the measurements database (SQLite) with its provenance. Boards run in
parallel; ``--resume`` measures only the units the database does not hold yet, so a killed
campaign continues where it stopped. Campaign file (paths relative to it)::

    boards: [sim:pynq-z2, pynq1]       # sim:<board> = local simulated board; else inventory names
    overlays:                          # bundle dirs (or folders of them), a NAS run's Pareto set,
      - overlays/ecg_baseline_sim      # or random-weight calibration designs (sim boards)
      - {pareto: runs/search/ecg5000, objective: latency}
      - {calibration: 16, seed: 0}
    batches: [1, 16]
    calls: 200                         # timed calls per unit
    repetitions: 3
    warmup: 10
    power: {interval_s: 0.005, idle_s: 0.25, meter: sim}
    db: measurements.sqlite            # also: name, work, inventory

Full description: ``sustainml.host.measure.campaign``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict

from sustainml.host.deploy.runtime_wheel import RuntimeWheel, wheel_id
from sustainml.host.measure.campaign import load_campaign, make_boards, plan_campaign, run_campaign
from sustainml.host.measure.db import MeasurementDB
from sustainml.host.progress import make_progress, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("measure", help="run a measurement campaign (boards x overlays x batches) into a database",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("campaign", type=Path, help="campaign YAML")
    p.add_argument("--db", type=Path, default=None, help="measurements database (default: the campaign's db:)")
    p.add_argument("--resume", action="store_true", help="measure only the units missing from the database")
    p.add_argument("--known-hosts", metavar="PATH", type=Path, default=None,
                   help="known_hosts for inventory boards (default: the inventory's)")
    p.add_argument("--accept-new-host-key", action="store_true", help="first contact: record unknown host keys")
    p.add_argument("--runtime-wheel", type=Path, metavar="WHL",
                   help="board runtime wheel for inventory boards (default: built from this project's source)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    c = load_campaign(args.campaign, args.db)
    wheel = RuntimeWheel(args.runtime_wheel, wheel_id(args.runtime_wheel)) if args.runtime_wheel else None
    boards = make_boards(c, args.accept_new_host_key, args.known_hosts, wheel)
    with MeasurementDB(c.db) as db:
        with make_progress() as prog:
            log = prog.console.log
            plans = plan_campaign(c, boards, db, args.resume, log)
            tasks = {p.board.name: prog.add_task(p.board.name, total=p.todo, info="waiting") for p in plans}
            for p in plans:
                if p.done:
                    log(f"{p.board.name}: {p.done} unit(s) already measured, {p.todo} to go")

            def observer(event: str, info: Dict[str, Any]) -> None:
                t = tasks[info["board"]]
                if event == "overlay":
                    prog.update(t, info=info["overlay"])
                elif event == "unit":
                    prog.advance(t)
                    prog.update(t, info=f"{info['overlay']} batch {info['batch']} rep {info['repetition']}"
                                + ("" if info["ok"] else " FAILED"))
                elif event == "board done":
                    prog.update(t, info="error" if info["error"] else "done")

            outcomes = run_campaign(c, plans, db, observer)
        total = db.count()
    if args.json:
        print(json.dumps({"db": str(c.db), "rows": total, "boards": {o.board: {
            "measured": o.measured, "already": o.skipped, "failed": o.failed, "error": o.error} for o in outcomes}},
            indent=1))
    else:
        table(f"campaign {c.name}: {c.db} ({total} rows)", ["board", "measured", "already there", "failed", "result"],
              [[o.board, o.measured, o.skipped, len(o.failed), "ok" if not (o.error or o.failed) else "FAILED"]
               for o in outcomes])
    for o in outcomes:  # one plain line per failure (never wrapped)
        for msg in o.failed:
            print(f"sustainml-deploy: error: {msg}", file=sys.stderr)
        if o.error:
            print(f"sustainml-deploy: error: {o.error}", file=sys.stderr)
    return 0 if all(not (o.error or o.failed) for o in outcomes) else 1
