"""The scorecard and the pictures of failures (pytest glue over
:mod:`pytest_synthloss.checks.scorecard` and :mod:`pytest_synthloss.exports.failure_plot`).

Every :func:`~pytest_synthloss.score_alerts` / :func:`~pytest_synthloss.assert_alerts_match`
call made inside a test is recorded with the test's id, the curve's profile and a monitor
name (``name=``, else the test's name). The records travel on the test reports, so under
pytest-xdist the controller sums the same records as a serial run. At the end of the
session a ``synthloss scorecard`` section prints one row per monitor and profile;
``--synthloss-report=PATH.json`` writes the records and rows as JSON. When an oracle
assertion fails and matplotlib is installed, a PNG of the failing score is written and
named in the report (and attached to pytest-html's report when that plugin is active).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_synthloss.checks.scorecard import (
    COLUMNS,
    recording,
    scorecard_rows,
    summarize,
    table_cells,
)
from pytest_synthloss.core.text import align_columns
from pytest_synthloss.plugin.parametrization import CURVE, PROFILE_NAME, SHARED

if TYPE_CHECKING:
    from pytest_synthloss.checks.scoring import AlertScore
    from pytest_synthloss.core.curve import LossCurve

__all__ = ["REPORT_VERSION", "ScorecardPlugin", "add_options", "monitor_name"]

#: The ``version`` field of the JSON report; it changes when the schema does.
REPORT_VERSION = 1


def add_options(group: Any, parser: pytest.Parser) -> None:
    """The scorecard's command-line options and ini keys."""
    group.addoption(
        "--synthloss-no-scorecard",
        action="store_true",
        default=False,
        help="do not print the synthloss scorecard (also: ini synthloss_scorecard = false)",
    )
    group.addoption(
        "--synthloss-report",
        metavar="PATH.json",
        default=None,
        help="write every score_alerts/assert_alerts_match call and the scorecard as JSON",
    )
    group.addoption(
        "--synthloss-plots",
        metavar="DIR",
        default=None,
        help="where a failing assert_alerts_match draws its PNG (needs matplotlib): a "
        "directory, or 'off'. Default: ini synthloss_plots, else <basetemp>/synthloss-plots",
    )
    parser.addini(
        "synthloss_scorecard",
        type="bool",
        default=True,
        help="print the synthloss scorecard when a test called the oracles (default true)",
    )
    parser.addini(
        "synthloss_plots",
        default="",
        help="directory for the PNGs of failing assert_alerts_match calls, or 'off'",
    )


