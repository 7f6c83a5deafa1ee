"""Multi-fidelity expensive step: short trainings first, longer ones only for promising candidates.

With ``training.short_fraction: f`` and ``training.reduction_factor: eta`` in the requirements,
a candidate is trained at the fidelities ``f, f*eta, f*eta**2, ..., 1`` (fractions of every
phase's epochs, :attr:`sustainml.nas.train.TrainConfig.fidelity`), each training from scratch
with the same seed. After each rung but the last, Optuna's asynchronous successive halving
(:class:`optuna.pruners.SuccessiveHalvingPruner`, ASHA) decides whether the candidate goes on:
it does when its score (:func:`score`: the integer model's validation accuracy, ties broken by
its validation cross-entropy) is in the top ``1/eta`` of all candidates that reached that rung
so far (the first ones: when it is the best so far). With a few validation samples most
candidates tie on accuracy, and the pruner would otherwise promote by arrival order. A candidate that
stops is journaled with its last (shorter) training: its accuracy is a lower estimate, and its
metrics say so (``fidelity`` < 1, ``pruned: true``, ``rungs``: the score per rung).

The study lives in memory; on resume it is rebuilt by replaying the journaled ``rungs`` of
every finished candidate in id order, so the pruner sees what it saw before.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

STEPS = 100  # optuna steps of a full training (fidelity 1.0)
LOSS_WEIGHT = 1e-6  # x the loss (capped at 1000): below 1e-3, so it never reorders two different accuracies of
#                     fewer than 1000 validation samples


def score(metrics: Mapping[str, object]) -> float:
    """The value the pruner compares: validation accuracy minus a tie-breaking sliver of validation loss."""
    acc = float(metrics.get("val_acc_int", 0.0))  # type: ignore[arg-type]
    loss = metrics.get("val_loss_int")
    return acc - LOSS_WEIGHT * min(float(loss), 1e3) if loss is not None else acc  # type: ignore[arg-type]


class MultiFidelity:
    """Rungs and the ASHA pruner of one search."""

    def __init__(self, short_fraction: float, reduction_factor: int, seed: int = 0):
        import optuna

        if not 0 < short_fraction < 1:
            raise ValueError(f"short_fraction {short_fraction} must be in (0, 1)")
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor {reduction_factor} must be >= 2")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        fr: List[float] = []
        f = short_fraction
        while f < 1.0 - 1e-9:
            fr.append(f)
            f *= reduction_factor
        self.fractions = fr + [1.0]
        self.steps = [max(1, int(round(STEPS * x))) for x in self.fractions]
        self.eta = reduction_factor
        self.pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=self.steps[0],
                                                             reduction_factor=reduction_factor)
        self.study = optuna.create_study(direction="maximize", pruner=self.pruner,
                                         sampler=optuna.samplers.RandomSampler(seed=seed))
        self.trials: Dict[int, object] = {}
        self.history: Dict[int, Dict[int, float]] = {}

    def last(self, rung: int) -> bool:
        return rung >= len(self.fractions) - 1

    def report(self, cid: int, rung: int, value: float) -> bool:
        """Record candidate ``cid``'s validation accuracy after ``rung``; True if it goes on."""
        from optuna.trial import TrialState

        trial = self.trials.get(cid)
        if trial is None:
            trial = self.trials[cid] = self.study.ask()
        self.history.setdefault(cid, {})[self.steps[rung]] = float(value)
        trial.report(float(value), self.steps[rung])
        if self.last(rung):
            self.study.tell(trial, float(value))
            del self.trials[cid]
            return False
        if trial.should_prune():
            self.study.tell(trial, state=TrialState.PRUNED)
            del self.trials[cid]
            return False
        return True

    def fail(self, cid: int) -> None:
        from optuna.trial import TrialState

        trial = self.trials.pop(cid, None)
        if trial is not None:
            self.study.tell(trial, state=TrialState.FAIL)

    def metrics(self, cid: int, rung: int) -> Dict[str, object]:
        """What the journal records about a finished candidate's fidelity."""
        return {"fidelity": self.fractions[rung], "pruned": not self.last(rung),
                "rungs": {str(k): v for k, v in sorted(self.history.get(cid, {}).items())}}

    def replay(self, finished: Sequence[Mapping[str, object]]) -> None:
        """Rebuild the study from journaled candidates' metrics (in id order)."""
        for i, m in enumerate(finished):
            rungs = m.get("rungs") if isinstance(m, Mapping) else None
            if not isinstance(rungs, Mapping):
                continue
            for step, value in sorted((int(k), float(v)) for k, v in rungs.items()):
                rung = self.steps.index(step) if step in self.steps else None
                if rung is None or not self.report(-1 - i, rung, value):
                    break
            self.trials.pop(-1 - i, None)

    def describe(self) -> str:
        return (f"successive halving (optuna ASHA), fidelities {', '.join(f'{x:.3g}' for x in self.fractions)}, "
                f"reduction factor {self.eta}")


def from_training(training: object, seed: int) -> Optional[MultiFidelity]:
    """The multi-fidelity step a requirements ``training`` section asks for (None: off)."""
    f = getattr(training, "short_fraction", None)
    if f is None:
        return None
    return MultiFidelity(float(f), int(getattr(training, "reduction_factor", 3)), seed)
