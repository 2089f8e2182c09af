"""live_alerts.yml in a real Prometheus: the synthloss_prometheus fixture serves the
selected curve as a live run, Prometheus scrapes it and evaluates the rule, and the oracle
compares the steps the alert fired at with the curve's ground truth.

Needs the ``prometheus`` binary (Debian: ``apt-get install prometheus``); without it the
test is skipped with that reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_synthloss import LossCurve, assert_alerts_match
from pytest_synthloss.plugin.prometheus_fixture import LivePrometheus

RULES = Path(__file__).with_name("live_alerts.yml")


@pytest.mark.synthloss(profile="spiky,nan,stable", steps=14)
def test_the_rule_fires_on_spikes_and_nan_only(
    synthloss_prometheus: LivePrometheus, synthloss_curve: LossCurve
) -> None:
    alerts = synthloss_prometheus.run(RULES)
    fired = alerts.firing_steps("r0", "TrainingLossSpike")
    # every spike and NaN caught, no false alarm (expect: spike, nonfinite)
    assert_alerts_match(fired, synthloss_curve)
