"""Search requirements: the YAML file ``sustainml search`` reads.

::

    dataset: ECG5000                 # UCR name or path (nas/data.py)
    board: pynq-z2                   # catalogue name (nas/catalogue.yaml)
    seed: 0
    parallelization: folded          # folded | latency | energy | dsp (nas/search/metrics.py)
    constraints:                     # all optional; any cheap metric as max_<metric>
      min_accuracy: 0.85             # validation accuracy of the integer model
      max_latency_us: 2000
      max_dsp: 220
      max_bram36: 140
      max_lut: 53200
      max_power_w: 1.0
      max_energy_uj: 200
    objectives: {accuracy: max, energy_uj: min, latency_us: min}
    budget:
      evaluations: 40                # expensive evaluations (trainings) in total
      generations: 20
      population: 4                  # candidates trained per generation
      initial: 8                     # random candidates trained first
      mutants: 64                    # mutants screened (cheap objectives) per generation
      wall_time_min: 30              # no new generation starts after this
    training:
      schedule: default              # default | quick (nas/train.py TrainConfig)
      float_epochs: 30               # optional overrides of the schedule
      inherit: true                  # Lamarckian: children start from their parent's weights
      short_fraction: 0.111          # optional multi-fidelity (nas/search/fidelity.py): first rung's fraction
      reduction_factor: 3            #   of the epochs; the top 1/3 at each rung train longer, up to the full schedule
    space: {...}                     # nas/search/space.py (optional); unset fields follow the input length
    selection:                       # optional (nas/search/select.py): after the search, the final pick
      top: 3                         #   among the 3 best-validation candidates by repeated stratified k-fold
      folds: 5                       #   cross-validation on the whole training file, then refit on all of it
      repeats: 1                     #   (refit: always | auto = below small_data | never); into RUN/selected/
    initial_topologies: []           # topology YAML files trained in generation 0

Every error names the file and the field.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import yaml

from sustainml.errors import SustainmlError

from ..catalogue import UnknownBoardError, get_board
from ..train import TrainConfig
from .metrics import METRICS, PARALLELIZATIONS
from .space import SearchSpace, SpaceError

TOP_FIELDS = ("dataset", "board", "seed", "parallelization", "constraints", "objectives", "budget", "training",
              "space", "initial_topologies", "selection")


class RequirementsError(SustainmlError, ValueError):
    """A requirements file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Budget:
    evaluations: int = 40
    generations: int = 20
    population: int = 4
    initial: int = 8
    mutants: int = 64
    wall_time_min: float = 30.0


@dataclass(frozen=True)
class Training:
    schedule: str = "default"
    inherit: bool = True
    float_epochs: Optional[int] = None
    qat_epochs: Optional[int] = None
    folded_epochs: Optional[int] = None
    patience: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    short_fraction: Optional[float] = None  # multi-fidelity: None = every candidate trains the full schedule
    reduction_factor: int = 3

    def config(self, seed: int) -> TrainConfig:
        cfg = TrainConfig.quick() if self.schedule == "quick" else TrainConfig()
        over = {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("schedule", "inherit", "short_fraction", "reduction_factor") and v is not None}
        return dataclasses.replace(cfg, seed=seed, threads=1, **over)


@dataclass(frozen=True)
class Selection:
    """The cross-validated final pick (:mod:`.select`); ``top`` 0 = none."""

    top: int = 0
    folds: int = 5
    repeats: int = 1
    refit: str = "always"


