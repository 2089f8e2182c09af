"""What a real Prometheus did with a fleet: ``ALERTS`` samples joined to the steps they saw.

:class:`LiveAlerts` answers, per run (its ``run`` label), at which steps an alert was
pending or firing; :func:`step_seen` is the join of one evaluation with the scraped steps.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["AMBIGUOUS_SECONDS", "AlertSample", "LiveAlerts", "step_seen"]

#: An evaluation this soon after a scrape ended may or may not see it: such samples are left
#: out (see :func:`step_seen`).
AMBIGUOUS_SECONDS = 0.025


@dataclass(frozen=True)
class AlertSample:
    """One ``ALERTS`` sample: an evaluation at ``time`` found ``alertname`` in ``state`` for
    ``run`` (its ``run`` label, or ``None``) while the rule saw ``step`` (``None``: unknown)."""

    alertname: str
    state: str
    run: str | None
    time: float
    step: int | None


@dataclass(frozen=True)
class LiveAlerts:
    """What a real Prometheus did with a fleet: every ``ALERTS`` sample, joined to steps."""

    samples: tuple[AlertSample, ...]
    runs: tuple[str, ...]

    def _steps(self, state: str, run: str | None, alertname: str | None) -> tuple[int, ...]:
        if run is not None and run not in self.runs:
            from pytest_synthloss.core.errors import SynthLossError

            raise SynthLossError(f"unknown run {run!r}; the runs are: {', '.join(self.runs)}")
        return tuple(
            sorted(
                {
                    s.step
                    for s in self.samples
                    if s.state == state
                    and s.run == run
                    and s.step is not None
                    and (alertname is None or s.alertname == alertname)
                }
            )
        )

    def firing_steps(self, run: str | None, alertname: str | None = None) -> tuple[int, ...]:
        """The steps of ``run`` at which an alert (``alertname``, or any) was firing."""
        return self._steps("firing", run, alertname)

    def pending_steps(self, run: str | None, alertname: str | None = None) -> tuple[int, ...]:
        """The steps of ``run`` at which an alert (``alertname``, or any) was pending."""
        return self._steps("pending", run, alertname)

    def fired_runs(self, alertname: str | None = None) -> tuple[str, ...]:
        """The runs (``run`` labels) on which an alert (``alertname``, or any) ever fired."""
        return tuple(
            sorted(
                {
                    s.run
                    for s in self.samples
                    if s.state == "firing"
                    and s.run is not None
                    and (alertname is None or s.alertname == alertname)
                }
            )
        )

    @property
    def alertnames(self) -> tuple[str, ...]:
        """Every alert name seen, pending or firing."""
        return tuple(sorted({s.alertname for s in self.samples}))


def step_seen(
    scraped: tuple[list[float], list[float]],
    when: float,
    durations: dict[float, float] | None = None,
) -> int | None:
    """The step of the latest scrape an evaluation at ``when`` saw; None if none or unsure.

    A scrape at ``S`` that took ``d`` seconds (``durations[S]``, Prometheus's
    ``scrape_duration_seconds``) is stored a little after ``S + d``: an evaluation before
    ``S + d + AMBIGUOUS_SECONDS`` may or may not have seen it. When that scrape changed the
    step, such an evaluation is left out (``None``).
    """
    times, values = scraped
    index = bisect.bisect_right(times, when) - 1
    if index < 0:
        return None
    took = 0.0 if durations is None else durations.get(times[index], 0.0)
    fresh = when - times[index] < took + AMBIGUOUS_SECONDS
    if fresh and index > 0 and values[index] != values[index - 1]:
        return None
    return int(values[index])
