"""Spike assertions: checks of a spike *rule* on a loss series, with numpy.testing-style messages.

Each takes a :class:`~pytest_synthloss.LossCurve`, a 1-D array-like of losses (steps
``1..n``) or a ``(steps, losses)`` pair, and raises :class:`~pytest_synthloss.LossAssertionError`
(an ``AssertionError``) with a message naming the rule and thresholds, the counts, each
offending step with its value and reference (at most ``MAX_ROWS`` rows), the worst one, a
sparkline with the offenders marked, and how to reproduce a curve. They work without
pytest; under pytest their own frames are hidden from tracebacks.

Non-finite losses (NaN, inf, -inf) follow the ``nonfinite`` policy: ``"spike"`` (a
non-finite loss is a spike: the default of the generic rules), ``"ignore"`` (never a spike,
never in a reference), ``"error"`` (fail, naming the first non-finite step, before any spike
is looked for) or ``"stack"`` (the stack's own handling: the default of the stack presets).
A stack preset (``rule="lightning"`` and the others of ``STACK_PRESETS``) replays a resumed
curve's run from step 1.
Bad input (not a failed check) raises :class:`~pytest_synthloss.SynthLossError`.

They check a rule, not a monitor: the oracle for a monitor's alerts is
:func:`~pytest_synthloss.assert_alerts_match`, which reads the curve's events. On the
built-ins at 20 steps the default rule's answer is documented (docs/ground-truth.md):
``spiky``/``noisy-spiky`` (4, 5); ``nan``/``inf`` (12,) under ``nonfinite="spike"``, ()
under ``"ignore"``; ``diverging`` (16, 17, 18, 19, 20), where the loss passes 3x its
running minimum; () on the others. ``assert_spikes_at(curve, curve.spike_steps)`` therefore
fails on ``nan``, ``inf`` and ``diverging``, by design.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from pytest_synthloss.checks.detection import (
    SpikeReport,
    check_nonfinite_policy,
    spike_report,
)
from pytest_synthloss.checks.finite_assertions import nonfinite_details
from pytest_synthloss.checks.messages import MAX_ROWS, fail, num, percent, table
from pytest_synthloss.checks.offenders import Tally
from pytest_synthloss.checks.rules import SpikeRule, get_rule
from pytest_synthloss.checks.series import LossSeries, Series, as_series
from pytest_synthloss.checks.spike_outcome import Outcome, spike_outcome
from pytest_synthloss.checks.stack_base import MAX_HISTORY, StackPreset
from pytest_synthloss.core.curve import make_curve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.model import range_losses, trend_losses
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.recorded import RecordedCurve
from pytest_synthloss.core.validation import check_step, loss_array

__all__ = ["NOISY_HISTORY_WINDOW", "assert_no_spikes", "assert_spikes_at", "find_spikes"]


#: Steps computed per pass when a noisy profile's history has to be scanned.
_HISTORY_CHUNK = 1 << 16
#: A noisy profile's history is scanned over at most this many steps before the run
#: (about 0.1 s), so a run resumed at step 10**12 is checked as fast as one at 10**7.
NOISY_HISTORY_WINDOW = 1 << 22

# -- spikes ----------------------------------------------------------------------------


def _prior_min(profile: Profile, last: int) -> float:
    """The lowest finite loss of ``profile`` over steps ``1..last`` (NaN if none).

    Without noise, in closed form: the trend never rises before the divergence onset and
    never falls from it, so its lowest value is at the last step before the onset (or the
    nearest step on either side not replaced by a spike or non-finite loss). With noise
    there is no shortcut: the losses of the last ``NOISY_HISTORY_WINDOW`` steps up to
    ``last`` are computed, a chunk at a time (all of them for shorter histories).
    """
    if profile.noise is not None or profile.ranks is not None:
        low = math.inf
        buffer = np.empty(min(last, _HISTORY_CHUNK))
        for first in range(max(1, last - NOISY_HISTORY_WINDOW + 1), last + 1, _HISTORY_CHUNK):
            chunk = range_losses(profile, first, min(_HISTORY_CHUNK, last - first + 1), buffer)
            finite = chunk[np.isfinite(chunk)]
            if finite.size:
                low = min(low, float(finite.min()))
        return low if math.isfinite(low) else math.nan
    replaced = profile.spikes.keys() | profile.nonfinite.keys()
    onset = profile.divergence_step
    turn = last if onset is None or onset > last else max(onset - 1, 1)
    candidates = [loss for step, loss in profile.spikes.items() if step <= last]
    below = turn
    while below >= 1 and below in replaced:
        below -= 1
    above = turn + 1
    while above <= last and above in replaced:
        above += 1
    lowest = [s for s in (below, above) if 1 <= s <= last]
    candidates += trend_losses(np.array(lowest, dtype=np.int64), profile).tolist()
    return min(candidates) if candidates else math.nan


def _context(series: Series, rule: SpikeRule) -> np.ndarray:
    curve = series.curve
    if curve is None or curve.start_step == 1 or isinstance(curve, RecordedCurve):
        return np.empty(0)  # a recorded run has no history before its first logged step
    before = curve.start_step - 1
    if isinstance(rule, StackPreset):  # a stack replays the run from its first step
        if before > MAX_HISTORY:
            raise SynthLossError(
                f"{rule.name}: replays the run from step 1; a curve may start at most "
                f"MAX_HISTORY ({MAX_HISTORY}) steps in, got start_step={curve.start_step}"
            )
        return make_curve(before, curve.profile).losses
    if rule.lookback is None:
        return np.array([_prior_min(curve.profile, before)])  # NaN is dropped as no history
    count = min(rule.lookback, before)
    return make_curve(count, curve.profile, start_step=curve.start_step - count).losses


def find_spikes(
    curve: LossSeries, rule: SpikeRule | str | None = None, *, nonfinite: str | None = None
) -> SpikeReport:
    """Run a spike rule (default: running-min ratio >= 3.0) over a curve or losses.

    A LossCurve that starts after step 1 is checked with its profile's earlier steps as
    context, as the rest of its run: a step is a spike or not whatever step the run
    starts at (for noisy profiles the history is the last ``NOISY_HISTORY_WINDOW``
    steps, 2**22). Arrays and recorded curves have no history: their first step is never a
    spike. ``nonfinite``
    is the NaN/inf policy: ``"spike"`` (default), ``"ignore"`` or ``"error"`` (raises
    :class:`LossAssertionError` naming the first non-finite step).
    """
    __tracebackhide__ = True
    return _find(as_series(curve), rule, nonfinite)


def _policy(
    series: Series, rule: SpikeRule | str | None, nonfinite: str | None
) -> tuple[SpikeRule, str]:
    """The rule and policy; under ``nonfinite="error"``, first fail on any non-finite loss."""
    __tracebackhide__ = True
    chosen = get_rule(rule)
    policy = check_nonfinite_policy(nonfinite, chosen)
    details = nonfinite_details(series) if policy == "error" else None
    if details is not None:
        first, summary, rest = details
        fail(
            [
                f"Loss is not finite at step {series.step_at(first)} "
                f"(loss={num(series.losses[first])}) and nonfinite='error': "
                f"spikes by rule {chosen.describe()} not checked ({series.where})",
                f"Non-finite losses: {summary}",
                *rest,
            ]
        )
    return chosen, policy


def _find(series: Series, rule: SpikeRule | str | None, nonfinite: str | None) -> SpikeReport:
    """The spike report (every step's reference, score and flag)."""
    __tracebackhide__ = True
    chosen, policy = _policy(series, rule, nonfinite)
    # the series' arrays are checked already (a curve's, or copies made by as_series)
    return spike_report(series.losses, series.steps, chosen, policy, _context(series, chosen))


def _outcome(series: Series, rule: SpikeRule | str | None, nonfinite: str | None) -> Outcome:
    """What an assertion shows of the decision (see :mod:`.spike_outcome`)."""
    __tracebackhide__ = True
    chosen, policy = _policy(series, rule, nonfinite)
    context = loss_array("context", _context(series, chosen))
    return spike_outcome(series.losses, chosen, policy, context)


def _rule_text(outcome: Outcome) -> str:
    """The rule, and the NaN policy when it is not the default."""
    text = outcome.rule.describe()
    default = getattr(outcome.rule, "default_nonfinite", "spike")
    return text if outcome.nonfinite == default else f"{text}, nonfinite={outcome.nonfinite!r}"


def _spike_row(series: Series, outcome: Outcome, index: int, note: str = "") -> list[str]:
    loss = float(series.losses[index])
    reference = outcome.reference_at(index)
    row = [
        str(series.step_at(index)),
        num(loss),
        "none" if math.isnan(reference) else num(reference),
        "non-finite"
        if not math.isfinite(loss)
        else outcome.rule.format_score(outcome.score_at(index)),
    ]
    return [*row, note] if note else row


def _spike_header(outcome: Outcome, *extra: str) -> list[str]:
    return ["step", "loss", "reference", outcome.rule.score_label, *extra]


def _worst(series: Series, outcome: Outcome, index: int) -> str:
    step, loss = series.step_at(index), float(series.losses[index])
    if not math.isfinite(loss):
        return f"Worst: step {step} loss={num(loss)} (non-finite)"
    score = outcome.rule.format_score(outcome.score_at(index))
    reference = num(outcome.reference_at(index))
    return f"Worst: step {step} loss={num(loss)} vs reference {reference} ({score})"


def assert_no_spikes(
    curve: LossSeries, *, rule: SpikeRule | str | None = None, nonfinite: str | None = None
) -> None:
    """Assert that ``rule`` (default: running-min ratio >= 3.0) flags no step.

    ``nonfinite``: a NaN/inf loss is a spike (``"spike"``, default), is skipped
    (``"ignore"``), or fails the assertion as non-finite (``"error"``).
    """
    __tracebackhide__ = True
    series = as_series(curve, copy=False)
    outcome = _outcome(series, rule, nonfinite)
    found = outcome.tally(series.spark_bounds())
    if not found.count:
        return
    fail(
        [
            f"Loss spikes found: {percent(found.count, series.count)} by rule "
            f"{_rule_text(outcome)} ({series.where})",
            _worst(series, outcome, found.worst),
            *table(
                _spike_header(outcome),
                [_spike_row(series, outcome, i) for i in found.first.tolist()],
                found.count,
            ),
            series.spark_hit(found.columns),
            *series.reproduce(),
        ]
    )


def assert_spikes_at(
    curve: LossSeries,
    steps: Iterable[int],
    *,
    rule: SpikeRule | str | None = None,
    nonfinite: str | None = None,
) -> None:
    """Assert that ``rule`` flags exactly ``steps`` (e.g. ``curve.spike_steps``).

    ``nonfinite`` as for :func:`assert_no_spikes`: under the default ``"spike"`` a
    non-finite step must be among ``steps``; under ``"ignore"`` it must not.
    """
    __tracebackhide__ = True
    if isinstance(steps, str | bytes) or not isinstance(steps, Iterable):
        raise SynthLossError(
            "steps must be an iterable of integer steps (e.g. curve.spike_steps), "
            f"got {steps!r} ({type(steps).__name__})"
        )
    series = as_series(curve, copy=False)
    expected = sorted({check_step(s, "expected spike step") for s in steps})
    wanted = np.array(expected, dtype=np.int64)
    at = np.minimum(series.positions(wanted), series.count - 1)
    outside = np.flatnonzero(series.steps_at(at) != wanted)
    if outside.size:
        raise SynthLossError(
            f"expected spike step {expected[int(outside[0])]} is not in the series ({series.where})"
        )
    outcome = _outcome(series, rule, nonfinite)
    bounds = series.spark_bounds()
    spots = series.positions(wanted)
    # block by block: the flagged steps, and those not expected or expected and missing
    flagged, missing, extra, wrong = (Tally(bounds) for _ in range(4))
    for first, end, positions, _ in outcome.blocks():
        due = spots[np.searchsorted(spots, first) : np.searchsorted(spots, end)]
        if not positions.size and not due.size:
            continue
        found, expect = np.zeros(end - first, bool), np.zeros(end - first, bool)
        found[positions - first] = True
        expect[due - first] = True
        flagged.add(positions)
        missing.add(np.flatnonzero(expect & ~found) + first)
        extra.add(np.flatnonzero(found & ~expect) + first)
        wrong.add(np.flatnonzero(found ^ expect) + first)
    if not wrong.count:
        return
    shown = wrong.first
    absent = np.isin(shown, missing.first)
    rows = [  # only the rows shown: the cost does not grow with the number of offenders
        _spike_row(series, outcome, s, "missing" if a else "unexpected")
        for s, a in zip(shown.tolist(), absent.tolist(), strict=True)
    ]
    fail(
        [
            f"Spikes differ from the expected steps by rule {_rule_text(outcome)} ({series.where})",
            f"Expected: {_steps_text(wanted, wanted.size)}; "
            f"found: {_steps_text(series.steps_at(flagged.first), flagged.count)}",
            f"Missing: {missing.count}, unexpected: {extra.count}",
            *table(_spike_header(outcome, ""), rows, wrong.count),
            series.spark_hit(wrong.columns),
            *series.reproduce(),
        ]
    )


def _steps_text(steps: np.ndarray, count: int) -> str:
    """The first steps (of ``count``), e.g. ``steps 4, 5``."""
    if not count:
        return "no spikes"
    shown = ", ".join(str(s) for s in steps[:MAX_ROWS].tolist())
    more = f", ... {count - MAX_ROWS} more" if count > MAX_ROWS else ""
    return f"steps {shown}{more}"
