"""Recorded runs selectable like profiles: the ini key, the hook, the fixtures (issue 18)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pytest_synthloss import (
    LossAssertionError,
    SynthLossError,
    assert_matches_profile,
    available_profiles,
    make_curve,
    recorded_curve,
    write_log,
)
from pytest_synthloss.core import registry
from pytest_synthloss.core.recorded_runs import RecordedProfile, clear_cache
from pytest_synthloss.emulation.recorded_registry import register_recorded

KNOWN = ", ".join(available_profiles())

# 40 steps, a spike at step 25 (labelled), a NaN at step 32 (labelled automatically)
LOSSES = [2.0 - 0.02 * s for s in range(1, 41)]
LOSSES[24] = 9.0
LOSSES[31] = math.nan
LABELS = {"labels": [{"kind": "spike", "start": 25}, {"kind": "incident", "start": 30, "end": 34}]}

SUITE = """
import math
from pytest_synthloss import assert_alerts_match

def alerts(curve, ratio):
    found, best = [], math.inf
    for step, loss in curve:
        if not math.isfinite(loss) or loss >= ratio * best:
            found.append(step)
        else:
            best = min(best, loss)
    return found

def test_good_detector(synthloss_curve):
    assert_alerts_match(alerts(synthloss_curve, 3.0), synthloss_curve)

def test_bad_detector(synthloss_curve):
    assert_alerts_match(alerts(synthloss_curve, 10.0), synthloss_curve)
"""

BAD_DETECTOR_FAILURE = [
    "E       pytest_synthloss.LossAssertionError: Alerts do not match ground truth (profile "
    "'incident-0412', steps 1..40; expect spike, nonfinite; tolerate divergence, incident; "
    "tolerance 0):",
    "E       missed events: 1 / 2 — spike at step 25 (peak 9)",
    "E       false alarms: 0 / 1 alert groups",
    "E       late detections: 0",
    "E       event precision 1.00 recall 0.50 F1 0.67; point precision 1.00 recall 0.50 F1 0.67",
    "E       loss (▲ = alert step):",
    "E       ▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁█▁▁▁▁▁▁×▁▁▁▁▁▁▁▁",
    "E                                      ▲",
]


def write_incident(directory: Path, name: str = "incident-0412") -> Path:
    """The incident's log in our JSONL, and its labels in the sidecar file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    write_log(recorded_curve(range(1, 41), LOSSES, name=name), path)
    (directory / f"{name}.jsonl.labels.json").write_text(json.dumps(LABELS))
    return path


@pytest.fixture(autouse=True)
def _quick(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-p no:cacheprovider -p no:hypothesispytest -p no:randomly"
    )


@pytest.mark.parametrize("workers", [(), ("-p", "xdist", "-n", "2")], ids=["serial", "xdist"])
def test_a_downstream_suite_replays_a_recorded_incident(
    pytester: pytest.Pytester, workers: tuple[str, ...]
) -> None:
    write_incident(pytester.path / "runs")
    pytester.makeini("[pytest]\nsynthloss_recorded = runs/*.jsonl\n")
    pytester.makepyfile(test_monitor=SUITE)
    result = pytester.runpytest_subprocess("--synthloss-profile", "incident-0412", "-rA", *workers)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [f"synthloss: profile=incident-0412 steps=natural (registered: {KNOWN}, incident-0412)"]
    )
    text = result.outlines
    start = text.index(BAD_DETECTOR_FAILURE[0])
    assert text[start : start + len(BAD_DETECTOR_FAILURE)] == BAD_DETECTOR_FAILURE
    assert any(line.startswith("PASSED test_monitor.py::test_good_detector") for line in text)


