"""The TrainingLossSpike rule in alerts.yml, tested with the real `promtool test rules`.

pytest-synthloss exports each curve as a promtool unit-test file: the loss as one
literal sample per step (step k at (k - 1) minutes) and, at every step, the alerts that
ground truth says must be firing. promtool then evaluates the real rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_synthloss import Profile, make_curve, write_promtool_test
from pytest_synthloss.exports.promtool import run_promtool_test

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not found: install Prometheus (Debian: apt-get install prometheus)",
)

RULES = Path(__file__).with_name("alerts.yml")
EXPECT = {
    "alertname": "TrainingLossSpike",
    "rule_files": str(RULES),
    "interval": "1m",
    "labels": {"run": "r1"},
    "exp_labels": {"severity": "page"},
    "exp_annotations": {"summary": "Training loss spike on run r1"},
}


def test_rule_fires_on_spiky_and_stays_silent_on_stable(tmp_path: Path) -> None:
    spiky, stable = make_curve(20, "spiky"), make_curve(20, "stable")
    test_file = write_promtool_test(tmp_path / "loss_spike_test.yml", [spiky, stable], **EXPECT)
    result = run_promtool_test(test_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    # Expect the alert at step 4 only: promtool sees it still firing at step 5 (5m).
    test_file = write_promtool_test(
        tmp_path / "wrong.yml", make_curve(20, "spiky"), firing_steps=[4], **EXPECT
    )
    result = run_promtool_test(test_file)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "FAILED" in output
    assert "alertname: TrainingLossSpike, time: 4m" in output
    assert 'Labels:{alertname="TrainingLossSpike", run="r1", severity="page"}' in output


def test_promtool_shows_a_spike_the_rule_cannot_see(tmp_path: Path) -> None:
    # Ground truth says step 10 is a spike, but 2x the baseline is under the rule's 3x.
    small = Profile("small-spike", spikes={10: 3.1})
    test_file = write_promtool_test(tmp_path / "small.yml", make_curve(20, small), **EXPECT)
    result = run_promtool_test(test_file)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "alertname: TrainingLossSpike, time: 9m" in output
    assert "got:[]" in output