@dataclass(frozen=True)
class Requirements:
    dataset: str
    board: str
    seed: int = 0
    parallelization: str = "folded"
    constraints: Dict[str, float] = field(default_factory=dict)
    objectives: Dict[str, str] = field(default_factory=lambda: {"accuracy": "max", "energy_uj": "min"})
    budget: Budget = Budget()
    training: Training = Training()
    space: SearchSpace = SearchSpace()
    initial_topologies: List[str] = field(default_factory=list)
    selection: Selection = Selection()  # not part of the fingerprint: it runs after the search
    source: str = "<requirements>"
    space_doc: Dict[str, Any] = field(default_factory=dict)  # the space fields the file sets

    def for_input(self, length: int) -> "Requirements":
        """These requirements with the space derived for inputs of ``length`` samples (unset fields)."""
        return dataclasses.replace(self, space=SearchSpace.for_input(length, self.space_doc or None))

    @property
    def min_accuracy(self) -> float:
        return float(self.constraints.get("min_accuracy", 0.0))

    @property
    def cheap_limits(self) -> Dict[str, float]:
        """``{metric: upper bound}`` of the cheap constraints."""
        return {k[4:]: v for k, v in self.constraints.items() if k.startswith("max_")}

    def to_dict(self) -> Dict[str, Any]:
        return {"dataset": self.dataset, "board": self.board, "seed": self.seed,
                "parallelization": self.parallelization, "constraints": dict(self.constraints),
                "objectives": dict(self.objectives), "budget": dataclasses.asdict(self.budget),
                "training": {k: v for k, v in dataclasses.asdict(self.training).items() if v is not None},
                "space": self.space.to_dict(), "initial_topologies": list(self.initial_topologies)}

    def fingerprint(self) -> str:
        """Hash of everything that changes what the search computes (budget excluded: a
        resumed search may be given more evaluations or time)."""
        doc = self.to_dict()
        doc.pop("budget")
        return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes: Any) -> "Requirements":
        return dataclasses.replace(self, **changes)


def _num(where: str, v: Any, integer: bool = False, positive: bool = True) -> Union[int, float]:
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if not ok or isinstance(v, bool):
        raise RequirementsError(f"{where}: {v!r} must be {'an integer' if integer else 'a number'}")
    if positive and not v > 0:
        raise RequirementsError(f"{where}: {v!r} must be positive")
    return v


def _section(doc: Mapping[str, Any], name: str, src: str) -> Mapping[str, Any]:
    v = doc.get(name) or {}
    if not isinstance(v, Mapping):
        raise RequirementsError(f"{src}: {name}: expected a mapping")
    return v


def _dataclass_section(cls: Any, doc: Mapping[str, Any], name: str, src: str) -> Any:
    sec = _section(doc, name, src)
    types = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(sec) - set(types)
    if unknown:
        raise RequirementsError(f"{src}: {name}: unknown field(s) {sorted(unknown)} (known: {', '.join(types)})")
    kw: Dict[str, Any] = {}
    for k, v in sec.items():
        where = f"{src}: {name}.{k}"
        if k == "schedule":
            if v not in ("default", "quick"):
                raise RequirementsError(f"{where}: {v!r} is not one of default, quick")
            kw[k] = v
        elif k == "refit":
            if v not in ("auto", "always", "never"):
                raise RequirementsError(f"{where}: {v!r} is not one of auto, always, never")
            kw[k] = v
        elif k == "inherit":
            if not isinstance(v, bool):
                raise RequirementsError(f"{where}: {v!r} must be true or false")
            kw[k] = v
        elif k in ("lr", "wall_time_min"):
            kw[k] = float(_num(where, v))
        elif k == "short_fraction":
            kw[k] = float(_num(where, v))
            if not kw[k] < 1:
                raise RequirementsError(f"{where}: {v!r} must be a fraction in (0, 1)")
        elif k == "reduction_factor":
            kw[k] = int(_num(where, v, integer=True))
            if kw[k] < 2:
                raise RequirementsError(f"{where}: {v!r} must be an integer >= 2")
        elif k == "float_epochs" or k == "qat_epochs" or k == "folded_epochs":
            kw[k] = int(_num(where, v, integer=True, positive=False))
            if kw[k] < 0:
                raise RequirementsError(f"{where}: {v!r} must be >= 0")
        else:
            kw[k] = int(_num(where, v, integer=True))
    return cls(**kw)


