"""``sustainml flow``: the whole HALF loop, one stage command after the other.

search → generate → build → push (+ smoke test) → accuracy on the board → measure →
refine → search again → synth (Yosys, RTL only; started beside the stages after build) → report,
with the chosen design predicted by the prior and the refined cost model vs measured (latency,
hardware time, energy, LUT/FF/DSP/BRAM18 from Yosys). Every stage is the CLI command a user would
type (printed before it runs) and leaves its artifacts in the output directory, so any stage can be re-run
alone from what the previous one left; a stage whose artifacts exist is skipped on a re-run
(``--restart`` runs everything again).

Defaults (``host/flow_defaults.yaml``): ECG5000, PYNQ-Z2 simulated on this machine (a
``host: local`` inventory entry, so the real push/agent code runs without SSH), a small search
budget. Overlays are rtlsim bundles (``backend: rtl``: the Verilog DNNU in Verilator, so the
simulated board's hardware time is the circuit's cycle count); ``backend: hls`` builds
C-simulation overlays (bit-exact, but no hardware time: the refine and search-refined stages are
skipped, saying why). ``--board NAME --inventory boards.yaml``
uses a real or loopback board; ``--hardware`` builds bitstreams with Vivado/Vitis HLS.
"""
from __future__ import annotations

import copy
import getpass
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import yaml

from sustainml.board.bundle import DIGEST
from sustainml.nas.costmodel import COEFF_DIR
from sustainml.nas.data import load_dataset
from sustainml.yamlio import read_yaml

from .errors import UserError
from .measure.refine import NO_TIMING
from .progress import console, table

DEFAULTS = Path(__file__).with_name("flow_defaults.yaml")
LOCAL_BOARD = "sim-local"
SIM_PREFIX = "sim:"
#: Why a flow on C-simulation overlays (``backend: hls``) on the simulated board does not refine.
NO_TIMING_NOTE = f"{NO_TIMING}: the refinement has nothing to fit; use backend: rtl (the default)"


@dataclass
class FlowOptions:
    config: Optional[Path] = None
    out: Optional[Path] = None
    board: Optional[str] = None  # inventory board name; None = the simulated board on this machine
    inventory: Optional[Path] = None
    hardware: bool = False
    restart: bool = False


def load_config(path: Optional[Path]) -> Dict[str, Any]:
    """Embedded defaults, deep-merged with the user's flow.yaml."""
    cfg = yaml.safe_load(DEFAULTS.read_text())
    if path is None:
        return cfg
    user = read_yaml(path, UserError, "flow config not found") or {}
    if not isinstance(user, dict):
        raise UserError(f"{path}: expected a mapping (keys: {', '.join(cfg)})")
    unknown = sorted(set(user) - set(cfg))
    if unknown:
        raise UserError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(cfg)})")
    return _merge(cfg, user)


