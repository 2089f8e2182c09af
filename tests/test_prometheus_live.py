"""A real Prometheus (the ``prometheus`` binary) scraping fleets and evaluating alert rules.

These tests drive Prometheus itself; without the binary they skip with the reason (CI
installs Debian's ``prometheus``, so there they run). One server is shared by the module:
Prometheus 2.x needs about 5 s before it first scrapes a new target.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_synthloss import Faults, SynthLossError, assert_alerts_match, make_curve
from pytest_synthloss.exports.fleet import Fleet, FleetRun, MetricsEndpoint
from pytest_synthloss.exports.live_alerts import AlertSample, LiveAlerts
from pytest_synthloss.exports.live_alerts import step_seen as _step_seen
from pytest_synthloss.exports.prometheus_server import PrometheusServer, find_prometheus

needs_prometheus = pytest.mark.skipif(
    find_prometheus() is None,
    reason="prometheus not found: install Prometheus (Debian: apt-get install prometheus)",
)

RULES = """\
groups:
  - name: training
    rules:
      - alert: LossSpike
        expr: train_loss > 5
      - alert: TrainingStalled
        expr: changes(train_loss_step[1s]) == 0 and count_over_time(train_loss_step[1s]) >= 8
"""
STRICT_RULES = """\
groups:
  - name: training
    rules:
      - alert: LossSpike
        expr: train_loss > 9.6
