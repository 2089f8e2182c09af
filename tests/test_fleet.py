"""Fleets of emulated runs on one /metrics endpoint: timelines, exposition text, bad input."""

from __future__ import annotations

import urllib.request

import pytest

from pytest_synthloss import Faults, SynthLossError, make_curve
from pytest_synthloss.exports.fleet import Fleet, FleetRun, MetricsEndpoint, labelled


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_line_is_current_for_step_seconds_and_the_last_one_lingers() -> None:
    clock = Clock()
    fleet = Fleet([make_curve(5, "spiky")], step_seconds=2.0, clock=clock)
    assert fleet.step_at(0, 100.0) is None  # not started
    fleet.start()
    assert [fleet.step_at(0, 100.0 + t) for t in (0, 1.99, 2.0, 6.0, 8.0, 9.99, 10.0, 1e6)] == [
        1,
        1,
        2,
        4,
        5,
        5,
        5,
        5,
    ]
    assert fleet.step_at(0, 99.0) is None  # before the start
    assert fleet.duration == 10.0


def test_faults_move_the_timeline() -> None:
    clock = Clock()
    runs = [
        FleetRun(make_curve(10), {"run": "stall"}, Faults(stall=(4, 5.0))),
        FleetRun(make_curve(10), {"run": "restart"}, Faults(restart=(6, 2))),
        FleetRun(make_curve(10), {"run": "drop"}, Faults(drop=(3,))),
        FleetRun(make_curve(10), {"run": "crash"}, Faults(crash=(5, 3))),
    ]
    fleet = Fleet(runs, step_seconds=1.0, clock=clock).start()
    shown = [[fleet.step_at(i, 100.0 + t + 0.5) for t in range(16)] for i in range(4)]
    # a stall of 5 s before step 4: step 3 stays current for 1 + 5 s
    assert shown[0] == [1, 2, 3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 10]
    # a restart after step 6 from the checkpoint of step 4: steps 5 and 6 again
    assert shown[1] == [1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10, 10, 10, 10, 10]
    # a dropped step is never shown: the next line comes one slot earlier
    assert shown[2] == [1, 2, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10, 10, 10, 10, 10]
    # a crash after step 5: its series vanish one step later, like a dead process's
    assert shown[3] == [
        1,
        2,
        3,
        4,
        5,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    assert fleet.duration == 15.0


def test_exposition_text_is_exact() -> None:
    clock = Clock()
    runs = [
        FleetRun(make_curve(6, "spiky"), {"run": "a", "note": 'say "hi"\\n'}),
        FleetRun(make_curve(13, "nan"), {"run": "b"}),
        FleetRun(make_curve(13, "inf"), {"run": "c"}),
    ]
    fleet = Fleet(runs, step_seconds=1.0, batch="t1", clock=clock)
    assert fleet.exposition() == (
        "# HELP train_loss Training loss at the current step.\n"
        "# TYPE train_loss gauge\n"
        "# HELP train_loss_step Current training step.\n"
        "# TYPE train_loss_step gauge\n"
    )
    fleet.start()
    clock.now += 3.5  # step 4 of every run
    labels_a = '{run="a",note="say \\"hi\\"\\\\n",batch="t1"}'
    assert fleet.exposition().splitlines()[2:5] == [
        f"train_loss{labels_a} 9.7",
        'train_loss{run="b",batch="t1"} 1.97',
        'train_loss{run="c",batch="t1"} 1.97',
    ]
    clock.now += 8.0  # step 12: nan and +inf
    text = fleet.exposition().splitlines()
    assert 'train_loss{run="b",batch="t1"} NaN' in text
    assert 'train_loss{run="c",batch="t1"} +Inf' in text
    assert 'train_loss_step{run="b",batch="t1"} 12' in text
    assert f"train_loss{labels_a} 1.83" in text  # a's last step (6) lingers


def test_plain_curves_are_labelled_by_index() -> None:
    fleet = Fleet([make_curve(3), make_curve(3, "spiky")], step_seconds=1.0, clock=Clock())
    assert [run.labels for run in fleet.runs] == [{"run": "r0"}, {"run": "r1"}]
    assert [run.labels for run in labelled([make_curve(3, "spiky")], team="ml")] == [
        {"run": "r0", "profile": "spiky", "team": "ml"}
    ]


def test_an_endpoint_serves_attached_fleets_over_http() -> None:
    clock = Clock()
    with MetricsEndpoint() as endpoint:
        assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
        first = endpoint.attach(Fleet([make_curve(3)], step_seconds=1.0, batch="1", clock=clock))
        second = Fleet([make_curve(3, "spiky")], step_seconds=1.0, batch="2", clock=clock)
        endpoint.attach(second)
        first.start()
        with urllib.request.urlopen(endpoint.url, timeout=5) as response:
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            body = response.read().decode()
        assert 'train_loss_step{run="r0",batch="1"} 1' in body
        assert 'batch="2"' not in body  # not started: nothing shown
        endpoint.detach(first)
        second.start()
        with urllib.request.urlopen(endpoint.url, timeout=5) as response:
            body = response.read().decode()
        assert 'batch="1"' not in body
        assert 'train_loss{run="r0",batch="2"} 2.18' in body
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(endpoint.url.replace("/metrics", "/other"), timeout=5)
        info.value.close()
        assert info.value.code == 404


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": []}, "a fleet needs at least one run"),
        (
            {"runs": "spiky"},
            "runs must be a sequence of FleetRun or LossCurve, got 'spiky'",
        ),
        ({"runs": [1]}, "runs[0] must be a FleetRun or a LossCurve, got 1"),
        (
            {"runs": [make_curve(2), FleetRun(make_curve(2), {"run": "r0"})]},
            "runs[1] has the same labels as runs[0] ({'run': 'r0'}); every run needs its own "
            "labels (e.g. a distinct 'run' label)",
        ),
        (
            {"runs": [FleetRun(make_curve(2), {"0bad": "x"})]},
            "runs[0].labels: label name must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "
            "'__', got '0bad'",
        ),
        (
            {"step_seconds": 0},
            "step_seconds must be a finite number of seconds > 0 and <= 3600, got 0",
        ),
        (
            {"step_seconds": float("nan")},
            "step_seconds must be a finite number of seconds > 0 and <= 3600, got nan",
        ),
        (
            {"step_seconds": "1"},
            "step_seconds must be a finite number of seconds > 0 and <= 3600, got '1' (str)",
        ),
        ({"batch": ""}, "batch must be a non-empty string or None, got ''"),
        (
            {"metric": "train-loss"},
            "metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*, got 'train-loss'",
        ),
    ],
)
def test_bad_fleets_name_the_bad_value(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"runs": [make_curve(2)], "step_seconds": 1.0, **kwargs}
    runs = args.pop("runs")
    with pytest.raises(SynthLossError) as info:
        Fleet(runs, **args)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_a_fleet_starts_once_and_endpoint_ports_are_checked() -> None:
    fleet = Fleet([make_curve(2)], step_seconds=1.0, clock=Clock()).start()
    with pytest.raises(SynthLossError, match=r"^the fleet has already started$"):
        fleet.start()
    with pytest.raises(SynthLossError) as info:
        MetricsEndpoint(port=70000)
    assert str(info.value) == (
        "port must be a port number from 0 to 65535 (0: any free port), got 70000"
    )
    with MetricsEndpoint() as taken, pytest.raises(SynthLossError) as busy:
        MetricsEndpoint(port=taken.port)
    assert str(busy.value) == (
        f"cannot serve metrics on 127.0.0.1 port {taken.port}: Address already in use"
    )


def test_a_scraper_that_hangs_up_leaves_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_synthloss.exports.fleet import _bind

    with MetricsEndpoint() as endpoint:
        server = _bind("127.0.0.1", 0, endpoint)
        try:
            for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
                try:
                    raise error
                except ConnectionError:
                    server.handle_error(None, ("127.0.0.1", 1))
            assert capsys.readouterr().err == ""
            try:
                raise ValueError("a real bug")
            except ValueError:
                server.handle_error(None, ("127.0.0.1", 1))
            err = capsys.readouterr().err
            assert "ValueError: a real bug" in err
            assert "Exception occurred during processing of request from ('127.0.0.1', 1)" in err
        finally:
            server.server_close()
