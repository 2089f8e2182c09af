"""The scorecard, its JSON report, its off switch and the pictures of failures (pytester)."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import pytest

from pytest_synthloss import assert_alerts_match, make_curve, score_alerts
from pytest_synthloss.checks.scorecard import recording, scorecard_rows, summarize

MONITORS = """\
import pytest

from pytest_synthloss import assert_alerts_match, score_alerts


def test_truth(synthloss_curve):
    assert_alerts_match(synthloss_curve.spike_steps + synthloss_curve.nonfinite_steps,
                        synthloss_curve)


def test_late(synthloss_curve):
    alerts = [s + 1 for s in synthloss_curve.spike_steps]
    score_alerts(alerts, synthloss_curve, tolerance=1, name="lagging")


def test_noisy(synthloss_curve):
    score_alerts([2, *synthloss_curve.spike_steps], synthloss_curve, name="noisy")
"""

TABLE = [
    "*= synthloss scorecard =*",
    "monitor     profile  calls  caught  missed  false  late  latency",
    "lagging     nan          1     0/1       1      0     0        -",
    "lagging     spiky        1     1/1       0      0     0      1.0",
    "lagging     stable       1     0/0       0      0     0        -",
    "noisy       nan          1     0/1       1      1     0        -",
    "noisy       spiky        1     1/1       0      1     0      0.0",
    "noisy       stable       1     0/0       0      1     0        -",
    "test_truth  nan          1     1/1       0      0     0      0.0",
    "test_truth  spiky        1     1/1       0      0     0      0.0",
    "test_truth  stable       1     0/0       0      0     0        -",
]


def _table(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "synthloss scorecard" in line)
    return lines[start + 1 : start + 11]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_scorecard_sums_every_oracle_call_per_monitor_and_profile(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makepyfile(test_monitors=MONITORS)
    result = pytester.runpytest("--synthloss-profile", "spiky,nan,stable", *workers)
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(TABLE)
    assert _table(result.stdout.str()) == TABLE[1:]


def test_the_json_report_holds_every_call_and_the_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_monitors=MONITORS)
    result = pytester.runpytest("--synthloss-profile", "spiky", "--synthloss-report", "out.json")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["synthloss report: out.json"])
    report = json.loads((pytester.path / "out.json").read_text())
    assert report["version"] == 1
    assert report["records"] == [
        {
            "test": "test_monitors.py::test_late",
            "monitor": "lagging",
            "profile": "spiky",
            "first_step": 1,
            "last_step": 20,
            "expect": ["spike", "nonfinite"],
            "tolerate": ["divergence", "incident"],
            "events": 1,
            "caught": 1,
            "missed": 0,
            "false_alarms": 0,
            "late": 0,
            "latencies": [1],
            "ok": True,
        },
        {
            "test": "test_monitors.py::test_noisy",
            "monitor": "noisy",
            "profile": "spiky",
            "first_step": 1,
            "last_step": 20,
            "expect": ["spike", "nonfinite"],
            "tolerate": ["divergence", "incident"],
            "events": 1,
            "caught": 1,
            "missed": 0,
            "false_alarms": 1,
            "late": 0,
            "latencies": [0],
            "ok": False,
        },
        {
            "test": "test_monitors.py::test_truth",
            "monitor": "test_truth",
            "profile": "spiky",
            "first_step": 1,
            "last_step": 20,
            "expect": ["spike", "nonfinite"],
            "tolerate": ["divergence", "incident"],
            "events": 1,
            "caught": 1,
            "missed": 0,
            "false_alarms": 0,
            "late": 0,
            "latencies": [0],
            "ok": True,
        },
    ]
    assert [row["monitor"] for row in report["scorecard"]] == ["lagging", "noisy", "test_truth"]
    assert report["scorecard"][1] == {
        "monitor": "noisy",
        "profile": "spiky",
        "calls": 1,
        "events": 1,
        "caught": 1,
        "missed": 0,
        "false_alarms": 1,
        "late": 0,
        "mean_latency": 0.0,
    }


@pytest.mark.parametrize(
    ("args", "ini"),
    [(["--synthloss-no-scorecard"], ""), ([], "[pytest]\nsynthloss_scorecard = false\n")],
    ids=["option", "ini"],
)
def test_the_scorecard_can_be_switched_off(
    pytester: pytest.Pytester, args: list[str], ini: str
) -> None:
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_monitors=MONITORS)
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=3)
    assert "synthloss scorecard" not in result.stdout.str()


def test_a_suite_that_never_calls_the_oracles_prints_nothing_new(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_x(synthloss_curve):\n    assert len(synthloss_curve) == 20\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "synthloss scorecard" not in result.stdout.str()
    assert "synthloss plot" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--synthloss-report", "."],
            "ERROR: --synthloss-report: '.' is a directory; give a file path",
        ),
        (
            ["--synthloss-report", "missing/out.json"],
            "ERROR: --synthloss-report: the directory of 'missing/out.json' does not exist",
        ),
        (
            ["--synthloss-plots", "test_x.py"],
            "ERROR: --synthloss-plots: 'test_x.py' exists and is not a directory",
        ),
    ],
)
def test_bad_report_and_plot_paths_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "test_x" not in result.stdout.str()  # before any test ran


FAILING = """\
from pytest_synthloss import assert_alerts_match


