"""The detection scorecard: every oracle call, recorded, and summed per monitor and profile.

:func:`~pytest_synthloss.score_alerts` (and so :func:`~pytest_synthloss.assert_alerts_match`)
hands each score to the recorders installed with :func:`recording`. The pytest plugin
installs one around every test and prints the table at the end of the session; any other
runner can do the same::

    rows = []
    with recording(lambda score, curve, name: rows.append(summarize(score, name))):
        assert_alerts_match(alerts, curve, name="ema-guard")

Nothing here imports numpy: the plugin loads this module in every session.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_synthloss.checks.scoring import AlertScore
    from pytest_synthloss.core.curve import LossCurve

__all__ = ["COLUMNS", "Recorder", "record", "recording", "scorecard_rows", "summarize"]

#: A recorder gets each score, its curve and the monitor name given to the call (or None).
Recorder = Callable[["AlertScore", "LossCurve", "str | None"], None]

_recorders: list[Recorder] = []

#: The scorecard's columns: the header, then each row's cells in this order.
COLUMNS = ("monitor", "profile", "calls", "caught", "missed", "false", "late", "latency")


def record(score: AlertScore, curve: LossCurve, name: str | None) -> AlertScore:
    """Hand ``score`` to every installed recorder; return it."""
    for recorder in tuple(_recorders):
        recorder(score, curve, name)
    return score


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Install ``recorder`` for the duration of the ``with`` block."""
    _recorders.append(recorder)
    try:
        yield recorder
    finally:
        _recorders.remove(recorder)


def summarize(score: AlertScore, monitor: str | None, test: str = "") -> dict[str, Any]:
    """One oracle call as a JSON-ready record (the scorecard report's ``records``)."""
    from pytest_synthloss.checks.step_fields import raw_steps  # numpy: loaded with a score

    found = [lat for lat in score.latencies if lat is not None]
    false_alarms = raw_steps(score, "false_alarms", spans=True).shape[1]  # tuples unbuilt
    return {
        "test": test,
        "monitor": monitor,
        "profile": score.profile,
        "first_step": score.start_step,
        "last_step": score.last_step,
        "expect": list(score.expect),
        "tolerate": list(score.tolerate),
        "events": len(score.events),
        "caught": len(score.detected_events),
        "missed": len(score.missed_events),
        "false_alarms": false_alarms,
        "late": len(score.late_detections),
        "latencies": found,
        "ok": score.ok,
    }


def scorecard_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records summed per ``(monitor, profile)``, sorted by monitor then profile.

    Each row holds the number of ``calls``, ``events`` and ``caught`` (so ``caught`` of
    ``events``), ``missed``, ``false_alarms``, ``late`` and the mean detection latency in
    steps over every caught event (``None`` if none was caught).
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        key = (str(rec["monitor"]), str(rec["profile"]))
        row = rows.setdefault(
            key,
            {
                "monitor": key[0],
                "profile": key[1],
                "calls": 0,
                "events": 0,
                "caught": 0,
                "missed": 0,
                "false_alarms": 0,
                "late": 0,
                "latencies": [],
            },
        )
        row["calls"] += 1
        for field in ("events", "caught", "missed", "false_alarms", "late"):
            row[field] += int(rec[field])
        row["latencies"] += list(rec["latencies"])
    out = []
    for key in sorted(rows):
        row = rows[key]
        latencies = row.pop("latencies")
        row["mean_latency"] = math.fsum(latencies) / len(latencies) if latencies else None
        out.append(row)
    return out


def table_cells(row: Mapping[str, Any]) -> list[str]:
    """A scorecard row as the cells of :data:`COLUMNS`."""
    latency = row["mean_latency"]
    return [
        row["monitor"],
        row["profile"],
        str(row["calls"]),
        f"{row['caught']}/{row['events']}",
        str(row["missed"]),
        str(row["false_alarms"]),
        str(row["late"]),
        "-" if latency is None else f"{latency:.1f}",
    ]
