"""docs/ground-truth.md runs: its ``>>>`` examples are doctests, and the README's headline
example, copied into a downstream suite as a user would, is the oracle it promises."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ground-truth.md"
README = ROOT / "README.md"
MONITOR = ROOT / "examples" / "loss_spike_monitor.py"


def test_the_ground_truth_page_examples_pass_as_doctests() -> None:
    result = doctest.testfile(
        str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert (result.failed, result.attempted >= 20) == (0, True)


def headline_example() -> str:
    """The first ``python`` block of the README's "Using it in pytest" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using it in pytest") :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match is not None
    return match[1]


#: Ways to break the monitor: each is appended to the monitor module of the suite.
DROP_ONE_TRUE_ALERT = """

class LossSpikeMonitor(LossSpikeMonitor):  # type: ignore[no-redef]
    def steps_with(self, kind):
        steps = super().steps_with(kind)
        return steps[1:] if kind == "nonfinite" else steps  # forgets the first NaN/inf alert
"""
ADD_ONE_FALSE_ALARM = """

class LossSpikeMonitor(LossSpikeMonitor):  # type: ignore[no-redef]
    def steps_with(self, kind):
        steps = super().steps_with(kind)
        return sorted({*steps, 2}) if kind == "spike" else steps  # step 2 is normal everywhere
"""


def downstream_suite(pytester: pytest.Pytester, broken: str = "") -> None:
    """The README headline as ``test_monitor.py`` next to a (maybe broken) monitor module.

    The suites run in a subprocess: in-process, ``loss_spike_monitor`` may already be
    imported from ``examples/`` by another test of this session.
    """
    pytester.makepyfile(loss_spike_monitor=MONITOR.read_text(encoding="utf-8") + broken)
    pytester.makepyfile(test_monitor=headline_example())


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
@pytest.mark.parametrize("steps", ["20", "60", "300"])
def test_the_readme_headline_passes_a_correct_monitor_on_every_profile(
    pytester: pytest.Pytester, workers: list[str], steps: str
) -> None:
    downstream_suite(pytester)
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "all", "--synthloss-steps", steps, "-p", "no:cacheprovider", *workers
    )
    result.assert_outcomes(passed=16)  # 2 tests x 8 profiles


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_dropping_one_true_alert_fails_naming_the_missed_event(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    downstream_suite(pytester, DROP_ONE_TRUE_ALERT)
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "all", "-p", "no:cacheprovider", *workers
    )
    result.assert_outcomes(passed=14, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E   *missed events: 1 / 1 — nonfinite at step 12 (nan)",
            "E   *missed events: 1 / 1 — nonfinite at step 12 (inf)",
        ],
        consecutive=False,
    )
    assert (
        "FAILED test_monitor.py::test_spike_alerts_match_ground_truth[nan]" in result.stdout.str()
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_adding_one_false_alarm_fails_naming_it(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    downstream_suite(pytester, ADD_ONE_FALSE_ALARM)
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "stable,spiky", "-p", "no:cacheprovider", *workers
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E   *false alarms: 1 / 1 alert groups — step 2 (loss 2.11)",
            "E   *false alarms: 1 / 2 alert groups — step 2 (loss 2.11)",
        ],
        consecutive=False,
    )
