"""The ``synthloss_prometheus`` fixture: the user's alert rules in a real Prometheus.

One Prometheus and one metrics endpoint per test session (per xdist worker), started on
first use and stopped at the end of the session; every test's runs are a fleet of their
own (their series carry a ``batch`` label), so tests never see each other's alerts.
Imports nothing heavy until the fixture is used.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve
    from pytest_synthloss.exports.fleet import FleetRun, MetricsEndpoint
    from pytest_synthloss.exports.live_alerts import LiveAlerts
    from pytest_synthloss.exports.prometheus_server import PrometheusServer

__all__ = ["LivePrometheus", "synthloss_prometheus"]

#: The session's scrape interval in seconds (rules are evaluated five times as often).
SCRAPE_SECONDS = 0.1


class _Session:
    """The session's Prometheus and endpoint, started on first use."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.batches = itertools.count(1)
        self.endpoint: MetricsEndpoint | None = None
        self.server: PrometheusServer | None = None

    def ensure(self, rule_files: Sequence[str]) -> tuple[MetricsEndpoint, PrometheusServer]:
        from pytest_synthloss.exports.fleet import MetricsEndpoint
        from pytest_synthloss.exports.prometheus_server import PrometheusServer

        if self.endpoint is None:
            self.endpoint = MetricsEndpoint()
        if self.server is None:
            self.server = PrometheusServer(rule_files, scrape_seconds=SCRAPE_SECONDS)
            self.server.start([self.endpoint.target])
        else:
            self.server.load_rules(rule_files)
        return self.endpoint, self.server

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.endpoint is not None:
            self.endpoint.close()


class LivePrometheus:
    """What ``synthloss_prometheus`` hands a test: :meth:`run` the rules over some runs."""

    def __init__(self, session: _Session, curve: LossCurve) -> None:
        self._session = session
        #: The test's selected curve: the default run.
        self.curve = curve
        self.scrape_seconds = SCRAPE_SECONDS

    def run(
        self,
        rules: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        runs: Iterable[FleetRun | LossCurve] | None = None,
        *,
        step_seconds: float | None = None,
    ) -> LiveAlerts:
        """Scrape ``runs`` (default: the selected curve, as run ``r0``) with ``rules`` loaded.

        Returns the :class:`~pytest_synthloss.exports.live_alerts.LiveAlerts`: which
        alert fired (and was pending) on which run at which step. Each step lasts
        ``step_seconds`` (default: three scrape intervals, 0.3 s), so a 20-step run takes
        about 6 s (the session's first run about 5 s more: Prometheus's first scrape).
        """
        from pytest_synthloss.exports.fleet import Fleet, labelled

        files = [rules] if isinstance(rules, (str, os.PathLike)) else list(rules)
        endpoint, server = self._session.ensure([os.fspath(f) for f in files])
        chosen = labelled([self.curve]) if runs is None else list(runs)
        batch = f"{self._session.worker}-{next(self._session.batches)}"
        step = 3 * self.scrape_seconds if step_seconds is None else step_seconds
        fleet = Fleet(chosen, step_seconds=step, batch=batch, clock=time.time)
        return server.run(fleet, endpoint)


@pytest.fixture(scope="session")
def _synthloss_prometheus_session(request: pytest.FixtureRequest) -> Iterator[_Session]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    session = _Session(worker)
    yield session
    session.close()


@pytest.fixture
def synthloss_prometheus(
    _synthloss_prometheus_session: _Session, synthloss_curve: LossCurve
) -> LivePrometheus:
    """A real Prometheus (the ``prometheus`` binary) evaluating your alert rules live.

    ``synthloss_prometheus.run("alerts.yml")`` serves the selected curve as run ``r0`` on
    a metrics endpoint, lets Prometheus scrape it and evaluate the rules, and returns which
    alert fired at which step; compare with the ground truth through the usual oracle::

        def test_spike_alert(synthloss_prometheus, synthloss_curve):
            alerts = synthloss_prometheus.run("alerts.yml")
            assert_alerts_match(alerts.firing_steps("r0"), synthloss_curve)

    Skipped, with the reason, when no ``prometheus`` binary is on PATH; a ``$PROMETHEUS``
    that names no program fails the test instead.
    """
    from pytest_synthloss.core.errors import SynthLossError
    from pytest_synthloss.exports.prometheus_server import INSTALL_HINT, find_prometheus

    try:
        found = find_prometheus()
    except SynthLossError as exc:  # $PROMETHEUS names no program: an error, not a skip
        pytest.fail(f"synthloss_prometheus: {exc}", pytrace=False)
    if found is None:
        pytest.skip(f"prometheus not found: {INSTALL_HINT}")
    return LivePrometheus(_synthloss_prometheus_session, synthloss_curve)
