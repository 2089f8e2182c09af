"""Tests of ``LossSpikeMonitor`` written against each curve's ground truth.

They hold for every profile: run them with ``--synthloss-profile stable``, ``spiky`` or
``all`` (once per profile) and any ``--synthloss-steps``. Expectations come from the
curve's ground truth (its events: spikes, non-finite steps, divergence), never from numbers;
``assert_alerts_match`` is the oracle.
"""

from __future__ import annotations

import numpy as np
from loss_spike_monitor import LossSpikeMonitor

from pytest_synthloss import (
    LossCurve,
    LossStream,
    assert_alerts_match,
    assert_final_loss,
    assert_spikes_at,
)
from pytest_synthloss.core.factory import CurveFactory


def alert_steps(monitor: LossSpikeMonitor) -> list[int]:
    """Every step the monitor raised a spike or a NaN/inf alert at."""
    return monitor.steps_with("spike") + monitor.steps_with("nonfinite")


def test_spike_alerts_match_ground_truth(synthloss_curve: LossCurve) -> None:
    monitor = LossSpikeMonitor()
    for step, loss in synthloss_curve:
        monitor.observe(step, loss)
    # Every spike and NaN/inf event is caught; nothing else is flagged (a divergence may be).
    assert_alerts_match(alert_steps(monitor), synthloss_curve)
    if not synthloss_curve.nonfinite_steps and synthloss_curve.divergence_step is None:
        # The monitor's rule is the plugin's default spike rule: both agree with the truth.
        assert_spikes_at(synthloss_curve, synthloss_curve.spike_steps)


def test_best_loss_and_history(synthloss_curve: LossCurve) -> None:
    monitor = LossSpikeMonitor()
    for step, loss in synthloss_curve:
        monitor.observe(step, loss)
    assert monitor.best == float(np.nanmin(synthloss_curve.losses))
    steps, losses = zip(*monitor.history, strict=True)
    assert_final_loss((list(steps), list(losses)), synthloss_curve.final_loss, rtol=0)


def test_long_run_reaches_the_floor_quietly_after_the_spikes(
    synthloss_factory: CurveFactory,
) -> None:
    curve = synthloss_factory(steps=200)
    monitor = LossSpikeMonitor()
    for step, loss in curve:
        monitor.observe(step, loss)
    assert_alerts_match(alert_steps(monitor), curve, max_latency=0)
    assert monitor.steps_with("nonfinite") == list(curve.nonfinite_steps)
    if curve.divergence_step is None:
        assert monitor.steps_with("spike") == list(curve.spike_steps)
        assert curve.reaches_floor
        if curve.profile.noise is None:
            assert monitor.best == curve.floor
    else:
        assert not curve.reaches_floor
        assert monitor.steps_with("spike")[-1] == curve.last_step  # a diverged run keeps alerting


def test_alerts_carry_the_stream_time(synthloss_stream: LossStream) -> None:
    monitor = LossSpikeMonitor(clock=synthloss_stream.clock.time)
    first = synthloss_stream.curve.start_step
    for event in synthloss_stream:
        monitor.observe(event.step, event.loss)
        assert event.time == (event.step - first + 1) * synthloss_stream.interval
    spikes = [
        alert
        for alert in monitor.alerts
        if alert.kind == "spike" and alert.step in synthloss_stream.curve.spike_steps
    ]
    assert [(a.step, a.time) for a in spikes] == [
        (step, float(step - first + 1)) for step in synthloss_stream.curve.spike_steps
    ]


def test_stall_alert_without_sleeping(synthloss_factory: CurveFactory) -> None:
    curve = synthloss_factory(steps=20)
    stalled = 7
    stream = LossStream(curve, interval=10.0, delays={stalled: 600.0})
    monitor = LossSpikeMonitor(stall_after=300.0, clock=stream.clock.time)
    for event in stream:
        monitor.observe(event.step, event.loss)
    stalls = [alert for alert in monitor.alerts if alert.kind == "stall"]
    assert [(a.step, a.time) for a in stalls] == [(stalled, 7 * 10.0 + 600.0)]
