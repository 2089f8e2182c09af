"""A fleet of emulated runs on one Prometheus ``/metrics`` endpoint, with a known timeline.

Each run of a :class:`Fleet` is a :class:`~pytest_synthloss.LossCurve` with its own labels
(a ``run`` label by default) and, optionally, :class:`~pytest_synthloss.Faults`. Once
:meth:`Fleet.start` is called, line ``i`` of a run's log (``i = 0, 1, ...``; see
:meth:`~pytest_synthloss.Faults.logged_steps`) is *current* from::

    start + i * step_seconds + (the stall pauses before it)

and a scrape shows every run's current line as two gauges::

    train_loss{run="r0", profile="spiky"} 9.7
    train_loss_step{run="r0", profile="spiky"} 4

A run shows nothing before its first line. After its last line it keeps showing it (the
last step is never lost between two scrapes) until the fleet closes, except after a
crash: a crashed run's series vanish one ``step_seconds`` after the crash step, as a dead
process's would (Prometheus then marks them stale). Values are computed at scrape time
from the clock, so there is no writer thread, and :meth:`Fleet.step_at` says exactly which
step any scrape showed. Values use the exposition format's ``NaN``, ``+Inf`` and ``-Inf``.

:class:`MetricsEndpoint` serves fleets on one ``/metrics`` endpoint (a small
``http.server`` on loopback; no extra package is needed). Fleets can be attached and
detached while it runs, so one scrape target (and one Prometheus) serves many tests:
each fleet's series carry its own ``batch`` label when one is given.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.core.validation import check_float, check_port
from pytest_synthloss.exports.promtool import check_labels, check_metric_name
from pytest_synthloss.exports.serving import QuietDisconnects, ServedEndpoint

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = ["MAX_RUNS", "Fleet", "FleetRun", "MetricsEndpoint", "labelled"]

#: Most runs one fleet serves.
MAX_RUNS = 10_000

Clock = Callable[[], float]


@dataclass(frozen=True)
class FleetRun:
    """One run of a fleet: its curve, its constant labels and its faults (if any)."""

    curve: LossCurve
    labels: Mapping[str, str] = field(default_factory=dict)
    faults: Faults | None = None

    @property
    def faults_or_profile(self) -> Faults:
        """The run's faults: its own, else its profile's, else none."""
        return self.faults or self.curve.profile.faults or Faults()


class _Timeline:
    """When each logged line of one run becomes current, relative to the fleet's start."""

    def __init__(self, run: FleetRun, step_seconds: float) -> None:
        faults = run.faults_or_profile
        curve = run.curve
        self.steps: list[int] = []
        self.times: list[float] = []
        offset = 0.0
        for segment in faults.segments(len(curve), curve.start_step):
            offset += segment.pause
            for step in range(segment.first, segment.last + 1):
                self.times.append(len(self.steps) * step_seconds + offset)
                self.steps.append(step)
        self.crash_end = (
            self.times[-1] + step_seconds if faults.crash_step is not None and self.times else None
        )
        self.end = self.times[-1] + step_seconds if self.times else 0.0

    def step_at(self, elapsed: float) -> int | None:
        if self.crash_end is not None and elapsed >= self.crash_end:
            return None
        index = bisect.bisect_right(self.times, elapsed) - 1
        return None if index < 0 else self.steps[index]


