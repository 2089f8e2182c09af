"""Tests of the ratio spike alerts in ``spike_alert.py``, scored against ground truth.

The unpinned tests hold for every profile and run length: ``pytest examples
--synthloss-profile all --synthloss-steps 200``. Their expectations come from the curve's
ground truth (``spike_events``, ``nonfinite_steps``, ``divergence_step``); the pinned ones
show the noise test of issue 7: silent on ``noisy``, firing on ``noisy-spiky``.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from spike_alert import EMASpikeAlert, RatioSpikeAlert, RunningMeanSpikeAlert

from pytest_synthloss import LossCurve, assert_alerts_match, score_alerts
from pytest_synthloss.core.factory import CurveFactory

ALERTS = [
    pytest.param(RunningMeanSpikeAlert, id="running-mean"),
    pytest.param(EMASpikeAlert, id="ema"),
]


@pytest.mark.parametrize("make_alert", ALERTS)
def test_spike_alerts_match_the_spike_events(
    make_alert: type[RatioSpikeAlert], synthloss_curve: LossCurve
) -> None:
    alert = make_alert()
    alert.watch(synthloss_curve)
    # Spike and NaN/inf alerts together: every spike and non-finite event is caught, nothing
    # else is flagged (alerts inside a divergence are tolerated).
    score = assert_alerts_match(
        alert.steps("spike") + alert.steps("nonfinite"), synthloss_curve, max_latency=0
    )
    assert score.latencies == (0,) * len(score.events)  # on time, every event
    assert score.point_false_negatives == 0  # every step of a multi-step spike is flagged
    assert alert.steps("nonfinite") == list(synthloss_curve.nonfinite_steps)


@pytest.mark.parametrize("make_alert", ALERTS)
def test_a_spike_stays_out_of_the_reference(
    make_alert: type[RatioSpikeAlert], synthloss_curve: LossCurve
) -> None:
    alert = make_alert()
    alert.watch(synthloss_curve)
    by_step = {fired.step: fired for fired in alert.alerts if fired.kind == "spike"}
    for first, last in synthloss_curve.spike_events:
        # Every step of an event is judged against the reference from before the event.
        references = {by_step[step].reference for step in range(first, last + 1)}
        assert len(references) == 1
        spike = min(synthloss_curve.loss_at(step) for step in range(first, last + 1))
        assert references.pop() < spike / 3


@pytest.mark.parametrize("make_alert", ALERTS)
def test_long_runs_stay_quiet_after_the_spikes(
    make_alert: type[RatioSpikeAlert], synthloss_factory: CurveFactory
) -> None:
    curve = synthloss_factory(steps=500)
    alert = make_alert()
    alert.watch(curve)
    # Noise, plateaus and the floor never fire, and neither does a 20%-a-step divergence:
    # the reference rises with it (which is why the early-stopping guard exists).
    assert alert.steps("spike") == list(curve.spike_steps)
    assert alert.steps("nonfinite") == list(curve.nonfinite_steps)


# -- issue 7: a plausible detector on noise ---------------------------------------------


@pytest.mark.synthloss(profile="noisy", steps=200)
def test_running_mean_alert_is_silent_on_noise(synthloss_curve: LossCurve) -> None:
    alert = RunningMeanSpikeAlert()
    alert.watch(synthloss_curve)
    score = score_alerts(alert.steps("spike"), synthloss_curve)
    assert score.false_alarms == ()
    assert (score.event_precision, score.point_precision) == (1.0, 1.0)
    assert alert.alerts == []


@pytest.mark.synthloss(profile="noisy-spiky", steps=200)
def test_running_mean_alert_fires_on_the_noisy_spike(synthloss_curve: LossCurve) -> None:
    alert = RunningMeanSpikeAlert()
    alert.watch(synthloss_curve)
    score = assert_alerts_match(alert.steps("spike"), synthloss_curve)
    assert score.event_recall == 1.0
    assert score.point_recall == 1.0
    assert score.nab_score == 100.0
    assert [(event.span, latency) for event, latency in score.latency_by_event.items()] == [
        (span, 0) for span in synthloss_curve.spike_events
    ]


@pytest.mark.synthloss(profile="noisy", steps=200)
def test_a_naive_step_to_step_rule_is_not_silent_on_noise(synthloss_curve: LossCurve) -> None:
    """The noise test has teeth: "alert when the loss rises 2% over the last step" fires."""
    pairs = pairwise(synthloss_curve)
    naive = [step for (_, prev), (step, loss) in pairs if loss > 1.02 * prev]
    score = score_alerts(naive, synthloss_curve)
    assert score.false_alarms != ()
    assert score.event_precision == 0.0


@pytest.mark.parametrize("make_alert", ALERTS)
def test_a_spike_at_the_first_monitored_step_is_missed(
    make_alert: type[RatioSpikeAlert], synthloss_factory: CurveFactory
) -> None:
    """The warm-up's blind spot: a run resumed on a spike gives the spike no reference."""
    curve = synthloss_factory("spiky", steps=20, start_step=4)
    alert = make_alert()
    alert.watch(curve)
    score = score_alerts(alert.steps("spike"), curve)
    assert tuple(e.span for e in score.missed_events) == curve.spike_events == ((4, 5),)
