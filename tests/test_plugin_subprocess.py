"""Plugin runs in fresh interpreters: pytest-xdist, lazy loading, the downstream example."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_synthloss import available_profiles

KNOWN = ", ".join(available_profiles())  # the built-ins, as error messages list them

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def _quick_subprocesses(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs skip the cache, hypothesis's summary hook (which imports hypothesis) and
    pytest-randomly (which imports numpy); set once pytester has cleared PYTEST_ADDOPTS."""
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-p no:cacheprovider -p no:hypothesispytest -p no:randomly"
    )


SUITE = """
import pytest
from pytest_synthloss import assert_no_spikes

def test_alert(synthloss_curve):
    assert len(synthloss_curve) == 7
    assert_no_spikes(synthloss_curve)

@pytest.mark.parametrize("n", [1, 2])
def test_factory(n, synthloss_factory):
    assert synthloss_factory(steps=n).profile.name in ("stable", "spiky", "late-spike")

@pytest.mark.synthloss(profile="late-spike", steps=31)
def test_pinned(synthloss_curve):
    assert synthloss_curve.spike_steps == (30,)

def test_plain():
    pass
"""

CONFTEST = """
from pytest_synthloss import Profile

def pytest_synthloss_profiles():
    return [Profile("late-spike", spikes={30: 8.0})]
"""


def outcomes(result: pytest.RunResult) -> list[str]:
    """``OUTCOME nodeid`` lines of the ``-rA`` summary, sorted (xdist finishes out of order)."""
    prefixes = ("PASSED ", "FAILED ", "ERROR ", "SKIPPED ")
    return sorted(line.split(" - ")[0] for line in result.outlines if line.startswith(prefixes))


def test_xdist_gives_identical_ids_and_results(pytester: pytest.Pytester) -> None:
    # Profiles from the command line, steps from the ini file, a profile from conftest.py.
    pytester.makeini("[pytest]\nsynthloss_steps = 7\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    args = ("-rA", "--synthloss-profile", "stable,spiky,late-spike")
    serial = pytester.runpytest_subprocess(*args, "-p", "no:xdist")
    parallel = pytester.runpytest_subprocess(*args, "-p", "xdist", "-n", "2")
    assert outcomes(serial) == [
        "FAILED test_suite.py::test_alert[spiky]",
        "PASSED test_suite.py::test_alert[late-spike]",
        "PASSED test_suite.py::test_alert[stable]",
        "PASSED test_suite.py::test_factory[late-spike-1]",
        "PASSED test_suite.py::test_factory[late-spike-2]",
        "PASSED test_suite.py::test_factory[spiky-1]",
        "PASSED test_suite.py::test_factory[spiky-2]",
        "PASSED test_suite.py::test_factory[stable-1]",
        "PASSED test_suite.py::test_factory[stable-2]",
        "PASSED test_suite.py::test_pinned",
        "PASSED test_suite.py::test_plain",
    ]
    assert outcomes(parallel) == outcomes(serial)
    parallel.stdout.fnmatch_lines(
        [
            f"synthloss: profile=stable,spiky,late-spike steps=7 (registered: {KNOWN}, late-spike)",
            "created: 2/2 workers",
            "E * Loss spikes found: 2 / 7 steps (28.6%) by rule running-min ratio >= 3.0 "
            "(profile 'spiky', steps 1..7)",
        ]
    )


def test_usage_error_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--synthloss-profile", "spikey"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines[0] == (
        f"ERROR: --synthloss-profile: unknown profile 'spikey'; known profiles: {KNOWN} "
        "(did you mean 'spiky'?)"
    )


def test_suites_that_never_use_the_plugin_never_import_numpy(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            heavy = sorted(m for m in ("numpy", "pytest_synthloss.core.curve") if m in sys.modules)
            print("HEAVY", heavy)
        """
    )
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-s", "-p", "synthloss")
    result.assert_outcomes(passed=1)
    assert "HEAVY []" in result.outlines
    result.stdout.fnmatch_lines([f"synthloss: profile=stable steps=20 (registered: {KNOWN})"])


@pytest.mark.parametrize(
    ("args", "passed"),
    [
        (("--synthloss-profile", "stable"), 5),
        (("--synthloss-profile", "spiky"), 5),
        (("--synthloss-profile", "all"), 5 * len(available_profiles())),
        (("--synthloss-profile", "all", "--synthloss-steps", "3"), 5 * len(available_profiles())),
        (("--synthloss-profile", "all", "-p", "xdist", "-n", "2"), 5 * len(available_profiles())),
    ],
)
def test_downstream_example_passes_for_every_profile(
    pytester: pytest.Pytester, args: tuple[str, ...], passed: int
) -> None:
    for name in ("loss_spike_monitor.py", "test_loss_spike_monitor.py"):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=passed)
