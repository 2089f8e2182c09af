"""Trial cohorts: a family of N trials of a hyper-parameter search, with known outcomes.

A profile with ``cohort=Cohort(trials)`` is the first trial of a family of trials (each a
plain :class:`~pytest_synthloss.Profile`): build it with :func:`cohort_profile`, so that
the profile's own run is trial 0's and a test selecting it sees one ordinary curve.
:func:`trial_curves` gives every trial's run over the same steps; their values are pure
functions of ``(trial, step)`` (each trial's profile carries its own seeds).

Ground truth: :func:`~pytest_synthloss.checks.cohorts.final_ranking`, the trials best
first by the sweep's ranking rule (:mod:`pytest_synthloss.core.sweeps`), so
``best_config(sweep(trials, n))`` names trial ``final_ranking(...)[0]``; which trials a
median or percentile rule prunes, and when, is
:func:`~pytest_synthloss.checks.cohorts.cohort_pruning` (Optuna's pruners).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from pytest_synthloss.core.errors import SynthLossError

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve
    from pytest_synthloss.core.profiles import Profile

__all__ = [
    "MAX_TRIALS",
    "Cohort",
    "check_cohort",
    "cohort_profile",
    "cohort_trials",
    "trial_curves",
]

#: The most trials a cohort may have.
MAX_TRIALS = 1000
#: The fields a cohort profile may differ in from its first trial.
_OWN = ("name", "description", "cohort")


@dataclass(frozen=True)
class Cohort:
    """The trials of a cohort, in the order a study runs them (a tuple of plain profiles)."""

    trials: tuple[Profile, ...]

    def __post_init__(self) -> None:
        trials = self.trials
        if isinstance(trials, (str, bytes)) or not isinstance(trials, (tuple, list)):
            raise SynthLossError(f"cohort trials must be a sequence of Profiles, got {trials!r}")
        trials = tuple(trials)
        if not 2 <= len(trials) <= MAX_TRIALS:
            raise SynthLossError(
                f"cohort trials must be from 2 to {MAX_TRIALS} profiles, got {len(trials)}"
            )
        kind = type(trials[0])
        names: set[str] = set()
        for index, trial in enumerate(trials):
            if type(trial) is not kind or not hasattr(trial, "cohort"):
                raise SynthLossError(f"cohort trial {index} must be a Profile, got {trial!r}")
            if trial.cohort is not None or trial.ranks is not None:
                raise SynthLossError(
                    f"cohort trial {index} ({trial.name!r}) must be a plain profile, without "
                    "a cohort or ranks of its own"
                )
            if trial.name in names:
                raise SynthLossError(
                    f"cohort trial {index}: the name {trial.name!r} is taken by an earlier "
                    "trial; trial names must be unique"
                )
            names.add(trial.name)
        object.__setattr__(self, "trials", trials)

    def __len__(self) -> int:
        return len(self.trials)


def check_cohort(profile: Profile) -> None:
    """Check that ``profile`` runs as its cohort's first trial (called by ``Profile``)."""
    cohort = profile.cohort
    if not isinstance(cohort, Cohort):
        raise SynthLossError(
            f"profile {profile.name!r}: cohort must be a Cohort or None, got {cohort!r}"
        )
    if profile.ranks is not None:
        raise SynthLossError(f"profile {profile.name!r}: a profile has ranks or a cohort, not both")
    first = cohort.trials[0]
    for field in fields(profile):
        if field.name not in _OWN and getattr(profile, field.name) != getattr(first, field.name):
            raise SynthLossError(
                f"profile {profile.name!r}: its {field.name} differs from its first trial's "
                f"({first.name!r}); a cohort profile runs as its first trial: build it with "
                "cohort_profile(name, trials)"
            )


def cohort_profile(name: str, trials: tuple[Profile, ...], description: str = "") -> Profile:
    """The profile named ``name`` of the cohort ``trials``: it runs as ``trials[0]``."""
    cohort = Cohort(trials)
    return replace(cohort.trials[0], name=name, description=description, cohort=cohort)


def cohort_trials(profile: Profile) -> tuple[Profile, ...]:
    """The trials of a cohort profile."""
    if profile.cohort is None:
        raise SynthLossError(f"profile {profile.name!r} has no cohort (it is a single run)")
    return profile.cohort.trials


def trial_curves(curve: LossCurve) -> tuple[LossCurve, ...]:
    """Every trial's run over the steps of ``curve`` (a run of a cohort profile)."""
    return tuple(
        type(curve)(trial, len(curve), curve.start_step, curve.lr)
        for trial in cohort_trials(curve.profile)
    )
