"""A real Prometheus in the tests: scrape a :class:`~pytest_synthloss.exports.fleet.Fleet`,
evaluate the user's alert rules, and read back which steps each alert fired on.

:class:`PrometheusServer` starts the ``prometheus`` binary (Debian: ``apt-get install
prometheus``) on 127.0.0.1 with a temporary config and storage, loads the rule files,
scrapes one fleet endpoint, and stops it afterwards::

    with MetricsEndpoint() as endpoint, PrometheusServer(["alerts.yml"]) as prom:
        fleet = Fleet.for_scrape_interval(curves, prom.scrape_seconds, clock=time.time)
        alerts = prom.run(fleet, endpoint)     # start the runs, wait, read ALERTS back
    alerts.firing_steps("r3")                  # e.g. (4, 5) for a spiky run

One server can run many fleets, one after the other, on one endpoint (the target is
scraped from the start, and Prometheus 2.x takes about 5 s to scrape a new target for the
first time); :meth:`PrometheusServer.load_rules` swaps the rule files between them.

Steps, not seconds: each ``ALERTS`` sample (an evaluation at time ``T``) is joined with the
``<metric>_step`` sample the evaluation saw, the latest one scraped at or before ``T``.
Rules are evaluated five times per scrape interval; an evaluation that falls within
:data:`~pytest_synthloss.exports.live_alerts.AMBIGUOUS_SECONDS` after a scrape ended (when
it may or may not yet see that scrape) is left out, so every step reported is one the rule
saw.
Alerts are matched to runs by the ``run`` label (an alert without it belongs to ``None``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, BinaryIO

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_float
from pytest_synthloss.exports.fleet import Fleet, MetricsEndpoint
from pytest_synthloss.exports.live_alerts import AlertSample, LiveAlerts, step_seen

__all__ = ["INSTALL_HINT", "PrometheusServer", "find_prometheus"]

#: How long Prometheus may take to start and to scrape the fleet for the first time.
STARTUP_SECONDS = 30.0
INSTALL_HINT = "install Prometheus (Debian: apt-get install prometheus)"
#: The ``err="..."`` field of a Prometheus log line.
_ERR = re.compile(r'err="((?:[^"\\]|\\.)*)"')


def find_prometheus(binary: str | None = None) -> str | None:
    """The path of the ``prometheus`` binary (``binary``, ``$PROMETHEUS``, or on PATH).

    ``None`` when it is not on PATH; a ``binary`` or ``$PROMETHEUS`` that names no program
    is a :class:`~pytest_synthloss.SynthLossError` naming it (a misconfigured CI must not
    skip the live tests quietly).
    """
    given = binary or os.environ.get("PROMETHEUS")
    if not given:
        return shutil.which("prometheus")
    found = shutil.which(given)
    if found is None:
        source = "binary" if binary else "$PROMETHEUS"
        raise SynthLossError(f"{source} {given!r} is not an executable program")
    return found


class PrometheusServer:
    """The real ``prometheus`` binary on loopback, with the given rule files (see module docs).

    ``scrape_seconds`` is the scrape interval (rules are evaluated five times as often).
    Raises :class:`~pytest_synthloss.SynthLossError` if the binary is missing (check with
    :func:`find_prometheus` first to skip instead), a rule file is missing, or Prometheus
    refuses the config (its own message is quoted).
    """

    def __init__(
        self,
        rule_files: Iterable[str | os.PathLike[str]] = (),
        *,
        scrape_seconds: float = 0.1,
        binary: str | None = None,
    ) -> None:
        path = find_prometheus(binary)
        if path is None:
            raise SynthLossError(f"prometheus binary not found: {INSTALL_HINT}")
        self.binary = path
        self.rule_files = tuple(_checked_rule_files(rule_files))
        self.scrape_seconds = check_float(
            "scrape_seconds",
            scrape_seconds,
            minimum=0.05,
            maximum=60.0,
            allowed="of seconds from 0.05 to 60",
        )
        self.port: int | None = None
        self._targets: tuple[str, ...] = ()
        self._scraped = False
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: BinaryIO | None = None

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise SynthLossError("the Prometheus server is not running; call start() first")
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, targets: Sequence[str]) -> PrometheusServer:
        """Start Prometheus scraping ``targets`` (``HOST:PORT``) and wait until it is ready."""
        if self._process is not None:
            raise SynthLossError("the Prometheus server is already running")
        self._tmp = tempfile.TemporaryDirectory(prefix="synthloss-prometheus-")
        workdir = self._tmp.name
        config = os.path.join(workdir, "prometheus.yml")
        self._targets = tuple(targets)
        self._write_config()
        self.port = _free_port()
        self._log = open(os.path.join(workdir, "prometheus.log"), "w+b")  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={os.path.join(workdir, 'data')}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
        atexit.register(self.stop)  # never leave a prometheus behind
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_config(self) -> None:
        assert self._tmp is not None
        with open(os.path.join(self._tmp.name, "prometheus.yml"), "w", encoding="utf-8") as out:
            json.dump(self._config(self._targets), out, indent=1)  # JSON is YAML

    def load_rules(self, rule_files: Iterable[str | os.PathLike[str]]) -> None:
        """Replace the rule files and reload them (no-op if they are the same files)."""
        files = tuple(_checked_rule_files(rule_files))
        if files == self.rule_files:
            return
        self.rule_files = files
        if self._process is None:
            return
        self._write_config()
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30):
                pass
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise SynthLossError(f"prometheus refused the rule files: {detail}") from None

    def _config(self, targets: Sequence[str]) -> dict[str, Any]:
        scrape = _duration(self.scrape_seconds)
        return {
            "global": {
                "scrape_interval": scrape,
                "scrape_timeout": scrape,
                "evaluation_interval": _duration(self.scrape_seconds / 5),
            },
            "rule_files": list(self.rule_files),
            "scrape_configs": [
                {"job_name": "synthloss", "static_configs": [{"targets": list(targets)}]}
            ],
        }

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise SynthLossError(
                    f"prometheus exited with code {self._process.returncode}: {self._log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.05)
        raise SynthLossError(
            f"prometheus was not ready after {STARTUP_SECONDS:g} s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        """Prometheus's first error (its ``err`` text), else its last log line."""
        if self._log is None:
            return "(no log)"
        self._log.flush()
        self._log.seek(0)
        lines = [line for line in self._log.read().decode(errors="replace").splitlines() if line]
        for line in lines:
            if "level=error" in line and (found := _ERR.search(line)):
                return found.group(1).replace('\\"', '"')
        return (lines or ["(no output)"])[-1]

    def stop(self) -> None:
        """Stop Prometheus and delete its storage. Stopping twice is harmless."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- queries -----------------------------------------------------------------------

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The ``result`` of an instant query of ``expr`` (at time ``at``, default now)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            detail = json.load(exc).get("error", exc.reason)
            raise SynthLossError(f"prometheus refused the query {expr!r}: {detail}") from None
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def raw_samples(
        self, selector: str, seconds: float
    ) -> list[tuple[dict[str, str], list[float], list[float]]]:
        """Every sample of ``selector`` stored over the last ``seconds``: labels, times, values."""
        window = f"{max(1, math.ceil(seconds))}s"
        out = []
        for series in self.query(f"{selector}[{window}]"):
            times = [float(t) for t, _ in series["values"]]
            values = [float(v) for _, v in series["values"]]
            out.append((series["metric"], times, values))
        return out

    def wait_for_scrape(self, metric: str = "up") -> None:
        """Wait until the fleet has been scraped once (``up == 1``)."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if any(float(s["value"][1]) == 1.0 for s in self.query(metric)):
                return
            time.sleep(self.scrape_seconds / 2)
        raise SynthLossError(
            f"prometheus did not scrape the fleet within {STARTUP_SECONDS:g} s: {self._log_tail()}"
        )

    def run(
        self, fleet: Fleet, endpoint: MetricsEndpoint, *, settle_seconds: float | None = None
    ) -> LiveAlerts:
        """Serve ``fleet`` on ``endpoint`` from its start to its end; read back every alert.

        Starts Prometheus scraping ``endpoint`` (if not running), waits for its first scrape,
        starts the runs, waits for them to end plus ``settle_seconds`` (default: two scrape
        intervals), joins ``ALERTS`` with the scraped steps and detaches the fleet. The
        fleet's clock must be ``time.time`` (Prometheus timestamps are wall-clock seconds).
        """
        if self._process is None:
            self.start([endpoint.target])
        if not self._scraped:
            self.wait_for_scrape()
            self._scraped = True
        endpoint.attach(fleet)
        try:
            fleet.start()
            settle = 2 * self.scrape_seconds if settle_seconds is None else settle_seconds
            time.sleep(fleet.duration + settle)
            return self.alerts(fleet)
        finally:
            endpoint.detach(fleet)

    def alerts(self, fleet: Fleet) -> LiveAlerts:
        """Every ``ALERTS`` sample of ``fleet`` (its ``batch`` label, or since it started when
        an alert has no ``batch`` label), each joined to the step the rule saw."""
        started = fleet.started
        if started is None:
            raise SynthLossError("the fleet has not started; call run() or fleet.start()")
        seconds = time.time() - started + 2 * self.scrape_seconds
        scraped: dict[str | None, tuple[list[float], list[float]]] = {}
        batch = "" if fleet.batch is None else f'batch="{fleet.batch}"'
        for labels, times, values in self.raw_samples(f"{fleet.metric}_step{{{batch}}}", seconds):
            scraped[labels.get("run")] = (times, values)
        durations: dict[float, float] = {}
        for _, times, values in self.raw_samples(
            'scrape_duration_seconds{job="synthloss"}', seconds
        ):
            durations.update(zip(times, values, strict=True))
        samples: list[AlertSample] = []
        for labels, times, _ in self.raw_samples("ALERTS", seconds):
            if labels.get("batch", fleet.batch) != fleet.batch:
                continue
            run = labels.get("run")
            steps = scraped.get(run)
            for when in times:
                if when < started:
                    continue
                samples.append(
                    AlertSample(
                        labels.get("alertname", ""),
                        labels.get("alertstate", ""),
                        run,
                        when,
                        None if steps is None else step_seen(steps, when, durations),
                    )
                )
        samples.sort(key=lambda s: (s.time, s.alertname, s.run or ""))
        runs = tuple(run.labels.get("run", "") for run in fleet.runs)
        return LiveAlerts(tuple(samples), runs)


def _checked_rule_files(files: Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(files, (str, bytes, os.PathLike)):
        files = [files]
    checked = []
    for index, name in enumerate(files):
        if not isinstance(name, (str, os.PathLike)):
            raise SynthLossError(f"rule_files[{index}] must be a path, got {name!r}")
        path = os.path.abspath(os.fspath(name))
        if not os.path.isfile(path):
            raise SynthLossError(f"rule file {os.fspath(name)!r} does not exist")
        checked.append(path)
    return checked


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
