"""The README's headline example, copied into a downstream suite as a user would, is the
oracle it promises: a correct monitor passes on every profile, serially and under xdist;
dropping one true alert fails naming the missed event; one false alarm fails naming it.

(The examples of docs/ground-truth.md run in ``tests/test_docs_examples.py``.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_synthloss import available_profiles

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def headline_example() -> str:
    """The first ``python`` block of the README's "A taste" section (``test_monitor.py``)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A taste") :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match is not None
    return match[1]


#: Ways to break the README's monitor (``spike_alerts``): appended to the test module.
DROP_ONE_TRUE_ALERT = """

_correct = spike_alerts


def spike_alerts(curve):  # forgets the alert at the first NaN/inf step
    return [step for step in _correct(curve) if step not in curve.nonfinite_steps[:1]]
"""
ADD_ONE_FALSE_ALARM = """

_correct = spike_alerts


def spike_alerts(curve):  # also alerts at step 2, a normal step on every built-in
    return sorted({*_correct(curve), 2})
"""


def downstream_suite(pytester: pytest.Pytester, broken: str = "") -> None:
    """The README headline as ``test_monitor.py``, its monitor maybe broken.

    The suites run in a subprocess, as a user's would, untouched by this session's imports.
    """
    pytester.makepyfile(test_monitor=headline_example() + broken)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
@pytest.mark.parametrize("steps", ["20", "60", "300"])
def test_the_readme_headline_passes_a_correct_monitor_on_every_profile(
    pytester: pytest.Pytester, workers: list[str], steps: str
) -> None:
    downstream_suite(pytester)
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "all", "--synthloss-steps", steps, "-p", "no:cacheprovider", *workers
    )
    # every registered profile, and the test pinned to spiky
    result.assert_outcomes(passed=len(available_profiles()) + 1)


def _failure_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the failures' messages (``E`` lines). The short summary at the end repeats
    the first one, cut to the terminal's width, or whole where ``$CI`` is set."""
    return [line for line in result.stdout.lines if line.startswith("E ")]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_dropping_one_true_alert_fails_naming_the_missed_event(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    downstream_suite(pytester, DROP_ONE_TRUE_ALERT)
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "all", "-p", "no:cacheprovider", *workers
    )
    # nan, inf, llm-pretrain-trouble (its NaN at step 800) and ranks-4 (rank 1's NaN) fail
    result.assert_outcomes(passed=len(available_profiles()) + 1 - 4, failed=4)
    out = _failure_lines(result)
    assert any("nonfinite at step 800 (nan)" in line for line in out)
    assert out.count("E       missed events: 1 / 1 — nonfinite at step 12 (nan)") == 1
    assert out.count("E       missed events: 1 / 1 — nonfinite at step 12 (inf)") == 1
    assert "FAILED test_monitor.py::test_alerts_match_ground_truth[nan]" in result.stdout.str()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_adding_one_false_alarm_fails_naming_it(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    downstream_suite(pytester, ADD_ONE_FALSE_ALARM)
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "stable,spiky", "-p", "no:cacheprovider", *workers
    )
    result.assert_outcomes(passed=0, failed=3)
    out = _failure_lines(result)
    # stable: the only alert group; spiky (20 steps, and the pinned 40-step test): 1 of 2
    assert out.count("E       false alarms: 1 / 1 alert groups — step 2 (loss 2.11)") == 1
    assert out.count("E       false alarms: 1 / 2 alert groups — step 2 (loss 2.11)") == 2
