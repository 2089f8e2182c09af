"""Training-log formats and writing a run as text, JSONL or CSV lines (read back by
:func:`~pytest_synthloss.emulation.logreader.read_log`).

One line per step:

- ``text``: ``Step 4: loss=9.70`` (the spec's format, 2 decimals) after a
  ``# synthloss run:`` header line holding the config;
- ``jsonl``: ``{"step": 4, "loss": 9.7, "profile": "spiky", "lr": null, "batch_size":
  null}``, exact; every line is strict JSON: a non-finite loss is the string ``"NaN"``,
  ``"Infinity"`` or ``"-Infinity"`` (as protobuf's JSON mapping writes them), never the
  bare ``NaN`` that ``json.dumps`` writes by default and strict parsers refuse;
- ``csv``: ``4,9.7,spiky,,`` after the header ``step,loss,profile,lr,batch_size``, exact.

A *timed* log (what ``synthloss train`` writes, see :mod:`~pytest_synthloss.emulation.emulator`)
adds two fields to every JSONL and CSV line: ``time``, the seconds since the run started
when the line was written (rounded to the microsecond, so exact under a fake clock), and
``final_step``, the last step the run plans to log (from which a reader tells a crashed run:
:attr:`~pytest_synthloss.emulation.parsed_log.ParsedLog.missing_tail`). The CSV header is
then :data:`CSV_TIMED_HEADER`. Logs of a whole curve (:func:`write_log`, ``synthloss curve``)
are not timed; the text format never is (its header already says ``steps=``).

A run of a profile with linked signals (:mod:`pytest_synthloss.core.signals`) logs them
too, last, on every JSONL and CSV line: ``grad_norm``, ``learning_rate``, ``loss_scale``
and ``step_time`` (:data:`~pytest_synthloss.core.signals.SIGNAL_NAMES`), exact, non-finite
values as for the loss. The CSV header then ends with those four columns. Text logs hold
the loss only.

Floats in JSONL and CSV are written with ``repr``, so both round-trip bit for bit. Text
rounds every loss to two decimals *by design* (it is what the spec's script prints), so a
text log reads back as ``round(loss, 2)``. Every line is built whole and written with one
``write`` and a ``flush``, so a reader tailing the file never sees half a line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Protocol, TextIO

from pytest_synthloss.core.curve import LossCurve, RunConfig
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.files import open_output
from pytest_synthloss.core.signals import SIGNAL_NAMES

__all__ = [
    "CSV_HEADER",
    "CSV_TIMED_HEADER",
    "FORMATS",
    "JSON_NONFINITE",
    "TEXT_HEADER",
    "TIME_DECIMALS",
    "LogWriter",
    "check_format",
    "write_log",
]

#: How JSONL writes a non-finite loss: a string, so every line is strict JSON.
JSON_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
#: The formats, in the order the CLI lists them.
FORMATS = ("text", "jsonl", "csv")
#: The first line of a CSV log.
CSV_HEADER = "step,loss,profile,lr,batch_size"
#: The first line of a timed CSV log: two more columns, after the old ones.
CSV_TIMED_HEADER = CSV_HEADER + ",time,final_step"
#: Decimals of a logged ``time`` (microseconds).
TIME_DECIMALS = 6
#: The start of a text log's header line.
TEXT_HEADER = "# synthloss run:"


def check_format(name: object) -> str:
    """Return ``name`` if it is one of :data:`FORMATS`, else raise ``SynthLossError``."""
    if name not in FORMATS:
        raise SynthLossError(f"unknown log format {name!r}; known formats: {', '.join(FORMATS)}")
    return str(name)


class TextSink(Protocol):
    """Where a :class:`LogWriter` writes: a text stream or a line sink."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class LogWriter:
    """Writes one run's log lines to ``stream``: whole lines only, one write and flush per call.

    ``config`` supplies the profile name, ``lr`` and ``batch_size`` logged on every line
    (JSONL, CSV) or in the header line (text). ``timed=True`` adds ``time`` and
    ``final_step`` to JSONL and CSV lines (see the module docs); each line's time is then
    passed to :meth:`line` and :meth:`write`. ``signals=True`` adds the linked signals'
    columns, whose values are then passed too.
    """

    def __init__(
        self,
        stream: TextSink,
        fmt: str,
        config: RunConfig,
        *,
        timed: bool = False,
        signals: bool = False,
    ) -> None:
        self.stream: TextSink = stream
        self.format = check_format(fmt)
        self.config = config
        self.timed = timed and self.format != "text"
        self.signals = signals and self.format != "text"
        self._final_step = config.start_step + config.steps - 1
        if "\n" in config.profile or "\r" in config.profile:
            raise SynthLossError(
                f"profile name {config.profile!r} contains a line break and cannot be logged"
            )
        self._csv_suffix = _csv_row([config.profile, _csv_value(config.lr), config.batch_size])
        self._json_tail = {
            "profile": config.profile,
            "lr": config.lr,
            "batch_size": config.batch_size,
        }

    def header(self) -> str:
        """The header line of the log (with its newline); empty for JSONL."""
        cfg = self.config
        if self.format == "text":
            return (
                f"{TEXT_HEADER} profile={cfg.profile} steps={cfg.steps} "
                f"start_step={cfg.start_step} lr={cfg.lr!r} batch_size={cfg.batch_size!r}\n"
            )
        if self.format == "csv":
            header = CSV_TIMED_HEADER if self.timed else CSV_HEADER
            if self.signals:
                header += "," + ",".join(SIGNAL_NAMES)
            return header + "\n"
        return ""

    def line(
        self,
        step: int,
        loss: float,
        time: float | None = None,
        signals: Sequence[float] | None = None,
    ) -> str:
        """The complete log line (with its newline) for one step.

        ``time`` (seconds since the run started) is required for a timed log, and
        ``signals`` (the values of :data:`SIGNAL_NAMES`, in order) for a log with signals;
        each is ignored otherwise.
        """
        if self.format == "text":
            return f"Step {step}: loss={loss:.2f}\n"
        stamp = None
        if self.timed:
            if time is None:
                raise SynthLossError("a timed log needs the time of every line")
            stamp = round(time, TIME_DECIMALS)
        if self.format == "jsonl":
            value: float | str = loss if math.isfinite(loss) else JSON_NONFINITE[repr(loss)]
            record: dict[str, object] = {"step": step, "loss": value, **self._json_tail}
            if stamp is not None:
                record.update(time=stamp, final_step=self._final_step)
            if self.signals:
                values = self._signal_values(signals)
                for name, number in zip(SIGNAL_NAMES, values, strict=True):
                    record[name] = number if math.isfinite(number) else JSON_NONFINITE[repr(number)]
            return json.dumps(record, allow_nan=False) + "\n"
        text = f"{step},{loss!r},{self._csv_suffix}"
        if stamp is not None:
            text += f",{stamp!r},{self._final_step}"
        for number in self._signal_values(signals):
            text += f",{number!r}"
        return text + "\n"

    def _signal_values(self, signals: Sequence[float] | None) -> Sequence[float]:
        if not self.signals:
            return ()
        if signals is None or len(signals) != len(SIGNAL_NAMES):
            raise SynthLossError(
                f"a log with signals needs the values of {', '.join(SIGNAL_NAMES)} on every line"
            )
        return signals

    def write_header(self) -> None:
        """Write the header line, if the format has one."""
        self._emit(self.header())

    def write(
        self,
        steps: Sequence[int],
        losses: Sequence[float],
        time: float | None = None,
        signals: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        """Write the lines of these steps (all at ``time``) with one ``write`` and flush.

        ``signals`` maps each signal name to its values at these steps.
        """
        if self.signals and signals is not None:
            rows = zip(*(signals[name] for name in SIGNAL_NAMES), strict=True)
            self._emit(
                "".join(
                    self.line(s, v, time, row)
                    for s, v, row in zip(steps, losses, rows, strict=True)
                )
            )
            return
        if self.format == "jsonl" and not self.timed and not self.signals:
            # what json.dumps writes for an int step and a finite float loss (their repr),
            # then the same tail on every line, encoded once
            tail = json.dumps(self._json_tail, allow_nan=False)[1:] + "\n"
            self._emit(
                "".join(
                    f'{{"step": {s!r}, "loss": {v!r}, {tail}'
                    if type(s) is int and type(v) is float and math.isfinite(v)
                    else self.line(s, v, time)
                    for s, v in zip(steps, losses, strict=True)
                )
            )
            return
        self._emit("".join(self.line(s, v, time) for s, v in zip(steps, losses, strict=True)))

    def _emit(self, text: str) -> None:
        if text:
            self.stream.write(text)
            self.stream.flush()


def _csv_value(value: float | None) -> str:
    return "" if value is None else repr(value)


def _csv_row(values: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def write_log(
    curve: LossCurve, target: str | os.PathLike[str] | TextIO, format: str = "jsonl"
) -> None:
    """Write the whole of ``curve`` as a log to a path or an open text stream.

    Every argument is checked before a file is created. A path that cannot be written
    raises ``SynthLossError`` (as :func:`read_log` does for one it cannot read). The file
    is written whole or not at all (see :mod:`pytest_synthloss.core.files`): a write that
    fails part way (a full disk) leaves the previous file intact and no partial one.
    """
    if not isinstance(curve, LossCurve):
        raise SynthLossError(f"write_log() takes a LossCurve, got {curve!r}")
    if not isinstance(target, (str, os.PathLike)) and not callable(getattr(target, "write", None)):
        raise SynthLossError(f"write_log() writes to a path or an open text stream, got {target!r}")
    signals = curve.profile.signals is not None
    writer = LogWriter(io.StringIO(), format, curve.config, signals=signals)  # checks first
    if not isinstance(target, (str, os.PathLike)):
        writer.stream = target
        _write_curve(curve, writer)
        return
    output = open_output(target, "log")
    try:
        with os.fdopen(os.dup(output.fd), "w", encoding="utf-8", newline="") as stream:
            writer.stream = stream
            _write_curve(curve, writer)
        output.commit()
        output.close()
    except OSError as exc:
        raise output.failed(exc) from None
    finally:
        output.abort()


def _write_curve(curve: LossCurve, writer: LogWriter) -> None:
    writer.write_header()
    for chunk in curve.iter_chunks(1 << 14):
        values = {name: array.tolist() for name, array in chunk.signals.items()}
        writer.write(chunk.steps.tolist(), chunk.losses.tolist(), None, values or None)