def test_all_includes_the_recorded_run_and_a_never_selected_run_is_never_read(
    pytester: pytest.Pytester,
) -> None:
    write_incident(pytester.path / "runs")
    (pytester.path / "runs" / "broken.csv").write_text("not a log at all\n")
    pytester.makeini(
        "[pytest]\nsynthloss_recorded =\n    runs/incident-0412.jsonl\n    runs/broken.csv\n"
    )
    pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            heavy = ("numpy", "pytest_synthloss.core.curve", "pytest_synthloss.emulation.importers")
            print("HEAVY", sorted(m for m in heavy if m in sys.modules))
        """
    )
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    assert "HEAVY []" in result.outlines
    pytester.makepyfile(test_monitor=SUITE.replace("def test_bad", "def _unused"))
    (pytester.path / "runs" / "broken.csv").write_text("step,loss\n1,2.0\n2,1.5\n")
    result = pytester.runpytest("--synthloss-profile", "all", "test_monitor.py", "-v")
    result.assert_outcomes(passed=len(KNOWN.split(", ")) + 2)
    result.stdout.fnmatch_lines(
        [
            "test_monitor.py::test_good_detector[[]incident-0412[]] PASSED*",
            "test_monitor.py::test_good_detector[[]broken[]] PASSED*",
        ]
    )


BROKEN = "step,loss\n1,2.0\n2,1.5\n"


@pytest.mark.parametrize(
    ("options", "labels", "message"),
    [
        (
            ("--synthloss-profile", "all"),
            [{"kind": "spkie", "start": 2}],
            "ERROR: recorded run 'broken': labels file '{root}/runs/broken.csv.labels.json': "
            "label 0: kind 'spkie' is unknown; allowed: spike, nonfinite, divergence, plateau, "
            "warmup, schedule, epoch, incident, stall, grad_spike, overflow, scale_growth, "
            "first_step, eval",
        ),
        (
            ("--synthloss-profile", "stable,broken"),
            [{"kind": "spike", "start": 3}],
            "ERROR: recorded run 'broken': labels file '{root}/runs/broken.csv.labels.json': "
            "label 0 (spike at step 3) is outside the recorded steps 1..2; labels must lie "
            "within them",
        ),
        (
            ("--synthloss-profile", "broken", "--synthloss-steps", "3"),
            [],
            "ERROR: recorded run 'broken' has 2 logged steps; 3 steps were asked for (its "
            "natural length is the log's: leave the steps out)",
        ),
    ],
)
def test_a_selected_run_that_cannot_load_is_a_usage_error(
    pytester: pytest.Pytester, options: tuple[str, ...], labels: object, message: str
) -> None:
    (pytester.path / "runs").mkdir()
    (pytester.path / "runs" / "broken.csv").write_text(BROKEN)
    (pytester.path / "runs" / "broken.csv.labels.json").write_text(json.dumps(labels))
    pytester.makeini("[pytest]\nsynthloss_recorded = runs/*.csv\n")
    pytester.makepyfile("def test_it(synthloss_curve):\n    raise AssertionError('ran')\n")
    result = pytester.runpytest(*options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # before any test ran
    assert result.errlines == [message.format(root=pytester.path), ""]
    result = pytester.runpytest()  # a run no option selects is not read
    result.assert_outcomes(failed=1)


FIXTURES = """
from pytest_synthloss.core.recorded_runs import RecordedProfile
from pytest_synthloss import read_log

def test_every_fixture(synthloss_curve, synthloss_profile, synthloss_profile_name,
                       synthloss_factory, synthloss_stream):
    assert synthloss_profile_name == "incident-0412"
    assert isinstance(synthloss_profile, RecordedProfile)
    assert synthloss_curve.events[0].describe() == "spike at step 25 (peak 9)"
    assert len(synthloss_curve) == 40
    assert synthloss_factory() == synthloss_curve
    assert synthloss_factory(steps=5).steps.tolist() == [1, 2, 3, 4, 5]
    assert synthloss_factory(start_step=38).steps.tolist() == [38, 39, 40]
    assert [s.step for s in synthloss_stream][-2:] == [39, 40]

def test_the_emulated_run_replays_it(synthloss_run, synthloss_curve):
    run = synthloss_run(format="jsonl")
    assert run.wait() == 0
    assert read_log(run.path).losses.tobytes() == synthloss_curve.losses.tobytes()

def test_steps_cut_the_log(synthloss_curve, synthloss_factory):
    assert len(synthloss_curve) == 10
    synthloss_factory(steps=41)
