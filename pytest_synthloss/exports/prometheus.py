"""Serve a training loss as Prometheus gauges, for testing scrapers and alert pipelines.

Needs the ``prometheus`` extra (``pip install "pytest-synthloss[prometheus]"``), imported
only when :func:`serve_loss_gauge` is called::

    with serve_loss_gauge(0, labels={"run": "r1"}) as gauge:   # port 0: any free port
        for step, loss in make_curve(20, "spiky"):
            gauge.set(step, loss)
        print(gauge.url)                                         # http://127.0.0.1:PORT/metrics

Each ``set(step, loss)`` updates ``<metric>{labels}`` to the loss and ``<metric>_step``
to the step, as one pair: a scrape never sees a step with another step's loss. Before the
first ``set`` the metrics have no samples (a loss of 0 would be a lie). Every handle has
its own registry, so several can run side by side.

A run with linked signals (:mod:`pytest_synthloss.core.signals`) passes them too,
``set(step, loss, {"grad_norm": ..., ...})``: each is served as its own gauge,
``<prefix>_<signal>`` where the prefix is ``metric`` without a final ``_loss``
(``train_grad_norm``, ``train_learning_rate``, ``train_loss_scale``, ``train_step_time``
for the default ``train_loss``), set together with the loss and step.
"""

from __future__ import annotations

import errno
import socket
import socketserver
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.extras import require_extra
from pytest_synthloss.core.signals import SIGNAL_NAMES
from pytest_synthloss.core.validation import check_port, check_real, check_step
from pytest_synthloss.exports.promtool import check_labels, check_metric_name
from pytest_synthloss.exports.serving import QuietDisconnects, ServedEndpoint

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.core import Metric

__all__ = ["LossGauge", "serve_loss_gauge"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


class _Server(QuietDisconnects, WSGIServer):
    def server_bind(self) -> None:
        # As HTTPServer.server_bind, without its reverse DNS lookup (socket.getfqdn).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _LastStep:
    """A prometheus_client collector of the last ``(step, loss)``, kept under one lock."""

    def __init__(self, name: str, labels: Mapping[str, str]) -> None:
        self._name = name
        self._labels = dict(labels)
        self._lock = threading.Lock()
        self._last: tuple[int, float, Mapping[str, float]] | None = None

    def set(self, step: int, loss: float, signals: Mapping[str, float]) -> None:
        with self._lock:
            self._last = (step, loss, signals)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        with self._lock:
            last = self._last
        names, values = list(self._labels), list(self._labels.values())
        loss = GaugeMetricFamily(self._name, "Training loss at the last step.", labels=names)
        step = GaugeMetricFamily(f"{self._name}_step", "Last training step.", labels=names)
        if last is not None:
            step.add_metric(values, float(last[0]))
            loss.add_metric(values, last[1])
        yield loss
        yield step
        prefix = self._name.removesuffix("_loss") or self._name
        for signal, value in ({} if last is None else last[2]).items():
            gauge = GaugeMetricFamily(
                f"{prefix}_{signal}", f"{signal} at the last step.", labels=names
            )
            gauge.add_metric(values, value)
            yield gauge


class LossGauge(ServedEndpoint):
    """A running metrics endpoint; ``set(step, loss)`` publishes a step's loss.

    Use it as a context manager, or call :meth:`close` to stop serving and free the port.
    """

    def __init__(self, server: WSGIServer, last: _LastStep, host: str, port: int) -> None:
        self._last = last
        self._serve(server, host, port)

    def set(self, step: int, loss: float, signals: Mapping[str, float] | None = None) -> None:
        """Publish ``loss`` as the loss of ``step`` (an integer >= 1). NaN and inf are allowed.

        ``signals`` (a run's linked signals by name, see the module docs) are published
        with it, each as its own gauge.
        """
        checked = check_step(step)
        value = check_real("loss", loss)
        published: dict[str, float] = {}
        if signals is not None:
            if not isinstance(signals, Mapping):
                raise SynthLossError(f"signals must be a mapping {{name: value}}, got {signals!r}")
            for name, number in signals.items():
                if name not in SIGNAL_NAMES:
                    raise SynthLossError(
                        f"unknown signal {name!r}; known signals: {', '.join(SIGNAL_NAMES)}"
                    )
                published[name] = check_real(name, number)
        if self._closed:
            raise SynthLossError(f"the metrics endpoint on port {self.port} is closed")
        self._last.set(checked, value, published)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"<LossGauge {state} {self.url}>"


def serve_loss_gauge(
    port: int,
    host: str = "127.0.0.1",
    *,
    metric: str = "train_loss",
    labels: Mapping[str, str] | None = None,
) -> LossGauge:
    """Serve ``metric`` (the loss) and ``metric_step`` on ``http://host:port/metrics``.

    ``port`` 0 picks a free port (read it from ``.port``). A port already in use raises
    ``SynthLossError`` naming it. ``labels`` are constant labels on both gauges.
    """
    check_port(port, "metrics port")
    if not isinstance(host, str) or not host:
        raise SynthLossError(f"host must be a non-empty string such as '127.0.0.1', got {host!r}")
    name = check_metric_name(metric)
    constant = check_labels(labels)
    require_extra("prometheus_client", "prometheus", "serve_loss_gauge")
    from prometheus_client import CollectorRegistry, make_wsgi_app

    registry = CollectorRegistry()
    last = _LastStep(name, constant)
    registry.register(last)
    server_class = _Server6 if ":" in host else _Server
    try:
        server = make_server(
            host,
            int(port),
            make_wsgi_app(registry),
            server_class=server_class,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SynthLossError(
                f"metrics port {int(port)} on {host} is already in use; "
                "choose another port (0 picks a free one)"
            ) from None
        raise SynthLossError(
            f"cannot serve metrics on {host} port {int(port)}: {exc.strerror or exc}"
        ) from None
    return LossGauge(server, last, host, int(server.server_address[1]))
