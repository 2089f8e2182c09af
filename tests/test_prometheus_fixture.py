"""The ``synthloss_prometheus`` fixture, through pytester: a downstream suite's alert rules
in a real Prometheus, under the selected profiles; and its skip without the binary."""

from __future__ import annotations

import pytest

from pytest_synthloss.exports.prometheus_server import find_prometheus

RULES = """\
groups:
  - name: training
    rules:
      - alert: LossSpike
        expr: train_loss > 5
        labels: {severity: page}
"""

DOWNSTREAM = """\
from pathlib import Path

from pytest_synthloss import assert_alerts_match

RULES = Path(__file__).with_name("alerts.yml")


def test_spike_alert(synthloss_prometheus, synthloss_curve):
    alerts = synthloss_prometheus.run(RULES)
    assert alerts.runs == ("r0",)
    assert alerts.firing_steps("r0", "LossSpike") == synthloss_curve.spike_steps
    assert_alerts_match(alerts.firing_steps("r0"), synthloss_curve)
"""


@pytest.mark.skipif(
    find_prometheus() is None,
    reason="prometheus not found: install Prometheus (Debian: apt-get install prometheus)",
)
def test_a_downstream_rule_runs_in_real_prometheus_per_profile(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", alerts=RULES)
    pytester.makepyfile(test_rules=DOWNSTREAM)
    result = pytester.runpytest(
        "--synthloss-profile", "spiky,stable", "--synthloss-steps", "8", "-v"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_spike_alert[[]spiky[]] PASSED*", "*test_spike_alert[[]stable[]] PASSED*"]
    )


def test_without_the_binary_the_test_is_skipped_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))
    monkeypatch.delenv("PROMETHEUS", raising=False)
    pytester.makefile(".yml", alerts=RULES)
    pytester.makepyfile(test_rules=DOWNSTREAM)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] *: prometheus not found: install Prometheus "
            "(Debian: apt-get install prometheus)"
        ]
    )


def test_the_fixture_is_documented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "synthloss_prometheus -- *prometheus_fixture.py:*",
            "    A real Prometheus (the ``prometheus`` binary) evaluating your alert rules live.",
        ]
    )


def test_a_bad_prometheus_variable_fails_the_test_instead_of_skipping(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS", "/nonexistent/prom")
    pytester.makefile(".yml", alerts=RULES)
    pytester.makepyfile(test_rules=DOWNSTREAM)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*synthloss_prometheus: $PROMETHEUS '/nonexistent/prom' is not an executable program"]
    )