class ScorecardPlugin:
    """Records oracle calls per test, prints the scorecard, writes the report and plots."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[dict[str, Any]] = []
        shown = bool(config.getini("synthloss_scorecard"))  # pytest checks the truth value
        self.show = shown and not config.getoption("synthloss_no_scorecard")
        self.report_path: str | None = config.getoption("synthloss_report")
        self.report_error: str | None = None
        given = config.getoption("synthloss_plots")
        where = "--synthloss-plots" if given else "ini synthloss_plots"
        self.plots = (given or str(config.getini("synthloss_plots"))).strip()
        self.is_worker = hasattr(config, "workerinput")
        #: The oracle calls of the test in its call phase (None outside one).
        self.calls: list[tuple[AlertScore, LossCurve, str | None]] | None = None
        if self.report_path is not None:
            _check_report_path(self.report_path)
        if self.plots not in ("", "off"):
            _check_plot_dir(self.plots, where)

    # One recorder for the whole session, installed at configure: a test costs two plain
    # hook calls (its call phase opens a list, its teardown closes it) and one wrapper that
    # returns at once when the test made no oracle call. Each report of the call phase (a
    # subtest's, then the test's) carries the calls made since the one before.
    def pytest_configure(self) -> None:  # called for a plugin registered at configure
        self._recording = recording(self._record)
        self._recording.__enter__()

    def pytest_unconfigure(self) -> None:
        self._recording.__exit__(None, None, None)

    def _record(self, score: AlertScore, curve: LossCurve, name: str | None) -> None:
        if self.calls is not None:  # only during a test's call phase
            self.calls.append((score, curve, name))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self.calls = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        self.calls = None  # before the fixtures' finalizers run

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        calls = self.calls
        if call.when != "call" or not calls:
            return report
        self.calls = []
        self._attach(item, call, report, calls)
        return report

    def _attach(
        self,
        item: pytest.Item,
        call: pytest.CallInfo[None],
        report: pytest.TestReport,
        calls: list[tuple[AlertScore, LossCurve, str | None]],
    ) -> None:
        default = monitor_name(item)
        report.synthloss_scores = [  # type: ignore[attr-defined]
            summarize(score, name or default, item.nodeid) for score, _, name in calls
        ]
        from pytest_synthloss.core.errors import LossAssertionError

        excinfo = call.excinfo
        if report.failed and excinfo is not None and excinfo.errisinstance(LossAssertionError):
            failing = [c for c in calls if not c[0].ok]
            if failing:
                self._picture(item, report, *failing[-1])

    def _picture(
        self,
        item: pytest.Item,
        report: pytest.TestReport,
        score: AlertScore,
        curve: LossCurve,
        name: str | None,
    ) -> None:
        if self.plots == "off" or importlib.util.find_spec("matplotlib") is None:
            return
        from pytest_synthloss.exports.failure_plot import save_alert_plot

        folder = (
            os.path.abspath(self.plots)
            if self.plots
            else os.path.join(
                str(self.config._tmp_path_factory.getbasetemp()),  # type: ignore[attr-defined]
                "synthloss-plots",
            )
        )
        path = os.path.join(folder, re.sub(r"[^\w.-]+", "_", item.nodeid)[:150] + ".png")
        try:
            os.makedirs(folder, exist_ok=True)
            save_alert_plot(curve, score, path, title=name or item.name)
        except OSError as exc:
            report.sections.append(("synthloss plot", f"not written: {path}: {exc.strerror}"))
            return
        report.sections.append(("synthloss plot", path))
        html = self.config.pluginmanager.getplugin("html")
        if html is not None:
            with open(path, "rb") as handle:
                content = base64.b64encode(handle.read()).decode("ascii")
            extras = list(getattr(report, "extras", []))
            extras.append(html.extras.png(content, name="synthloss plot"))
            setattr(report, "extras", extras)  # noqa: B010 - pytest-html reads it

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.records.extend(getattr(report, "synthloss_scores", ()))

    def _sorted_records(self) -> list[dict[str, Any]]:
        return sorted(self.records, key=lambda r: (r["test"], r["monitor"], r["profile"]))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.show or not self.records:
            return
        rows = scorecard_rows(self.records)
        lines = align_columns(
            [list(COLUMNS), *(table_cells(row) for row in rows)], right=(2, 3, 4, 5, 6, 7)
        )
        terminalreporter.write_sep("=", "synthloss scorecard")
        for line in lines:
            terminalreporter.write_line(line)
        if self.report_path and self.report_error is None:
            terminalreporter.write_line(f"synthloss report: {self.report_path}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker or not self.report_path:
            return
        records = self._sorted_records()
        payload = {
            "version": REPORT_VERSION,
            "records": records,
            "scorecard": scorecard_rows(records),
        }
        target = self.report_path
        temp = f"{target}.tmp{os.getpid()}"
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, indent=1)
                handle.write("\n")
            os.replace(temp, target)
        except OSError as exc:  # checked at start; the disk can still fill up
            self.report_error = f"cannot write {target!r}: {exc.strerror or exc}"
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            sys.stderr.write(f"\nsynthloss: --synthloss-report: {self.report_error}\n")
        finally:
            if os.path.exists(temp):
                os.unlink(temp)


def monitor_name(item: pytest.Item) -> str:
    """The default monitor name of a test: its name within its module (class included) and
    its own parameters, without the synthloss profile (the scorecard's other column)."""
    name = "::".join(item.nodeid.split("::")[1:]).split("[")[0] or item.name
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    for key in (PROFILE_NAME, CURVE, SHARED):
        params.pop(key, None)  # the parameters that carry the profile
    if params:
        shown = ",".join(f"{key}={str(value)[:24]}" for key, value in params.items())
        name += f"[{shown}]"
    return name


def _check_report_path(path: str) -> None:
    """A report path must name a file in a writable directory (exit 4 before any test)."""
    if not path.strip():
        raise pytest.UsageError("--synthloss-report: the path is empty; give a file path")
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise pytest.UsageError(f"--synthloss-report: {path!r} is a directory; give a file path")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise pytest.UsageError(f"--synthloss-report: the directory of {path!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise pytest.UsageError(f"--synthloss-report: the directory of {path!r} is not writable")


def _check_plot_dir(path: str, where: str) -> None:
    """The plot directory must be one, or creatable: its nearest existing ancestor is a
    writable directory (exit 4 before any test)."""
    target = os.path.abspath(path)
    probe = target
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        what = (
            "exists and is not a directory" if probe == target else f"is inside {probe!r}, a file"
        )
        raise pytest.UsageError(f"{where}: {path!r} {what}")
    if not os.access(probe, os.W_OK):
        raise pytest.UsageError(f"{where}: {path!r} cannot be created or written ({probe!r})")
