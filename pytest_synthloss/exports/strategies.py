"""Hypothesis strategies for profiles and curves with spikes anywhere, ground truth attached.

Needs the ``hypothesis`` extra (``pip install "pytest-synthloss[hypothesis]"``); this
module is never imported by ``pytest_synthloss`` itself. A detector built on the default
spike rule catches every generated spike and nothing else (this example runs as a
doctest)::

    >>> from hypothesis import given, settings
    >>> from pytest_synthloss import assert_alerts_match, find_spikes
    >>> from pytest_synthloss.exports.strategies import curves
    >>> @settings(max_examples=25, database=None, deadline=None)
    ... @given(curves(max_steps=60))
    ... def test_detector_finds_every_spike(curve):
    ...     alerts = find_spikes(curve).spike_steps  # your detector here
    ...     assert assert_alerts_match(alerts, curve).event_recall == 1.0
    >>> test_detector_finds_every_spike()

A generated profile keeps the baseline parameters (by default the spec's ``start=2.25``,
``decay=0.07``, ``floor=1.05``) and draws spike *events*: runs of 1 to
``max_event_length`` consecutive steps, each spike ``spike_factor`` times the baseline
at its step (a factor drawn from the closed range; by default 3.5 to 10, which the default
rule always sees after the first step). Events may touch or merge, sit at the first or the
last step. Only spikes that ``rule`` (a spike rule or its name; default: the
default rule, running-min ratio >= 3.0) flags on the run are kept, so a drawn 2x bump that
no 3x rule can see never becomes ground truth; a draw whose curve the rule flags at any
other step is rejected. The curve's ``events``, ``spike_steps`` and ``spike_events`` are
the truth. Shrinking goes towards fewer, earlier, shorter events and smaller factors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from pytest_synthloss.checks.rules import SpikeRule, get_rule
from pytest_synthloss.checks.spike_assertions import find_spikes
from pytest_synthloss.core.curve import LossCurve, make_curve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Divergence, Noise
from pytest_synthloss.core.extras import require_extra
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.validation import check_int, check_step

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ImportError:  # the same message as every other missing extra
    require_extra("hypothesis", "hypothesis", "pytest_synthloss.exports.strategies")
    raise

__all__ = ["curves", "profiles"]


def _check_factor(spike_factor: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in spike_factor)
    except (TypeError, ValueError):
        raise SynthLossError(
            f"spike_factor must be a pair (low, high) of numbers, got {spike_factor!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise SynthLossError(
            f"spike_factor must be finite with 0 < low <= high, got {spike_factor!r}"
        )
    return low, high


def _check_counts(min_events: int, max_events: int, max_event_length: int) -> None:
    for name, value, least in (
        ("min_events", min_events, 0),
        ("max_events", max_events, 0),
        ("max_event_length", max_event_length, 1),
    ):
        check_int(name, value, least)
    if min_events > max_events:
        raise SynthLossError(f"min_events ({min_events}) must be <= max_events ({max_events})")


@st.composite
def _profiles(
    draw: st.DrawFn,
    first_step: int,
    last_step: int,
    min_events: int,
    max_events: int,
    max_event_length: int,
    spike_factor: tuple[float, float],
    name: str,
    start: float,
    decay: float,
    floor: float,
    rule: SpikeRule | None,
    extras: tuple[int, bool, bool],
) -> Profile:
    base = Profile(name, start=start, decay=decay, floor=floor)
    events = draw(
        st.lists(
            st.tuples(st.integers(first_step, last_step), st.integers(1, max_event_length)),
            min_size=min_events,
            max_size=max_events,
        )
    )
    low, high = spike_factor
    spikes: dict[int, float] = {}
    for event_start, length in events:
        for step in range(event_start, min(event_start + length, last_step + 1)):
            factor = draw(st.floats(low, high, allow_nan=False, allow_infinity=False))
            spikes[step] = base.baseline(step) * factor
    max_nonfinite, divergence, noise = extras
    bad = st.sampled_from([math.nan, math.inf, -math.inf])
    nonfinite = draw(
        st.dictionaries(st.integers(first_step, last_step), bad, max_size=max_nonfinite)
    )
    for step in nonfinite:
        spikes.pop(step, None)
    onset = None
    if divergence and draw(st.booleans()):
        onset = Divergence(draw(st.integers(first_step, last_step)), draw(st.floats(0.01, 0.5)))
    jitter = None
    if noise and draw(st.booleans()):
        jitter = Noise(draw(st.floats(0.0, 0.2)), draw(st.integers(0, 2**32)))
    full = Profile(
        name,
        start=start,
        decay=decay,
        floor=floor,
        nonfinite=nonfinite,
        divergence=onset,
        noise=jitter,
    )
    described = f"generated: {len(events)} spike event(s) drawn by hypothesis"
    if rule is not None:
        kept = _flagged(full, spikes, rule, first_step, last_step)
        assume(kept is not None)  # the rule flags a step that is not a spike
        assert kept is not None
        spikes = kept
        described += f", {len(kept)} spike step(s) flagged by {rule.describe()}"
    return dataclasses.replace(full, spikes=spikes, description=described)


def _flagged(
    base: Profile, spikes: dict[int, float], rule: SpikeRule, first: int, last: int
) -> dict[int, float] | None:
    """The drawn spikes that ``rule`` flags on the run ``first..last``, dropping the others
    until the rule flags exactly the spikes kept; ``None`` if it flags another step.

    Non-finite steps and the steps from a divergence's onset on are not compared (they are
    events of their own, expected or tolerated by the oracle)."""
    onset = base.divergence_step or last + 1
    while True:
        prof = dataclasses.replace(base, spikes=spikes)
        curve = make_curve(last - first + 1, prof, start_step=first)
        found = {
            s for s in find_spikes(curve, rule).spike_steps if s not in base.nonfinite and s < onset
        }
        kept = {step: loss for step, loss in spikes.items() if step in found}
        if len(kept) == len(spikes):
            return spikes if found == set(spikes) else None
        spikes = kept


def profiles(
    *,
    min_step: int = 1,
    max_step: int = 50,
    min_events: int = 0,
    max_events: int = 4,
    max_event_length: int = 3,
    spike_factor: tuple[float, float] = (3.5, 10.0),
    name: str = "generated",
    start: float = 2.25,
    decay: float = 0.07,
    floor: float = 1.05,
    rule: SpikeRule | str | None = None,
    flagged_only: bool = True,
    max_nonfinite: int = 0,
    divergence: bool = False,
    noise: bool = False,
) -> st.SearchStrategy[Profile]:
    """Profiles with spike events between ``min_step`` and ``max_step`` (see module docs).

    ``min_events`` drawn events may merge into fewer ground-truth events when they touch,
    and drawn spikes that ``rule`` does not flag on the run ``min_step..max_step`` are
    dropped (unless ``flagged_only=False``), so a profile may have fewer events than
    ``min_events``. ``max_nonfinite`` NaN/inf/-inf steps may replace losses in the same
    range (a spike drawn at one of them is dropped); ``divergence=True`` may add a
    divergence (onset in range, rate 0.01..0.5), ``noise=True`` seeded multiplicative noise
    (sigma 0..0.2).
    """
    first = check_step(min_step, "min_step")
    last = check_step(max_step, "max_step")
    if first > last:
        raise SynthLossError(f"min_step ({first}) must be <= max_step ({last})")
    _check_counts(min_events, max_events, max_event_length)
    factor = _check_factor(spike_factor)
    Profile(name, start=start, decay=decay, floor=floor)  # validates the baseline now
    chosen = get_rule(rule) if flagged_only else None
    if isinstance(max_nonfinite, bool) or not isinstance(max_nonfinite, int) or max_nonfinite < 0:
        raise SynthLossError(f"max_nonfinite must be an integer >= 0, got {max_nonfinite!r}")
    extras = (max_nonfinite, bool(divergence), bool(noise))
    return _profiles(
        first,
        last,
        min_events,
        max_events,
        max_event_length,
        factor,
        name,
        start,
        decay,
        floor,
        chosen,
        extras,
    )


@st.composite
def _curves(
    draw: st.DrawFn,
    min_steps: int,
    max_steps: int,
    start_step: int,
    profiles_until: Callable[[int], st.SearchStrategy[Profile]],
) -> LossCurve:
    steps = draw(st.integers(min_steps, max_steps))
    profile = draw(profiles_until(start_step + steps - 1))
    return make_curve(steps, profile, start_step=start_step)


def curves(
    *,
    min_steps: int = 1,
    max_steps: int = 50,
    start_step: int = 1,
    min_events: int = 0,
    max_events: int = 4,
    max_event_length: int = 3,
    spike_factor: tuple[float, float] = (3.5, 10.0),
    name: str = "generated",
    start: float = 2.25,
    decay: float = 0.07,
    floor: float = 1.05,
    rule: SpikeRule | str | None = None,
) -> st.SearchStrategy[LossCurve]:
    """Curves of ``min_steps..max_steps`` steps from ``start_step``, spikes within the run.

    The profile comes from :func:`profiles` with the remaining arguments; every spike is
    one that ``rule`` (default: the default rule) flags on this run. The curve's
    ``events``, ``spike_steps``, ``spike_events`` and ``profile`` give the ground truth.
    """
    low = check_step(min_steps, "min_steps")
    high = check_step(max_steps, "max_steps")
    first = check_step(start_step, "start_step")
    if low > high:
        raise SynthLossError(f"min_steps ({low}) must be <= max_steps ({high})")

    def profiles_until(last: int) -> st.SearchStrategy[Profile]:
        return profiles(
            min_step=first,
            max_step=last,
            min_events=min_events,
            max_events=max_events,
            max_event_length=max_event_length,
            spike_factor=spike_factor,
            name=name,
            start=start,
            decay=decay,
            floor=floor,
            rule=rule,
        )

    profiles_until(first + low - 1)  # validates the arguments now, not at draw time
    return _curves(low, high, first, profiles_until)
