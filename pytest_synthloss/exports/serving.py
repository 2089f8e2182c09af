"""A ``/metrics`` endpoint served from a daemon thread: the lifetime both exporters share.

:class:`~pytest_synthloss.exports.prometheus.LossGauge` (one run's gauges) and
:class:`~pytest_synthloss.exports.fleet.MetricsEndpoint` (many runs) are served by a
``socketserver`` on a thread of their own until :meth:`ServedEndpoint.close`, and are
context managers.
"""

from __future__ import annotations

import socketserver
import sys
import threading
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["QuietDisconnects", "ServedEndpoint"]

_Endpoint = TypeVar("_Endpoint", bound="ServedEndpoint")


class QuietDisconnects:
    """A server mix-in: a scraper that hangs up (its scrape timed out) is not an error.

    socketserver prints a traceback to ``sys.stderr`` for every request that raised; a
    ``BrokenPipeError`` or ``ConnectionResetError`` only means the client went away, and
    such a traceback would land in whatever test output is being captured at the time.
    """

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[misc]


class ServedEndpoint:
    """Serves ``http://HOST:PORT/metrics`` from a daemon thread until :meth:`close`."""

    host: str
    port: int

    def _serve(self, server: socketserver.BaseServer, host: str, port: int) -> None:
        """Start serving ``server`` (bound to ``host:port``) on a daemon thread."""
        self._server = server
        self.host = host
        self.port = port
        self._closed = False
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"synthloss-metrics-{port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The scrape URL, ``http://HOST:PORT/metrics`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop serving and free the port. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self: _Endpoint) -> _Endpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