def test_misses_the_spike(synthloss_curve):
    assert_alerts_match([2], synthloss_curve, name="broken")
"""

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="the failure picture needs matplotlib (the [plot] extra)",
)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_matplotlib
def test_a_failing_oracle_writes_a_picture_of_the_failure(pytester: pytest.Pytester) -> None:
    import matplotlib.image

    pytester.makepyfile(test_fail=FAILING)
    result = pytester.runpytest("--synthloss-profile", "spiky", "--synthloss-plots", "plots")
    result.assert_outcomes(failed=1)
    png = pytester.path / "plots" / "test_fail.py_test_misses_the_spike.png"
    result.stdout.fnmatch_lines(["*- synthloss plot -*", str(png)])
    assert _png_size(png) == (900, 450)
    pixels = matplotlib.image.imread(str(png))
    assert pixels.shape[:2] == (450, 900)
    assert float(pixels[..., :3].std()) > 0.05  # not blank
    # the message is the oracle's, unchanged
    result.stdout.fnmatch_lines(["E       missed events: 1 / 1 — spike at steps 4-5*"])


@needs_matplotlib
def test_plots_can_be_switched_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail=FAILING)
    result = pytester.runpytest("--synthloss-profile", "spiky", "--synthloss-plots", "off")
    result.assert_outcomes(failed=1)
    assert "synthloss plot" not in result.stdout.str()


def test_without_matplotlib_the_failure_text_is_unchanged(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    pytester.makepyfile(test_fail=FAILING)
    result = pytester.runpytest("--synthloss-profile", "spiky", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "synthloss plot" not in result.stdout.str()
    result.stdout.fnmatch_lines(["E       missed events: 1 / 1 — spike at steps 4-5*"])


@needs_matplotlib
def test_the_picture_is_attached_to_the_pytest_html_report(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_html", reason="the HTML attachment needs pytest-html")
    pytester.makepyfile(test_fail=FAILING)
    result = pytester.runpytest(
        "--synthloss-profile", "spiky", "--html", "report.html", "--self-contained-html"
    )
    result.assert_outcomes(failed=1)
    html = (pytester.path / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert "synthloss plot" in html


def test_recording_works_without_pytest_and_names_default_to_none() -> None:
    seen: list[dict[str, object]] = []
    curve = make_curve(20, "spiky")
    with recording(lambda score, c, name: seen.append(summarize(score, name))):
        score_alerts([4], curve)
        assert_alerts_match([4, 5], curve, name="guard")
    score_alerts([4], curve)  # after the block: not recorded
    assert [(r["monitor"], r["caught"], r["ok"]) for r in seen] == [
        (None, 1, True),
        ("guard", 1, True),
    ]
    rows = scorecard_rows([{**r, "monitor": r["monitor"] or "anon"} for r in seen])
    assert [(r["monitor"], r["calls"], r["mean_latency"]) for r in rows] == [
        ("anon", 1, 0.0),
        ("guard", 1, 0.0),
    ]


@pytest.mark.parametrize("name", ["", "  ", 3])
def test_a_bad_monitor_name_is_refused(name: object) -> None:
    from pytest_synthloss import SynthLossError

    with pytest.raises(SynthLossError) as info:
        score_alerts([4], make_curve(20, "spiky"), name=name)  # type: ignore[arg-type]
    assert str(info.value) == f"name must be a non-empty string or None, got {name!r}"


NAMED = """\
import pytest

from pytest_synthloss import score_alerts


