"""The built-in profiles: the spec's ``stable`` and ``spiky``, one profile per failure mode,
the realistic runs of :mod:`pytest_synthloss.core.realistic` and the runs with linked
signals of :mod:`pytest_synthloss.core.signal_runs`.

Each is a plain :class:`~pytest_synthloss.core.profiles.Profile`; its ground truth (spike
steps, non-finite steps, divergence onset, plateau windows) is derived from its fields.
"""

from __future__ import annotations

import math

from pytest_synthloss.core.cohorts import cohort_profile
from pytest_synthloss.core.events import Divergence, Noise
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.ranks import Ranks
from pytest_synthloss.core.realistic import REALISTIC
from pytest_synthloss.core.signal_runs import SIGNAL_RUNS

__all__ = [
    "BUILTINS",
    "DIVERGING",
    "FAMILIES",
    "INF",
    "NAN",
    "NOISY",
    "NOISY_SPIKY",
    "PLATEAU",
    "RANKS_4",
    "REALISTIC_NAMES",
    "SPEC_LINE",
    "SPIKY",
    "STABLE",
    "TRIALS_8",
]

STABLE = Profile(
    name="stable",
    description="Smooth, monotonic decay from 2.18 at step 1 to the 1.05 floor from step 18.",
)
SPIKY = Profile(
    name="spiky",
    spikes={4: 9.7, 5: 9.5},
    description="As stable, with a loss spike at step 4 (9.7) decaying at step 5 (9.5).",
)
NAN = Profile(
    name="nan",
    nonfinite={12: math.nan},
    description="As stable, but the loss is NaN at step 12 (nonfinite_steps (12,)); no spikes.",
)
INF = Profile(
    name="inf",
    nonfinite={12: math.inf},
    description="As stable, but the loss is +inf at step 12 (nonfinite_steps (12,)); no spikes.",
)
DIVERGING = Profile(
    name="diverging",
    divergence=Divergence(start_step=10, rate=0.2),
    description=(
        "As stable to step 9 (1.62), then diverges for good: from step 10 (divergence_step) "
        "the loss grows 20% a step (1.944, 2.3328, ...); never reaches the floor."
    ),
)
PLATEAU = Profile(
    name="plateau",
    plateaus=((6, 12),),
    description=(
        "As stable, but steps 6..12 hold step 6's loss (1.83), then it drops to 1.34 at "
        "step 13 (plateau_windows ((6, 12),)); floor from step 18."
    ),
)
NOISY = Profile(
    name="noisy",
    noise=Noise(sigma=0.02, seed=0),
    description=(
        "As stable, with 2% multiplicative Gaussian noise (seed 0): no spikes, no "
        "non-finite steps; a monitor must not alert (false-alarm test)."
    ),
)
NOISY_SPIKY = Profile(
    name="noisy-spiky",
    spikes={4: 9.7, 5: 9.5},
    noise=Noise(sigma=0.02, seed=0),
    description="As noisy, with spiky's spike at step 4 (9.7) and step 5 (9.5): one event.",
)

RANKS_4 = Profile(
    name="ranks-4",
    ranks=Ranks(4, spikes={3: {8: 40.0}}, nonfinite={1: {14: math.nan}}, sigma=0.01),
    description=(
        "4 data-parallel ranks (1% noise each), the loss their all-reduced mean: rank 3 "
        "spikes at step 8 (40.0; the mean 11.27), rank 1 is NaN at step 14 (so is the "
        "mean); rank 0 alone sees neither."
    ),
)

#: The built-in profiles, in the order ``available_profiles()`` lists them.
#: The built-ins on the spec's line (no shape, natural length 20).
SPEC_LINE = (STABLE, SPIKY, NAN, INF, DIVERGING, PLATEAU, NOISY, NOISY_SPIKY)


def _trial(index: int, start: float, decay: float, floor: float, **events: object) -> Profile:
    return Profile(
        f"trials-8/trial-{index}",
        start,
        decay,
        floor,
        noise=Noise(0.005, 800 + index),
        steps=30,
        **events,  # type: ignore[arg-type]
    )


TRIALS_8 = cohort_profile(
    "trials-8",
    (
        _trial(0, 2.25, 0.07, 1.05),
        _trial(1, 2.4, 0.05, 1.2),
        _trial(2, 2.1, 0.03, 1.0),  # leads early, ends mid-field
        _trial(3, 3.2, 0.12, 0.7),  # the late bloomer: worst at first, best at the end
        _trial(4, 2.3, 0.06, 1.1),
        _trial(5, 2.6, 0.08, 0.9),  # a second late bloomer
        _trial(6, 2.2, 0.07, 1.0, nonfinite=dict.fromkeys(range(13, 31), math.nan)),
        _trial(7, 2.2, 0.07, 1.05, divergence=Divergence(12, 0.15)),
    ),
    description=(
        "8 trials of a search, 30 steps each (trial 0's curve is the profile's): trial 3 "
        "starts worst and ends best, trial 5 too; trial 6 is NaN from step 13, trial 7 "
        "diverges from step 12. Default MedianPruner: trial 5 pruned at step 1."
    ),
)

#: The built-ins that are families of runs (ranks, trials).
FAMILIES = (RANKS_4, TRIALS_8)
BUILTINS = (*SPEC_LINE, *REALISTIC, *SIGNAL_RUNS, *FAMILIES)
#: The names of the realistic built-ins.
REALISTIC_NAMES = tuple(p.name for p in REALISTIC)
