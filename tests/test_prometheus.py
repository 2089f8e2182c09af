"""serve_loss_gauge: scraped over HTTP on 127.0.0.1, exact values, taken ports, bad input."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("prometheus_client", reason="needs the prometheus extra")

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.exports.prometheus import LossGauge, serve_loss_gauge


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.fixture
def gauge() -> Iterator[LossGauge]:
    with serve_loss_gauge(0, labels={"run": "r1"}) as handle:
        yield handle


def test_scrape_shows_the_last_step_exactly(gauge: LossGauge) -> None:
    assert gauge.host == "127.0.0.1"
    assert gauge.url == f"http://127.0.0.1:{gauge.port}/metrics"
    for step, loss in make_curve(10, "spiky"):
        gauge.set(step, loss)
    text = scrape(gauge.url)
    assert samples(text) == [
        'train_loss{run="r1"} 1.5499999999999998',
        'train_loss_step{run="r1"} 10.0',
    ]
    assert "# TYPE train_loss gauge" in text
    gauge.set(4, 9.7)
    assert samples(scrape(gauge.url))[0] == 'train_loss{run="r1"} 9.7'


def test_nan_and_custom_metric_without_labels() -> None:
    with serve_loss_gauge(0, metric="loss") as handle:
        assert samples(scrape(handle.url)) == []  # no sample before the first step
        handle.set(3, float("nan"))
        assert samples(scrape(handle.url)) == ["loss NaN", "loss_step 3.0"]


def test_a_taken_port_is_named(gauge: LossGauge) -> None:
    with pytest.raises(SynthLossError) as info:
        serve_loss_gauge(gauge.port)
    assert str(info.value) == (
        f"metrics port {gauge.port} on 127.0.0.1 is already in use; "
        "choose another port (0 picks a free one)"
    )


def test_a_port_held_by_another_listener_is_named() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(
            SynthLossError,
            match=rf"^metrics port {port} on 127\.0\.0\.1 is "
            "already in use",
        ):
            serve_loss_gauge(port)


def test_close_frees_the_port_and_stops_set() -> None:
    handle = serve_loss_gauge(0)
    port = handle.port
    handle.close()
    handle.close()
    assert repr(handle) == f"<LossGauge closed http://127.0.0.1:{port}/metrics>"
    with pytest.raises(urllib.error.URLError):
        scrape(handle.url)
    with pytest.raises(SynthLossError, match=f"^the metrics endpoint on port {port} is closed$"):
        handle.set(1, 2.0)
    with serve_loss_gauge(port) as again:
        assert again.port == port


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            (-1,),
            {},
            "metrics port must be a port number from 0 to 65535 (0: any free port), got -1",
        ),
        (
            (65536,),
            {},
            "metrics port must be a port number from 0 to 65535 (0: any free port), got 65536",
        ),
        (
            ("9100",),
            {},
            "metrics port must be a port number from 0 to 65535 (0: any free port), got '9100'",
        ),
        (
            (True,),
            {},
            "metrics port must be a port number from 0 to 65535 (0: any free port), got True",
        ),
        ((0, ""), {}, "host must be a non-empty string such as '127.0.0.1', got ''"),
        (
            (0,),
            {"metric": "train loss"},
            "metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*, got 'train loss'",
        ),
        (
            (0,),
            {"labels": {"__x": "1"}},
            "labels: label name must match [a-zA-Z_][a-zA-Z0-9_]* "
            "and not start with '__', got '__x'",
        ),
    ],
)
def test_bad_arguments(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        serve_loss_gauge(*args, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("step", "loss", "message"),
    [
        (0, 1.0, "step must be an integer >= 1, got 0"),
        (1.0, 1.0, "step must be an integer >= 1, got 1.0 (float)"),
        (1, "1.0", "loss must be a number, got '1.0' (str)"),
        (1, True, "loss must be a number, got True (bool)"),
    ],
)
def test_bad_set(gauge: LossGauge, step: object, loss: object, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        gauge.set(step, loss)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_a_scrape_never_pairs_a_step_with_another_steps_loss(gauge: LossGauge) -> None:
    stop = threading.Event()

    def publish() -> None:
        step = 1
        while not stop.is_set():
            gauge.set(step, 10.0 * step)
            step += 1
            time.sleep(0.0001)  # leave the server room to answer

    writer = threading.Thread(target=publish)
    writer.start()
    try:
        pairs = []
        for _ in range(50):
            values = dict(line.rsplit(" ", 1) for line in samples(scrape(gauge.url)))
            if values:
                pairs.append((values['train_loss_step{run="r1"}'], values['train_loss{run="r1"}']))
    finally:
        stop.set()
        writer.join()
    assert len({step for step, _ in pairs}) > 1  # the writer really moved during the scrapes
    assert all(float(loss) == 10.0 * float(step) for step, loss in pairs)
