"""The best config of a sweep (:func:`best_config`) and the report ``synthloss sweep`` prints.

Every sentence of the report is checked against the sweep's rows and the profiles'
events: a run that logs a non-finite loss is never called best (when every run does, the
report says so), the floor it names is the profile's, and "Steps: ≥N" is printed only when
every run of N steps or more ends at the same loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.model import flat_from
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.sweeps import SweepResults, SweepRow
from pytest_synthloss.core.text import count_noun

__all__ = ["BestConfig", "best_config"]


@dataclass(frozen=True)
class BestConfig:
    """The best config of a sweep (:func:`best_config`), how it was chosen and what it shows.

    ``ties`` counts configs with the same final loss, spike and non-finite counts (only the
    tie-break rule separates them). ``steps_at_least`` is ``N`` when every run of the
    best profile with ``N`` steps or more ends at the same loss (``None`` when that does
    not hold: noise, a divergence, or an event after the best run's end).
    ``nonfinite`` counts the best run's non-finite steps: more than 0 only when every
    config logs a non-finite loss. ``implications`` restates the spec's "Implications"
    section as measured by the sweep.
    """

    profile: str
    steps: int
    lr: float | None
    batch_size: int | None
    final_loss: float
    spikes: int
    reaches_floor: bool
    configs: int
    ties: int
    steps_at_least: int | None
    implications: tuple[str, ...]
    nonfinite: int = 0
    floor: float = 1.05
    #: Why a longer swept run of the best profile is not best ("" when the best is the longest).
    longer_runs: str = ""
    #: Whether another swept profile spiked (so "avoids spikes" says something).
    others_spiked: bool = False

    def report(self) -> str:
        """The best config and the implications, as printed by ``synthloss sweep``."""
        if self.steps_at_least is not None:
            ending = (
                f"reaches floor loss of {self.floor:g}"
                if self.final_loss == self.floor
                else f"every longer run ends at {self.final_loss:g} too"
            )
            steps = f"≥{self.steps_at_least} ({ending})"
        elif self.longer_runs:
            steps = f"{self.steps} ({self.longer_runs})"
        elif self.reaches_floor:
            steps = (
                f"{self.steps} (the lowest final loss of the swept lengths; it moves with the "
                "run's length, so other lengths end elsewhere)"
            )
        else:
            steps = f"{self.steps} (the most swept; more steps lower the loss)"
        clean = self.spikes == 0 and self.nonfinite == 0
        profile = (
            f"{self.profile} (avoids spikes)" if clean and self.others_spiked else self.profile
        )
        others = self.ties - 1
        tie = "no other config ties" if others == 0 else f"{count_noun(others, 'other config')} tie"
        if self.nonfinite:
            title = (
                f"No configuration of {self.configs} is free of non-finite losses; the least "
                f"bad (final loss {self.final_loss:g} with {self.spikes} spike steps and "
                f"{self.nonfinite} non-finite steps; {tie}):"
            )
        else:
            title = (
                f"Best configuration (of {self.configs} configs; final loss "
                f"{self.final_loss:g} with {self.spikes} spike steps; {tie}):"
            )
        lines = [
            title,
            f"- Profile: {profile}",
            f"- Steps: {steps}",
            f"- Expected final loss: {self.final_loss:g}",
            f"- lr: {_logged(self.lr)}, batch_size: {_logged(self.batch_size)} "
            "(lr and batch_size never change the loss: ties are broken by fewest steps, "
            "profile order, then smallest lr and batch_size)",
            "Implications:",
            *(f"{n}. {text}" for n, text in enumerate(self.implications, start=1)),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def best_config(results: SweepResults) -> BestConfig:
    """The best config of ``results`` by the ranking rule, with the spec's implications."""
    if not isinstance(results, SweepResults):
        raise SynthLossError(f"best_config() takes the SweepResults of sweep(), got {results!r}")
    if not len(results):
        raise SynthLossError("best_config() needs at least one sweep result, got none")
    ranked = results.ranked()
    best = ranked[0]
    tied = (
        _same(ranked.final_loss, best.final_loss)
        & (ranked.spikes == best.spikes)
        & (ranked.nonfinite == best.nonfinite)
    )
    index = int(ranked.profile_index[0])
    prof = results.profiles[index]
    mine = results.profile_index == index
    longer = mine & (results.steps > best.steps)
    longer_runs = ""
    if longer.any():
        if bool((results.nonfinite[longer] > 0).all()):
            longer_runs = "every longer run logs a non-finite loss"
        elif bool((results.spikes[longer] > best.spikes).any()):
            longer_runs = "the best-ranked length; longer runs end higher or spike more"
        else:
            longer_runs = "the best-ranked length"
    others_spiked = bool((results.spikes[~mine] > 0).any())
    return BestConfig(
        profile=best.profile,
        steps=best.steps,
        lr=best.lr,
        batch_size=best.batch_size,
        final_loss=best.final_loss,
        spikes=best.spikes,
        reaches_floor=best.reaches_floor,
        configs=len(results),
        ties=int(tied.sum()),
        steps_at_least=_steady_from(prof, results.start_step, best.steps),
        implications=_implications(results, best),
        nonfinite=best.nonfinite,
        floor=prof.floor,
        longer_runs=longer_runs,
        others_spiked=others_spiked,
    )


def _same(values: np.ndarray, value: float) -> np.ndarray:
    """``values == value``, NaN equal to NaN."""
    same: np.ndarray = (values == value) | (np.isnan(values) & math.isnan(value))
    return same


def _steady_from(prof: Profile, start_step: int, steps: int) -> int | None:
    """``N`` such that every run of ``N`` steps or more ends at the loss a run of ``steps``
    steps ends at (``N <= steps``), or ``None`` when longer runs may end elsewhere."""
    flat = flat_from(prof)
    if flat is None:
        return None
    overrides = [*prof.spike_steps, *prof.nonfinite_steps]
    steady = max(flat, max(overrides, default=0) + 1)
    if start_step + steps - 1 < steady:
        return None
    return max(1, steady - start_step + 1)


def _implications(results: SweepResults, best: SweepRow) -> tuple[str, ...]:
    per_profile = []
    for index, prof in enumerate(results.profiles):
        mine = results.profile_index == index
        spiked = results.spikes[mine] > 0
        broken = results.nonfinite[mine] > 0
        spikes = ", ".join(str(s) for s in prof.spike_steps) or "none"
        note = (
            f"spiked in {count_noun(int(spiked.sum()), 'config')}"
            if spiked.any()
            else "never spiked"
        )
        if prof.nonfinite_steps:
            bad = ", ".join(str(s) for s in prof.nonfinite_steps)
            note += (
                f"; non-finite steps: {bad}, logged in {count_noun(int(broken.sum()), 'config')}"
            )
        healthy = results.final_loss[mine & (results.nonfinite == 0)]
        lowest = (
            f"best final loss {float(healthy.min()):g}"
            if healthy.size
            else "no config without a non-finite loss"
        )
        per_profile.append(f"{prof.name} (spike steps: {spikes}; {note}; {lowest})")
    profile_text = (
        "Profile matters: "
        + "; ".join(per_profile)
        + ". Runs with a non-finite loss rank last; equal final losses go to the run with "
        "fewer spike steps."
    )

    best_index = next(i for i, p in enumerate(results.profiles) if p.name == best.profile)
    mine = results.profile_index == best_index
    steps_of, losses_of = results.steps[mine], results.final_loss[mine]
    shortest = int(steps_of.min())
    first_best = int(steps_of[_same(losses_of, best.final_loss)].min())
    steps_text = (
        f"Steps matter: {best.profile}'s final loss falls from "
        f"{float(losses_of[steps_of == shortest][0]):g} ({count_noun(shortest, 'step')}) to "
        f"{best.final_loss:g} at {first_best} steps"
    )
    prof = results.profiles[best_index]
    if _steady_from(prof, results.start_step, best.steps) is not None:
        steps_text += f", the floor {prof.floor:g}; more steps do not lower it."
    elif best.reaches_floor:
        steps_text += (
            f"; past the floor step the loss stays around the floor {prof.floor:g} but "
            "keeps changing with the run's length (noise, or an event later on)."
        )
    elif results.reaches_floor[mine].any():
        first_floor = int(steps_of[results.reaches_floor[mine]].min())
        steps_text += (
            f"; the floor {prof.floor:g} is reached from {first_floor} steps, but those runs "
            "log a non-finite loss."
        )
    else:
        steps_text += f"; the floor {prof.floor:g} is not reached within the swept steps."

    lr_count = np.unique(results.lr).size  # NaN (not logged) counts once
    size_count = np.unique(results.batch_size).size
    order = np.lexsort((results.steps, results.profile_index))
    by_profile, by_steps = results.profile_index[order], results.steps[order]
    finals = results.final_loss[order]
    same_run = (by_profile[1:] == by_profile[:-1]) & (by_steps[1:] == by_steps[:-1])
    equal = (finals[1:] == finals[:-1]) | (np.isnan(finals[1:]) & np.isnan(finals[:-1]))
    constant = bool(equal[same_run].all())
    if lr_count == 1 and size_count == 1:
        hyper_text = (
            "Hyperparameters: none varied (1 lr value, 1 batch size); lr and batch_size are "
            "logged only and never change the loss."
        )
    else:
        hyper_text = (
            f"Hyperparameters don't matter: {count_noun(lr_count, 'lr value')} x "
            f"{count_noun(size_count, 'batch size')} "
            + (
                "give identical final losses for every profile and step count"
                if constant
                else "give DIFFERENT final losses"
            )
            + "; they are logged only, so they tie."
        )
    determinism = (
        "Deterministic: the same config always produces the identical loss curve "
        "(the sweep computes each final loss from the formula, no randomness)."
    )
    return (profile_text, steps_text, hyper_text, determinism)


def _logged(value: object) -> str:
    return "not logged" if value is None else str(value)