"""
SPIKY_RUNS = (3, 17, 42, 64, 99)
STALLED_RUN = 50


def _fleet_runs() -> list[FleetRun]:
    runs = []
    for index in range(100):
        profile = "spiky" if index in SPIKY_RUNS else "stable"
        faults = Faults(stall=(8, 2.0)) if index == STALLED_RUN else None
        runs.append(FleetRun(make_curve(12, profile), {"run": f"r{index}"}, faults))
    return runs


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PrometheusServer, MetricsEndpoint, Path]]:
    if find_prometheus() is None:
        pytest.skip("prometheus not found: install Prometheus (Debian: apt-get install prometheus)")
    folder = tmp_path_factory.mktemp("rules")
    (folder / "rules.yml").write_text(RULES)
    (folder / "strict.yml").write_text(STRICT_RULES)
    with MetricsEndpoint() as endpoint, PrometheusServer([folder / "rules.yml"]) as server:
        yield server, endpoint, folder


@pytest.fixture(scope="module")
def fleet_alerts(live: tuple[PrometheusServer, MetricsEndpoint, Path]) -> tuple[Fleet, LiveAlerts]:
    server, endpoint, folder = live
    server.load_rules([folder / "rules.yml"])
    fleet = Fleet.for_scrape_interval(
        _fleet_runs(), server.scrape_seconds, batch="fleet", clock=time.time
    )
    return fleet, server.run(fleet, endpoint)


@needs_prometheus
def test_a_fleet_of_100_runs_fires_exactly_for_the_spiky_runs(
    fleet_alerts: tuple[Fleet, LiveAlerts],
) -> None:
    _, alerts = fleet_alerts
    expected = tuple(sorted(f"r{i}" for i in SPIKY_RUNS))
    assert alerts.fired_runs("LossSpike") == expected
    assert alerts.runs == tuple(f"r{i}" for i in range(100))
    assert alerts.alertnames == ("LossSpike", "TrainingStalled")


@needs_prometheus
def test_spiky_fires_at_its_spike_steps_and_only_there(
    fleet_alerts: tuple[Fleet, LiveAlerts],
) -> None:
    fleet, alerts = fleet_alerts
    for run in fleet.runs:
        name = run.labels["run"]
        steps = alerts.firing_steps(name, "LossSpike")
        assert steps == run.curve.spike_steps, name
        assert_alerts_match(steps, run.curve)  # the oracle agrees: every event, no false alarm
        assert alerts.pending_steps(name) == ()  # no `for:`: straight to firing


@needs_prometheus
def test_a_stall_rule_fires_during_the_stall_only(fleet_alerts: tuple[Fleet, LiveAlerts]) -> None:
    fleet, alerts = fleet_alerts
    stalled = fleet.runs[STALLED_RUN]
    assert stalled.faults is not None
    assert stalled.faults.stall_step == 8
    # while the run hangs before step 8, the last step it shows is 7
    assert alerts.firing_steps(f"r{STALLED_RUN}", "TrainingStalled") == (7,)
    firing = [
        s.time - (fleet.started or 0.0)
        for s in alerts.samples
        if s.alertname == "TrainingStalled"
        and s.state == "firing"
        and s.run == stalled.labels["run"]
    ]
    # step 7 shows from 1.8 s to 4.1 s (0.3 s a step, then 2 s of stall); the 1 s window
    # holds only step 7 from 1 s after the last scrape that saw step 6: about 2.8 s, less
    # one scrape interval (0.1 s) and what a busy machine delays a scrape by. The run hangs
    # from 2.1 s (when step 8 was due), so every firing sample is during the stall.
    assert min(firing) >= 2.5
    assert max(firing) <= 4.5
    # The other runs end at 3.6 s while the stalled one goes on to 5.6 s: to a changes()
    # rule a finished run that keeps its last value looks stalled too, at its last step.
    for run in fleet.runs:
        if run is not stalled:
            assert alerts.firing_steps(run.labels["run"], "TrainingStalled") == (12,)


@needs_prometheus
def test_rules_reload_between_fleets_and_batches_stay_apart(
    live: tuple[PrometheusServer, MetricsEndpoint, Path],
    fleet_alerts: tuple[Fleet, LiveAlerts],
) -> None:
    server, endpoint, folder = live
    server.load_rules([folder / "strict.yml"])
    curves = [make_curve(8, "spiky"), make_curve(8, "stable")]
    fleet = Fleet.for_scrape_interval(
        curves, server.scrape_seconds, batch="strict", clock=time.time
    )
    alerts = server.run(fleet, endpoint)
    # only 9.7 (step 4) is above 9.6; the earlier fleet's alerts are not this batch's
    assert alerts.firing_steps("r0") == (4,)
    assert alerts.fired_runs() == ("r0",)
    assert alerts.alertnames == ("LossSpike",)


@needs_prometheus
def test_prometheus_refusing_a_rule_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: train_loss >\n"
    )
    server = PrometheusServer([bad])
    with pytest.raises(SynthLossError) as info:
        server.start(["127.0.0.1:9"])
    message = str(info.value)
    assert message == (
        f'prometheus exited with code 1: {bad}: 5:15: group "x", rule 1, "A": could not '
        "parse expression: 1:13: parse error: unexpected end of input"
    )


def test_a_missing_rule_file_or_binary_is_named(tmp_path: Path) -> None:
    with pytest.raises(SynthLossError) as info:
        PrometheusServer([tmp_path / "nope.yml"], binary="/bin/true")
    assert str(info.value) == f"rule file {str(tmp_path / 'nope.yml')!r} does not exist"
    with pytest.raises(SynthLossError) as missing:
        PrometheusServer([], binary=str(tmp_path / "no-prometheus"))
    assert str(missing.value) == (
        f"binary {str(tmp_path / 'no-prometheus')!r} is not an executable program"
    )
    with pytest.raises(SynthLossError) as fast:
        PrometheusServer([], binary="/bin/true", scrape_seconds=0.01)
    assert (
        str(fast.value)
        == "scrape_seconds must be a finite number of seconds from 0.05 to 60, got 0.01"
    )


def test_an_evaluation_right_after_a_scrape_that_changed_the_step_is_left_out() -> None:
    scraped = ([10.0, 10.1, 10.2, 10.3], [3.0, 3.0, 4.0, 4.0])
    assert _step_seen(scraped, 9.9) is None  # before any scrape
    assert _step_seen(scraped, 10.15) == 3
    assert _step_seen(scraped, 10.215) is None  # may or may not have seen step 4 yet
    assert _step_seen(scraped, 10.23) == 4
    assert _step_seen(scraped, 10.305) == 4  # same step either way
    # a slow scrape (40 ms) is stored later: the evaluation stays unsure for longer
    slow = {10.2: 0.04}
    assert _step_seen(scraped, 10.25, slow) is None
    assert _step_seen(scraped, 10.27, slow) == 4


def test_live_alerts_group_samples_by_run_state_and_name() -> None:
    samples = (
        AlertSample("LossSpike", "pending", "a", 1.0, 3),
        AlertSample("LossSpike", "firing", "a", 1.1, 4),
        AlertSample("LossSpike", "firing", "a", 1.2, 4),
        AlertSample("Other", "firing", "b", 1.3, 9),
        AlertSample("LossSpike", "firing", "b", 1.4, None),
        AlertSample("FleetWide", "firing", None, 1.5, None),
    )
    alerts = LiveAlerts(samples, ("a", "b"))
    assert alerts.firing_steps("a") == (4,)
    assert alerts.pending_steps("a") == (3,)
    assert alerts.firing_steps("b", "LossSpike") == ()  # its step was ambiguous
    assert alerts.firing_steps("b") == (9,)
    assert alerts.fired_runs() == ("a", "b")
    assert alerts.fired_runs("LossSpike") == ("a", "b")
    assert alerts.alertnames == ("FleetWide", "LossSpike", "Other")
    with pytest.raises(SynthLossError) as info:
        alerts.firing_steps("r9")  # a typo must not pass as "never fired"
    assert str(info.value) == "unknown run 'r9'; the runs are: a, b"


def test_a_prometheus_variable_naming_no_program_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS", str(tmp_path / "prom"))
    with pytest.raises(SynthLossError) as info:
        find_prometheus()
    assert str(info.value) == f"$PROMETHEUS {str(tmp_path / 'prom')!r} is not an executable program"