class Fleet:
    """Many emulated runs with a known timeline (see the module docs).

    ``runs`` are :class:`FleetRun` s or plain curves (labelled ``run="r<index>"``);
    ``step_seconds`` is how long each logged line stays current: choose at least twice
    the scrape interval, or a scraper can miss a step (see :meth:`for_scrape_interval`).
    ``batch`` (optional) is added to every run's labels as ``batch="<batch>"``. Serve it
    with :class:`MetricsEndpoint`.
    """

    def __init__(
        self,
        runs: Iterable[FleetRun | LossCurve],
        *,
        step_seconds: float,
        metric: str = "train_loss",
        batch: str | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.metric = check_metric_name(metric)
        self.step_seconds = _check_seconds(step_seconds)
        self.runs = _checked_runs(runs)
        if batch is not None and (not isinstance(batch, str) or not batch):
            raise SynthLossError(f"batch must be a non-empty string or None, got {batch!r}")
        self.batch = batch
        self._labels = [
            _label_text({**run.labels, **({} if batch is None else {"batch": batch})})
            for run in self.runs
        ]
        self._timelines = [_Timeline(run, self.step_seconds) for run in self.runs]
        self._clock = clock
        self._started: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_scrape_interval(
        cls, runs: Iterable[FleetRun | LossCurve], scrape_seconds: float, **kwargs: Any
    ) -> Fleet:
        """A fleet whose steps last three scrape intervals, so every step is scraped."""
        return cls(runs, step_seconds=3 * _check_seconds(scrape_seconds), **kwargs)

    @property
    def duration(self) -> float:
        """Seconds from :meth:`start` until every run has shown its last line for one step."""
        return max(t.end for t in self._timelines)

    @property
    def started(self) -> float | None:
        """The clock reading at :meth:`start` (``None`` before)."""
        return self._started

    def start(self) -> Fleet:
        """Start the runs' clocks now (once)."""
        with self._lock:
            if self._started is not None:
                raise SynthLossError("the fleet has already started")
            self._started = self._clock()
        return self

    def step_at(self, run: int, when: float) -> int | None:
        """The step run ``run`` (an index) showed at clock reading ``when`` (None: nothing)."""
        if self._started is None:
            return None
        return self._timelines[run].step_at(when - self._started)

    def samples(self, when: float | None = None) -> tuple[list[str], list[str]]:
        """The loss and step sample lines at clock reading ``when`` (default: now)."""
        now = self._clock() if when is None else when
        loss_lines: list[str] = []
        step_lines: list[str] = []
        for index, run in enumerate(self.runs):
            step = self.step_at(index, now)
            if step is None:
                continue
            labels = self._labels[index]
            loss_lines.append(f"{self.metric}{labels} {_value(run.curve.loss_at(step))}")
            step_lines.append(f"{self.metric}_step{labels} {step}")
        return loss_lines, step_lines

    def exposition(self, when: float | None = None) -> str:
        """The ``/metrics`` text of this fleet alone at clock reading ``when`` (default: now)."""
        return _exposition([self], when)

    def __repr__(self) -> str:
        state = "not started" if self._started is None else "started"
        return f"<Fleet of {len(self.runs)} runs, {state}>"


class MetricsEndpoint(ServedEndpoint):
    """``http://host:port/metrics`` serving the fleets attached to it (port 0: a free port).

    Use it as a context manager, or call :meth:`close` to stop serving and free the port.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._fleets: list[Fleet] = []
        self._lock = threading.Lock()
        server = _bind(host, port, self)
        self._serve(server, host, int(server.server_address[1]))

    @property
    def target(self) -> str:
        """``HOST:PORT``, as a Prometheus ``static_configs`` target."""
        return f"{self.host}:{self.port}"

    def attach(self, fleet: Fleet) -> Fleet:
        """Serve ``fleet`` from now on (its runs show nothing until it starts)."""
        if not isinstance(fleet, Fleet):
            raise SynthLossError(f"fleet must be a Fleet, got {fleet!r}")
        with self._lock:
            if any(f.metric != fleet.metric for f in self._fleets):
                raise SynthLossError("every fleet on one endpoint must use the same metric name")
            self._fleets.append(fleet)
        return fleet

    def detach(self, fleet: Fleet) -> None:
        """Stop serving ``fleet``: its series vanish from the next scrape on."""
        with self._lock:
            self._fleets = [f for f in self._fleets if f is not fleet]

    def exposition(self) -> str:
        """The ``/metrics`` text now."""
        with self._lock:
            fleets = list(self._fleets)
        return _exposition(fleets, None)

    def __repr__(self) -> str:
        return f"<MetricsEndpoint {self.url} serving {len(self._fleets)} fleets>"


def _exposition(fleets: Sequence[Fleet], when: float | None) -> str:
    metric = fleets[0].metric if fleets else "train_loss"
    loss_lines: list[str] = []
    step_lines: list[str] = []
    for fleet in fleets:
        losses, steps = fleet.samples(when)
        loss_lines += losses
        step_lines += steps
    return "\n".join(
        [
            f"# HELP {metric} Training loss at the current step.",
            f"# TYPE {metric} gauge",
            *loss_lines,
            f"# HELP {metric}_step Current training step.",
            f"# TYPE {metric}_step gauge",
            *step_lines,
            "",
        ]
    )


def _checked_runs(runs: Iterable[FleetRun | LossCurve]) -> tuple[FleetRun, ...]:
    from pytest_synthloss.core.curve import LossCurve
    from pytest_synthloss.core.recorded import require_consecutive

    if isinstance(runs, (str, bytes)) or not isinstance(runs, Iterable):
        raise SynthLossError(f"runs must be a sequence of FleetRun or LossCurve, got {runs!r}")
    checked: list[FleetRun] = []
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    for index, run in enumerate(runs):
        if isinstance(run, LossCurve):
            run = FleetRun(run, {"run": f"r{index}"})
        if not isinstance(run, FleetRun):
            raise SynthLossError(f"runs[{index}] must be a FleetRun or a LossCurve, got {run!r}")
        if not isinstance(run.curve, LossCurve):
            raise SynthLossError(f"runs[{index}].curve must be a LossCurve, got {run.curve!r}")
        require_consecutive(run.curve, f"runs[{index}]: a fleet")
        labels = check_labels(run.labels, f"runs[{index}].labels")
        if run.faults is not None and not isinstance(run.faults, Faults):
            raise SynthLossError(f"runs[{index}].faults must be Faults or None, got {run.faults!r}")
        key = tuple(sorted(labels.items()))
        if key in seen:
            raise SynthLossError(
                f"runs[{index}] has the same labels as runs[{seen[key]}] ({labels!r}); "
                "every run needs its own labels (e.g. a distinct 'run' label)"
            )
        seen[key] = index
        checked.append(FleetRun(run.curve, labels, run.faults))
        if len(checked) > MAX_RUNS:
            raise SynthLossError(f"a fleet serves at most {MAX_RUNS} runs")
    if not checked:
        raise SynthLossError("a fleet needs at least one run")
    return tuple(checked)


def _check_seconds(value: object) -> float:
    return check_float(
        "step_seconds", value, positive=True, maximum=3600.0, allowed="of seconds > 0 and <= 3600"
    )


def _label_text(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    """A label value as the exposition format quotes it (backslash, newline, double quote)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(loss: float) -> str:
    if math.isnan(loss):
        return "NaN"
    if math.isinf(loss):
        return "+Inf" if loss > 0 else "-Inf"
    return repr(float(loss))


class _Server(QuietDisconnects, ThreadingHTTPServer):
    daemon_threads = True
    endpoint: MetricsEndpoint


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404, "only /metrics is served")
            return
        body = self.server.endpoint.exposition().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


def _bind(host: str, port: int, endpoint: MetricsEndpoint) -> _Server:
    check_port(port, "port")
    if not isinstance(host, str) or not host:
        raise SynthLossError(f"host must be a non-empty string such as '127.0.0.1', got {host!r}")
    try:
        server = _Server((host, int(port)), _Handler)
    except OSError as exc:
        raise SynthLossError(
            f"cannot serve metrics on {host} port {int(port)}: {exc.strerror or exc}"
        ) from None
    server.endpoint = endpoint
    return server


def labelled(curves: Sequence[LossCurve], **labels: str) -> list[FleetRun]:
    """Runs ``r0, r1, ...`` from ``curves``, each also labelled with its profile name."""
    return [
        FleetRun(curve, {"run": f"r{index}", "profile": curve.profile.name, **labels})
        for index, curve in enumerate(curves)
    ]