def parse(doc: Any, src: str = "<requirements>") -> Requirements:
    """Validate a requirements mapping (see the module docstring)."""
    if not isinstance(doc, Mapping):
        raise RequirementsError(f"{src}: expected a mapping with dataset, board, objectives, ...")
    unknown = set(doc) - set(TOP_FIELDS)
    if unknown:
        raise RequirementsError(f"{src}: unknown field(s) {sorted(unknown)} (known: {', '.join(TOP_FIELDS)})")
    for key in ("dataset", "board"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise RequirementsError(f"{src}: {key}: missing or not a string")
    try:
        get_board(doc["board"])
    except UnknownBoardError as exc:
        raise RequirementsError(f"{src}: board: {exc}") from None
    seed = int(_num(f"{src}: seed", doc.get("seed", 0), integer=True, positive=False))
    par = doc.get("parallelization", "folded")
    if par not in PARALLELIZATIONS:
        raise RequirementsError(f"{src}: parallelization: {par!r} is not one of {', '.join(PARALLELIZATIONS)}")

    constraints: Dict[str, float] = {}
    for k, v in _section(doc, "constraints", src).items():
        where = f"{src}: constraints.{k}"
        if k == "min_accuracy":
            v = float(_num(where, v, positive=False))
            if not 0.0 <= v <= 1.0:
                raise RequirementsError(f"{where}: {v} must be a fraction in [0, 1]")
        elif k.startswith("max_") and k[4:] in METRICS and METRICS[k[4:]].cheap:
            v = float(_num(where, v))
        else:
            known = ["min_accuracy"] + [f"max_{m}" for m, d in METRICS.items() if d.cheap]
            raise RequirementsError(f"{where}: unknown constraint (known: {', '.join(known)})")
        constraints[k] = v

    objectives = doc.get("objectives")
    if not isinstance(objectives, Mapping) or not objectives:
        raise RequirementsError(f"{src}: objectives: expected a mapping like {{accuracy: max, energy_uj: min}}")
    for k, goal in objectives.items():
        where = f"{src}: objectives.{k}"
        if k not in METRICS:
            raise RequirementsError(f"{where}: unknown metric (known: {', '.join(METRICS)})")
        if goal not in ("max", "min"):
            raise RequirementsError(f"{where}: {goal!r} must be max or min")
        if goal != METRICS[k].goal:
            raise RequirementsError(f"{where}: {k} can only be {'maximised' if METRICS[k].goal == 'max' else 'minimised'}")
    if "accuracy" not in objectives:
        raise RequirementsError(f"{src}: objectives: must include accuracy (the search trains for it)")
    if len(objectives) < 2:
        raise RequirementsError(f"{src}: objectives: add at least one hardware metric next to accuracy")

    budget = _dataclass_section(Budget, doc, "budget", src)
    if budget.initial > budget.evaluations:
        raise RequirementsError(f"{src}: budget.initial={budget.initial} exceeds budget.evaluations={budget.evaluations}")
    training = _dataclass_section(Training, doc, "training", src)
    selection = _dataclass_section(Selection, doc, "selection", src)
    if doc.get("selection") is not None and "top" not in doc["selection"]:
        selection = dataclasses.replace(selection, top=3)
    if selection.folds < 2:
        raise RequirementsError(f"{src}: selection.folds: {selection.folds} must be >= 2")
    try:
        space = SearchSpace.from_dict(doc.get("space"), f"{src}: space")
    except SpaceError as exc:
        raise RequirementsError(str(exc)) from None
    inits = doc.get("initial_topologies") or []
    if not isinstance(inits, list) or any(not isinstance(p, str) for p in inits):
        raise RequirementsError(f"{src}: initial_topologies: expected a list of topology YAML paths")
    base = Path(src).parent if src != "<requirements>" else Path(".")
    inits = [str(p if Path(p).is_absolute() else (base / p)) for p in inits]
    for p in inits:
        if not Path(p).is_file():
            raise RequirementsError(f"{src}: initial_topologies: {p}: file not found")
    dataset = doc["dataset"]
    if src != "<requirements>" and Path(dataset).suffix.lower() in (".npz", ".tsv", ".arff") \
            and not Path(dataset).is_absolute() and (base / dataset).exists():
        dataset = str((base / dataset).resolve())  # a file next to the requirements, like initial_topologies
    return Requirements(dataset=dataset, board=doc["board"], seed=seed, parallelization=par,
                        constraints=constraints, objectives=dict(objectives), budget=budget, training=training,
                        space=space, initial_topologies=inits, selection=selection, source=src,
                        space_doc=dict(doc.get("space") or {}))


def load_requirements(path: Union[str, Path]) -> Requirements:
    p = Path(path)
    if not p.is_file():
        raise RequirementsError(f"{p}: requirements file not found")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise RequirementsError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse(doc, str(p))
