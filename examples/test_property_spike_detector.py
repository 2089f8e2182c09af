"""Property test: the example SpikeDetector over thousands of generated spike layouts.

Uses only the core API (score_alerts) and pytest_synthloss.strategies.
"""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis", reason="needs the hypothesis extra")

from hypothesis import given, settings
from spike_detector import alert_steps

from pytest_synthloss import LossCurve, score_alerts
from pytest_synthloss.exports.strategies import curves

# The baseline falls from 2.18 to 1.05 (a ratio of at most 2.08), so a spike of at least
# 4.5x its baseline is always above 2x the last normal loss: the detector must see it.
SPIKES = curves(max_steps=120, max_events=6, max_event_length=4, spike_factor=(4.5, 10.0))


@settings(max_examples=500, deadline=None)
@given(SPIKES)
def test_every_spike_after_the_first_step_is_caught_at_once(curve: LossCurve) -> None:
    score = score_alerts(alert_steps(curve), curve)
    assert score.false_alarms == ()
    assert score.point_false_positives == 0
    # The first step has no reference yet: an event starting there is the blind spot
    # (hypothesis found that its later steps may still be caught, one step late).
    for event, latency in score.latency_by_event.items():
        if event.first != curve.start_step:
            assert latency == 0


@settings(max_examples=200, deadline=None)
@given(curves(min_steps=2, max_steps=60, start_step=500, spike_factor=(4.5, 10.0)))
def test_resumed_runs_keep_the_same_guarantee(curve: LossCurve) -> None:
    score = score_alerts(alert_steps(curve), curve)
    assert score.false_alarms == ()
    assert {event.first for event in score.missed_events} <= {curve.start_step}