"""


def test_every_fixture_serves_the_recorded_run(pytester: pytest.Pytester) -> None:
    write_incident(pytester.path / "runs")
    pytester.makeini("[pytest]\nsynthloss_recorded = runs/*.jsonl\n")
    pytester.makepyfile(test_fixtures=FIXTURES)
    result = pytester.runpytest_subprocess("--synthloss-profile", "incident-0412", "-k", "not cut")
    result.assert_outcomes(passed=2, deselected=1)
    result = pytester.runpytest(
        "--synthloss-profile", "incident-0412", "--synthloss-steps", "10", "-k", "cut"
    )
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "E *SynthLossError: recorded run 'incident-0412' has 40 logged "
            "steps; 41 steps were asked for (its natural length is the log's: leave the steps "
            "out)"
        ]
    )


def test_a_conftest_hook_adds_runs_from_files_and_code(pytester: pytest.Pytester) -> None:
    write_incident(pytester.path / "sub" / "runs")
    pytester.makepyfile(
        **{
            "sub/conftest.py": """
                from pytest_synthloss import recorded_curve

                def pytest_synthloss_recorded():
                    return [
                        "runs/incident-0412.jsonl",
                        recorded_curve([1, 2, 3], [2.0, 9.0, 1.0], [("spike", 2)], name="tiny"),
                    ]
            """,
            "sub/test_it.py": """
                def test_it(synthloss_curve):
                    assert synthloss_curve.spike_steps in ((25,), (2,))
            """,
        }
    )
    result = pytester.runpytest("sub", "--synthloss-profile", "incident-0412,tiny", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_it[[]incident-0412[]] PASSED*", "*test_it[[]tiny[]] PASSED*"]
    )
    assert "incident-0412" not in registry.registered_now()  # forgotten at the end of the run


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "runs/missing.jsonl",
            "ERROR: ini option synthloss_recorded: 'runs/missing.jsonl' does not exist "
            "(relative to {root})",
        ),
        (
            "runs/*.csv",
            "ERROR: ini option synthloss_recorded: 'runs/*.csv' matches no log file under {root}",
        ),
        (
            "runs/incident-0412.jsonl\n    other/incident-0412.csv",
            "ERROR: ini option synthloss_recorded: 'runs/incident-0412.jsonl' and "
            "'other/incident-0412.csv' would both be the recorded run 'incident-0412'; rename one",
        ),
        (
            "other/spiky.jsonl",
            "ERROR: ini option synthloss_recorded: profile 'spiky' is built in and cannot be "
            "replaced; register yours under another name",
        ),
    ],
)
def test_bad_ini_values_are_usage_errors(pytester: pytest.Pytester, ini: str, message: str) -> None:
    write_incident(pytester.path / "runs")
    (pytester.path / "other").mkdir()
    (pytester.path / "other" / "incident-0412.csv").write_text("step,loss\n1,2.0\n")
    (pytester.path / "other" / "spiky.jsonl").write_text("")
    pytester.makeini(f"[pytest]\nsynthloss_recorded = {ini}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines[0] == message.format(root=pytester.path)


def test_a_bad_hook_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("def pytest_synthloss_recorded():\n    return ['nope.jsonl']\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    conftest = pytester.path / "conftest.py"
    assert result.errlines[0] == (
        f"ERROR: pytest_synthloss_recorded() in {conftest}, item 0: recorded log "
        f"'{pytester.path / 'nope.jsonl'}' does not exist"
    )


def test_the_api_registers_a_file_lazily_and_caches_it(tmp_path: Path) -> None:
    path = write_incident(tmp_path)
    run = register_recorded(path)
    try:
        assert isinstance(run, RecordedProfile)
        assert run.name == "incident-0412"
        assert registry.get_profile("incident-0412") is run
        curve = make_curve(profile="incident-0412")
        assert curve is make_curve(profile=run)  # read once per process
        assert curve.spike_steps == (25,)
        assert make_curve(2, "incident-0412", start_step=39).steps.tolist() == [39, 40]
        assert (run.spike_steps, run.nonfinite_steps, run.floor_step) == ((25,), (32,), None)
        assert (run.divergence_step, run.plateau_windows) == (None, ())
        assert_matches_profile((curve.steps[:5], curve.losses[:5]), "incident-0412")
        with pytest.raises(LossAssertionError, match=r"^Losses do not match profile 'inc"):
            assert_matches_profile([2.0, 1.0], run)
        with pytest.raises(SynthLossError) as info:
            run.baseline(3)
        assert str(info.value) == (
            "recorded run 'incident-0412' has no formula (no baseline); its values are "
            "make_curve(profile=...).losses"
        )
        assert register_recorded(path) == run  # the same run again: a no-op
        assert make_curve(profile="incident-0412") is curve
        with pytest.raises(SynthLossError) as info:
            register_recorded(recorded_curve([1], [1.0]), name="incident-0412")
        assert str(info.value).startswith("profile 'incident-0412' is already registered as ")
    finally:
        registry.unregister_profile("incident-0412")
        clear_cache()
    with pytest.raises(SynthLossError) as info:
        register_recorded(tmp_path / "nope.jsonl")
    assert str(info.value) == f"recorded log '{tmp_path / 'nope.jsonl'}' does not exist"
    with pytest.raises(SynthLossError) as info:
        register_recorded(path, colum="x")
    assert str(info.value) == (
        f"recorded run '{path}': unknown option 'colum'; allowed: name, format, step, value, "
        "labels, step_offset"
    )
