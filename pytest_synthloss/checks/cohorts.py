"""What a study does with a cohort of trials: Optuna's pruners, trial states, the best trial.

:func:`cohort_pruning` runs the trials of a cohort one after the other, as
``study.optimize`` does: each trial reports its loss at every step (``trial.report(loss,
step)``, then ``trial.should_prune()``), and is pruned at the first check the pruner says
so (:func:`~pytest_synthloss.checks.oracles.prune_step`, against the trials completed
before it). A trial that is not pruned returns its last loss: ``"COMPLETE"``, or ``"FAIL"``
when that is NaN (Optuna refuses a NaN objective; ``inf`` is a value). Only completed trials
count for later trials' pruning and for ``n_startup_trials``, and the best trial is the first
completed one with the lowest (``maximize``: highest) value. Verified against Optuna 5.0's
``MedianPruner``, ``PercentilePruner`` and ``NopPruner`` in ``tests/test_cohorts.py``.

Known effects this makes visible: a late bloomer (a trial that starts worse and ends best)
is pruned at its first check; the pruners compare a trial's *best* value so far, so a trial
that diverges or turns NaN late is pruned only when the others' percentile falls below the
best it had, and one whose first report is NaN is pruned at once (optuna/optuna#5202).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_synthloss.checks.oracles import prune_step
from pytest_synthloss.core.cohorts import cohort_trials, trial_curves
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.sweeps import sweep

__all__ = ["COHORT_PRUNERS", "CohortPruning", "TrialOutcome", "cohort_pruning", "final_ranking"]

#: The pruners :func:`cohort_pruning` knows: Optuna's ``NopPruner`` and :data:`PRUNERS`.
COHORT_PRUNERS = ("nop", "median", "percentile")


@dataclass(frozen=True)
class TrialOutcome:
    """One trial's fate: ``state`` (``"COMPLETE"``, ``"PRUNED"`` or ``"FAIL"``), the step of
    its last report (the prune step when pruned) and its value, as Optuna records it: the
    final loss of a complete trial, the last report of a pruned one (``None`` if NaN), and
    ``None`` for a failed one."""

    trial: int
    name: str
    state: str
    step: int
    value: float | None


@dataclass(frozen=True)
class CohortPruning:
    """The outcome of every trial of a cohort under one pruner, in the order they ran."""

    outcomes: tuple[TrialOutcome, ...]
    direction: str

    @property
    def pruned(self) -> dict[int, int]:
        """``{trial: step}`` for every pruned trial."""
        return {o.trial: o.step for o in self.outcomes if o.state == "PRUNED"}

    @property
    def states(self) -> tuple[str, ...]:
        """Each trial's state, in trial order."""
        return tuple(o.state for o in self.outcomes)

    @property
    def best_trial(self) -> int | None:
        """The study's best trial (Optuna's ``study.best_trial.number``); ``None`` if none
        completed."""
        best: TrialOutcome | None = None
        for outcome in self.outcomes:
            if outcome.state != "COMPLETE" or outcome.value is None:
                continue
            if (
                best is None
                or best.value is None
                or (
                    outcome.value > best.value
                    if self.direction == "maximize"
                    else outcome.value < best.value
                )
            ):
                best = outcome
        return None if best is None else best.trial


def cohort_pruning(
    curve: LossCurve, pruner: str = "median", *, direction: str = "minimize", **params: object
) -> CohortPruning:
    """Run the trials of ``curve``'s cohort in order under ``pruner`` (see the module docs).

    ``pruner`` is ``"nop"`` (no pruning), ``"median"`` or ``"percentile"``; ``params`` are
    Optuna's (``percentile``, ``n_startup_trials``, ``n_warmup_steps``, ``interval_steps``,
    ``n_min_trials``), checked as :func:`~pytest_synthloss.checks.oracles.prune_step` does.
    Each trial reports the steps of ``curve`` (the same steps for every trial).
    """
    if pruner not in COHORT_PRUNERS:
        raise SynthLossError(
            f"unknown pruner {pruner!r}; known pruners: {', '.join(COHORT_PRUNERS)}"
        )
    if pruner == "nop" and params:
        raise SynthLossError(f"optuna nop: unknown parameter {next(iter(params))!r}; it has none")
    if direction not in ("minimize", "maximize"):
        raise SynthLossError(
            f"optuna: direction must be 'minimize' or 'maximize', got {direction!r}"
        )
    completed: list[LossCurve] = []
    outcomes: list[TrialOutcome] = []
    for index, trial in enumerate(trial_curves(curve)):
        step = None
        if pruner != "nop":
            step = prune_step(trial, completed, pruner, direction=direction, **params)
        if step is not None:  # Optuna keeps the last report as a pruned trial's value
            last = trial.loss_at(step)
            value = None if math.isnan(last) else last
            outcomes.append(TrialOutcome(index, trial.profile.name, "PRUNED", step, value))
            continue
        value = trial.final_loss
        if math.isnan(value):
            outcomes.append(TrialOutcome(index, trial.profile.name, "FAIL", trial.last_step, None))
            continue
        outcomes.append(TrialOutcome(index, trial.profile.name, "COMPLETE", trial.last_step, value))
        completed.append(trial)
    return CohortPruning(tuple(outcomes), direction)


def final_ranking(curve: LossCurve) -> tuple[int, ...]:
    """The trials of ``curve``'s cohort (indices) best first, by the sweep's ranking rule at
    ``curve``'s last step (:mod:`pytest_synthloss.core.sweeps`): runs without a non-finite
    loss first, then the lowest final loss, fewest spike steps, trial order. So
    ``best_config(sweep(trials, len(curve)))`` is trial ``final_ranking(curve)[0]``."""
    results = sweep(cohort_trials(curve.profile), len(curve), start_step=curve.start_step)
    return tuple(int(i) for i in results.ranked().profile_index)