@pytest.mark.parametrize("threshold", [1.5, 3.0])
def test_rule(synthloss_curve, threshold):
    score_alerts(list(synthloss_curve.spike_steps), synthloss_curve)


class TestA:
    def test_x(self, synthloss_curve):
        score_alerts([], synthloss_curve)


class TestB:
    def test_x(self, synthloss_curve):
        score_alerts([1], synthloss_curve)
"""


def test_monitors_are_told_apart_by_class_and_parameters(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_named=NAMED)
    result = pytester.runpytest("--synthloss-profile", "spiky,stable", "-p", "no:randomly")
    result.assert_outcomes(passed=8)
    lines = result.stdout.str().splitlines()
    start = next(i for i, line in enumerate(lines) if "synthloss scorecard" in line)
    assert [line.split()[:2] for line in lines[start + 2 : start + 10]] == [
        ["TestA::test_x", "spiky"],
        ["TestA::test_x", "stable"],
        ["TestB::test_x", "spiky"],
        ["TestB::test_x", "stable"],
        ["test_rule[threshold=1.5]", "spiky"],
        ["test_rule[threshold=1.5]", "stable"],
        ["test_rule[threshold=3.0]", "spiky"],
        ["test_rule[threshold=3.0]", "stable"],
    ]


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--synthloss-report", ""],
            "",
            "ERROR: --synthloss-report: the path is empty; give a file path",
        ),
        (
            ["--synthloss-plots", "test_x.py/sub"],
            "",
            "ERROR: --synthloss-plots: 'test_x.py/sub' is inside '*test_x.py', a file",
        ),
        (
            [],
            "[pytest]\nsynthloss_plots = test_x.py\n",
            "ERROR: ini synthloss_plots: 'test_x.py' exists and is not a directory",
        ),
    ],
)
def test_more_bad_paths_and_ini_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


PHASES = """\
import pytest

from pytest_synthloss import score_alerts


@pytest.fixture
def scored_around(synthloss_curve):
    score_alerts([], synthloss_curve, name="in-setup")
    yield
    score_alerts([], synthloss_curve, name="in-teardown")


def test_scored(scored_around, synthloss_curve):
    score_alerts([], synthloss_curve, name="in-call")


def test_quiet(synthloss_curve):
    pass
"""


def test_only_calls_made_while_a_test_runs_are_recorded(pytester: pytest.Pytester) -> None:
    from pytest_synthloss.checks import scorecard

    installed = len(scorecard._recorders)  # this very session's recorder among them
    pytester.makepyfile(test_phases=PHASES)
    result = pytester.runpytest("--synthloss-report", "out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "out.json").read_text())
    assert [(r["test"], r["monitor"]) for r in report["records"]] == [
        ("test_phases.py::test_scored", "in-call")
    ]
    assert len(scorecard._recorders) == installed  # the inner session's recorder is gone


SUBTESTS = """\
from pytest_synthloss import assert_alerts_match, score_alerts


def test_sub(subtests, synthloss_curve):
    for alerts in ([], [7]):
        with subtests.test(alerts=alerts):
            assert_alerts_match(alerts, synthloss_curve, name="guard")
    score_alerts([1], synthloss_curve, name="after")


def test_shared(synthloss_shared_curve):
    score_alerts([], synthloss_shared_curve)
"""


@pytest.mark.skipif(
    int(pytest.__version__.split(".")[0]) < 9, reason="the subtests fixture is pytest 9's"
)
def test_each_oracle_call_is_recorded_once_with_subtests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_subtests=SUBTESTS)
    result = pytester.runpytest(
        "--synthloss-report",
        "out.json",
        "--synthloss-profile",
        "stable,spiky",
        "--synthloss-plots",
        "off",
        "-p",
        "no:randomly",
    )
    report = json.loads((pytester.path / "out.json").read_text())
    # sorted by test id, monitor, profile; each call once, with its own subtest's report
    assert [(r["monitor"], r["profile"], r["ok"]) for r in report["records"]] == [
        ("test_shared", "spiky", False),  # the shared profile is not part of the name
        ("test_shared", "stable", True),
        ("after", "spiky", False),
        ("guard", "spiky", False),
        ("guard", "spiky", False),
        ("after", "stable", False),
        ("guard", "stable", True),
        ("guard", "stable", False),
    ]
    assert result.ret == pytest.ExitCode.TESTS_FAILED