def _merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Flow:
    """The stages of one flow run in ``out`` (see module docstring)."""

    def __init__(self, opts: FlowOptions) -> None:
        self.cfg = load_config(opts.config)
        self.opts = opts
        self.out = Path(opts.out or self.cfg["out"]).resolve()
        self.board = str(self.cfg["board"])
        self.simulated = opts.board is None
        self.req = copy.deepcopy(self.cfg["requirements"])
        self.req["board"] = self.board
        if self.cfg.get("backend", "rtl") not in ("rtl", "hls"):
            raise UserError(f"{opts.config or DEFAULTS}: backend {self.cfg['backend']!r}: expected rtl or hls")
        self.log: List[Dict[str, Any]] = []

    # ------------------------------------------------------------------ paths
    def p(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)

    @property
    def inventory(self) -> Path:
        return Path(self.opts.inventory).resolve() if self.opts.inventory else self.p("boards.yaml")

    @property
    def board_name(self) -> str:
        return self.opts.board or LOCAL_BOARD

    # ------------------------------------------------------------------ running commands
    def _cli(self, prog: str, argv: Sequence[str], capture: bool = False) -> str:
        """Run a stage command in-process (shown as the user would type it); ``capture``: its stdout."""
        import contextlib
        import io

        from . import cli, deploy_cli

        shown = " ".join(_q(a) for a in [prog, *argv])
        console.rule(f"[bold]$ {shown}")
        main = cli.main if prog == "sustainml" else deploy_cli.main
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf) if capture else contextlib.nullcontext():
            rc = main(list(argv))
        if rc != 0:
            raise UserError(f"flow stopped: `{shown}` exited with {rc} (fix it and re-run `sustainml flow`; "
                            "finished stages are kept)")
        return buf.getvalue()

    def stage(self, name: str, done: Callable[[], bool], run: Callable[[], None]) -> None:
        if done() and not self.opts.restart:
            console.print(f"[dim]stage {name}: done already (artifacts in {self.out}); skipping[/dim]")
            return
        run()
        if not done():
            raise UserError(f"flow stage {name} finished without its artifacts in {self.out}")

    # ------------------------------------------------------------------ the loop
    def plan(self) -> List[List[str]]:
        sim = "simulated (this machine, sim pynq device)" if self.simulated else f"real: inventory board {self.opts.board}"
        if self.opts.hardware:
            build = "real: Vitis HLS + Vivado bitstream"
        elif self.rtl:
            build = "simulated: Verilator rtlsim overlay (the Verilog DNNU, cycle-accurate)"
        else:
            build = "simulated: g++ C-simulation overlay (no hardware time, no refinement)"
        gen = "generate HLS + Verilog project" if self.rtl else "generate HLS project"
        return [["search (NAS, QAT training)", "real (CPU)"], [gen, "real"],
                ["build overlay", build], ["push + smoke test", sim], ["accuracy on the board", sim],
                ["measurement campaign", sim], ["refine cost model", "real (fit to the measurements above)"],
                ["search with refined model", "real (CPU)"],
                ["synth", "Yosys synth_xilinx of the chosen design (not Vivado)"], ["report", "real"]]

    def run(self) -> Dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        table(f"sustainml flow → {self.out}", ["stage", "runs"], self.plan())
        self._write_inputs()
        prior = str(COEFF_DIR / f"{self.board}.yaml")
        self.stage("search", lambda: self.p("search-1", "pareto.yaml").is_file(),
                   lambda: self._cli("sustainml", ["search", str(self.p("requirements.yaml")), "--out",
                                                   str(self.p("search-1")), "--cost-model", prior]))
        chosen = self.choose()
        build_dir, overlay = self.p("build", chosen.name), self.p("overlays", chosen.name)
        self.stage("generate", lambda: (build_dir / "build.yaml").is_file(),
                   lambda: self._cli("sustainml", ["generate", str(chosen), "--board", self.board, "--objective",
                                                   "energy", "--cost-model", prior, "--out", str(build_dir)]
                                     + (["--backend", "rtl"] if self.rtl else [])))
        kind = [] if self.opts.hardware else ["--rtlsim"] if self.rtl else ["--sim"]
        self.stage("build", lambda: (overlay / DIGEST).is_file(),  # the manifest digest is written last
                   lambda: self._cli("sustainml", ["build", str(build_dir), "--out", str(self.p("overlays")),
                                                   "--name", chosen.name] + kind))
        self.start_synth(build_dir)
        deploy = ["--inventory", str(self.inventory)]
        self.stage("push", lambda: self.p("push.json").is_file(), lambda: self.push(overlay, deploy))
        self.stage("accuracy", lambda: self.p("board-accuracy.json").is_file(), lambda: self.board_accuracy(deploy))
        self.stage("measure", lambda: self.p("campaign.done").is_file(), self.measure)
        if self.simulated and not self.rtl:  # C-simulation overlays: no circuit, no hardware time to fit
            console.print(f"[yellow]stages refine, search-refined: skipped: {NO_TIMING_NOTE}[/yellow]")
        else:
            self.stage("refine", lambda: self.p("cost-model.yaml").is_file(),
                       lambda: self._cli("sustainml", ["refine", "--db", str(self.p("measurements.sqlite")),
                                                       "--board", self.campaign_board, "--prior", prior,
                                                       "--out", str(self.p("cost-model.yaml"))]))
            self.stage("search-refined", lambda: self.p("search-2", "pareto.yaml").is_file(),
                       lambda: self._cli("sustainml", ["search", str(self.p("requirements.yaml")), "--out",
                                                       str(self.p("search-2")), "--cost-model",
                                                       str(self.p("cost-model.yaml"))]))
        self.stage("synth", lambda: self.p("synth.done").is_file(), lambda: self.synth(build_dir))
        self.stage("report", lambda: self.p("report", "index.html").is_file() and self.p("summary.json").is_file(),
                   self.report)
        return json.loads(self.p("summary.json").read_text())

    # ------------------------------------------------------------------ stage bodies
    def _write_inputs(self) -> None:
        self.p("requirements.yaml").write_text(yaml.safe_dump(self.req, sort_keys=False))
        if self.simulated:
            self.p("board-root").mkdir(exist_ok=True)
            self.inventory.write_text(yaml.safe_dump({"boards": {LOCAL_BOARD: {
                "host": "local", "user": getpass.getuser(), "board": self.board, "root": str(self.p("board-root")),
                "python": sys.executable, "simulated": True}}}, sort_keys=False))

    def choose(self) -> Path:
        """The Pareto point of the first search to build: lowest energy or best accuracy."""
        doc = yaml.safe_load(self.p("search-1", "pareto.yaml").read_text())
        points = [pt for pt in doc.get("points", []) if pt.get("test_acc") is not None]
        if not points:
            raise UserError(f"{self.p('search-1')}: the search found no feasible design (loosen the constraints)")
        if self.cfg["choose"] == "accuracy":
            best = max(points, key=lambda pt: pt["val_acc"])
        else:
            best = min(points, key=lambda pt: pt["search"]["energy_uj"])
        return self.p("search-1", "pareto", best["name"])

    def push(self, overlay: Path, deploy: List[str]) -> None:
        out = self._cli("sustainml-deploy", ["push", str(overlay), "--board", self.board_name, "--json", *deploy],
                        capture=True)
        self.p("push.json").write_text(out)
        console.print(out)

    def board_accuracy(self, deploy: List[str]) -> None:
        """The chosen design on the board: the full test set through the deployed overlay."""
        data = load_dataset(self.req["dataset"])
        np.save(self.p("test_x.npy"), data.raw_test_x)  # raw: the board applies the model's preprocessing
        self._cli("sustainml-deploy", ["infer", "--board", self.board_name, str(self.p("test_x.npy")),
                                       "--out", str(self.p("test_logits.npy")), *deploy])
        logits = np.load(self.p("test_logits.npy"))
        acc = float((logits.argmax(axis=1) == data.test.y).mean())
        self.p("board-accuracy.json").write_text(json.dumps({
            "dataset": data.name, "samples": int(len(data.test.y)), "accuracy": acc,
            "board": self.board_name, "simulated": self.simulated}, indent=1))
        console.print(f"accuracy on the {'simulated ' if self.simulated else ''}board: {acc:.4f} "
                      f"({len(data.test.y)} {data.name} test samples)")

    @property
    def rtl(self) -> bool:
        """Simulated overlays are rtlsim bundles (config ``backend: rtl``, the default)."""
        return self.cfg.get("backend", "rtl") == "rtl" and not self.opts.hardware

    @property
    def campaign_board(self) -> str:
        return f"{SIM_PREFIX}{self.board}" if self.simulated else str(self.opts.board)

    def measure(self) -> None:
        c = self.cfg["campaign"]
        backend = "rtl" if self.rtl else "hls"
        doc = {"name": "flow", "boards": [self.campaign_board],
               "overlays": [{"pareto": str(self.p("search-1")), "objective": "energy", "backend": backend},
                            {"calibration": int(c["calibration_designs"]), "seed": 0, "backend": backend}],
               "batches": c["batches"], "calls": c["calls"], "repetitions": c["repetitions"], "warmup": c["warmup"],
               "db": str(self.p("measurements.sqlite")), "work": str(self.p("campaign-work"))}
        if self.simulated:
            doc["power"] = {"meter": "sim"}  # PYNQ-Z2 has no readable rails: the simulated external meter
        else:
            doc["inventory"] = str(self.inventory)
        self.p("campaign.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        self._cli("sustainml-deploy", ["measure", str(self.p("campaign.yaml")), "--resume"])
        self.p("campaign.done").write_text("")

    def start_synth(self, build_dir: Path) -> None:
        """Start Yosys on the chosen RTL design beside the stages that follow (it runs in its own
        process for minutes); the synth stage waits for it."""
        if not self.rtl or (self.p("synth.done").is_file() and not self.opts.restart):
            return
        from concurrent.futures import ThreadPoolExecutor

        from .synth import synth

        console.print(f"[dim]$ sustainml synth {_q(str(build_dir))}   (running beside the next stages)[/dim]")
        pool = ThreadPoolExecutor(1)
        self._synth_job = pool.submit(synth, build_dir, echo=lambda _: None)
        pool.shutdown(wait=False)

    def synth(self, build_dir: Path) -> None:
        """Yosys resource counts of the chosen design (RTL projects only; cached by content hash)."""
        job = getattr(self, "_synth_job", None)
        if job is not None:
            console.rule(f"[bold]$ sustainml synth {_q(str(build_dir))}   (waiting for it)")
            job.result()  # a Yosys failure raises its one-line UserError here
        elif self.rtl:
            self._cli("sustainml", ["synth", str(build_dir)])
        self.p("synth.done").write_text("")

    def comparison(self) -> List[Dict[str, Any]]:
        """The chosen design, predicted (prior, refined) vs measured (host/measure/compare.py)."""
        from .measure.compare import compare_design

        if not self.rtl:  # C-simulation overlays: no hardware time, no Verilog to synthesize
            return []
        models = {"prior": COEFF_DIR / f"{self.board}.yaml"}
        if self.p("cost-model.yaml").is_file():
            models["refined"] = self.p("cost-model.yaml")
        return compare_design(self.p("measurements.sqlite"), self.campaign_board, self.choose().name, models)

    def report(self) -> None:
        self._cli("sustainml", ["report", "--db", str(self.p("measurements.sqlite")), "--out", str(self.p("report"))])
        summary = self.summary()
        self.p("summary.json").write_text(json.dumps(summary, indent=1))
        _append_flow_section(self.p("report", "index.html"), summary)

    def summary(self) -> Dict[str, Any]:
        push = json.loads(self.p("push.json").read_text())
        fronts = {}
        for run in ("search-1", "search-2"):
            if not self.p(run, "pareto.yaml").is_file():  # search-2: skipped on C-simulation overlays
                continue
            doc = yaml.safe_load(self.p(run, "pareto.yaml").read_text())
            fronts[run] = {"cost_model": doc.get("cost_model"), "points": [
                {"name": pt["name"], "test_acc": pt.get("test_acc"), **pt.get("search", {})} for pt in doc["points"]]}
            if self.p(run, "front.png").is_file():
                shutil.copyfile(self.p(run, "front.png"), self.p("report", f"{run}-front.png"))
        return {"out": str(self.out), "board": self.board_name, "simulated": self.simulated,
                "chosen": self.choose().name, "push": push, "predicted_vs_measured": self.comparison(),
                "board_accuracy": json.loads(self.p("board-accuracy.json").read_text()),
                "fronts": fronts, "report": str(self.p("report", "index.html"))}


def _append_flow_section(index: Path, s: Dict[str, Any]) -> None:
    """Add the flow's own results (chosen design, push, accuracy on the board, both fronts) to the report."""
    import html

    acc = s["board_accuracy"]
    sim = " (simulated board)" if s["simulated"] else ""
    push = "".join(
        f"<tr><td>{html.escape(board)}</td><td>{'ok' if r.get('ok') else html.escape(str(r.get('error')))}</td>"
        f"<td>{html.escape(str((r.get('release') or {}).get('release', '-')))}</td>"
        f"<td>{_smoke_text(r.get('smoke'))}</td></tr>" for board, r in s["push"].items())
    rows = "".join(f"<tr><td>{html.escape(run)}</td><td>{html.escape(str(f['cost_model']))}</td>"
                   f"<td>{len(f['points'])}</td><td><img src='{run}-front.png' width='420'></td></tr>"
                   for run, f in s["fronts"].items())
    section = (f"<h1>Flow</h1><p>Chosen design <b>{html.escape(s['chosen'])}</b> deployed to "
               f"<b>{html.escape(s['board'])}</b>{sim}. Accuracy on the full {html.escape(acc['dataset'])} test set "
               f"({acc['samples']} samples) computed from the board's outputs: <b>{acc['accuracy']:.4f}</b>.</p>"
               f"<h2>Push and smoke test</h2><table border='1' cellpadding='4'><tr><th>board</th><th>result</th>"
               f"<th>release</th><th>smoke test (golden vectors)</th></tr>{push}</table>"
               f"<h2>Pareto fronts: default vs refined cost model</h2><table border='1' cellpadding='4'>"
               f"<tr><th>search</th><th>cost model</th><th>points</th><th>front</th></tr>{rows}</table>")
    section += _comparison_html(s.get("predicted_vs_measured") or [])
    text = index.read_text()
    index.write_text(text.replace("<body>", "<body>" + section, 1) if "<body>" in text else section + text)


def _comparison_html(rows: List[Dict[str, Any]]) -> str:
    import html

    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.4g}"

    def err(v: Any) -> str:
        return "-" if v is None else f"{v * 100:+.1f}%"

    body = "".join(f"<tr><td>{html.escape(r['metric'])}</td><td>{r['unit']}</td><td>{num(r.get('prior'))}</td>"
                   f"<td>{err(r.get('prior error'))}</td><td>{num(r.get('refined'))}</td>"
                   f"<td>{err(r.get('refined error'))}</td><td><b>{num(r['measured'])}</b></td>"
                   f"<td>{html.escape(r['source'])}</td></tr>" for r in rows)
    return ("<h2>Chosen design: predicted vs measured</h2><table border='1' cellpadding='4'><tr><th>metric</th>"
            "<th>unit</th><th>prior</th><th>error</th><th>refined</th><th>error</th><th>measured</th>"
            f"<th>measured how</th></tr>{body}</table>")


def _smoke_text(smoke: Optional[Dict[str, Any]]) -> str:
    if not smoke:
        return "-"
    verdict = "pass" if smoke.get("ok") and not smoke.get("mismatches") else "FAIL"
    sim = ", simulated board" if smoke.get("simulated") else ""
    return f"{verdict}: {smoke.get('outputs')} outputs of {smoke.get('samples')} samples, {smoke.get('mismatches')} mismatches{sim}"


def _q(arg: str) -> str:
    import shlex

    return shlex.quote(str(arg))
