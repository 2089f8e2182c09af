"""Reading a training log back: :func:`read_log` and :class:`ParsedLog`.

It reads the three formats of :mod:`pytest_synthloss.emulation.logwriter` (detected from
the first lines, or named), reports repeated steps and gaps, and names the line and
field of anything malformed (or skips such lines with ``skip_malformed=True``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import stat
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.signals import SIGNAL_NAMES
from pytest_synthloss.core.validation import MAX_STEP, check_path, parse_float, show
from pytest_synthloss.emulation.fast_logs import read_whole
from pytest_synthloss.emulation.loglines import (
    JSON_NONFINITE_VALUES,
    MAX_LINE_CHARS,
    DuplicateKeyError,
    csv_layout,
    csv_signals,
    json_float,
    json_signals,
    unique_keys,
    utf8_lines,
)
from pytest_synthloss.emulation.loglines import MalformedLineError as _MalformedLineError
from pytest_synthloss.emulation.logwriter import CSV_HEADER, CSV_TIMED_HEADER, check_format
from pytest_synthloss.emulation.parsed_log import ParsedLog, repeats_and_gaps, resumes_of

_JSON_NONFINITE = JSON_NONFINITE_VALUES

__all__ = ["read_log"]  # ParsedLog and MAX_MISSING_STEPS live in parsed_log

_TEXT_LINE = re.compile(r"Step ([0-9]+): loss=(\S+)")
_TEXT_HEADER_LINE = re.compile(
    r"# synthloss run: profile=(.+?) steps=([0-9]+) start_step=([0-9]+) lr=(\S+) "
    r"batch_size=(\S+)"
)
_NONE = "None"
#: A step as the writers write it: decimal ASCII digits without leading zeros.
_DIGITS = re.compile(r"[1-9][0-9]*")
#: Longest line quoted whole in an error message.
_QUOTE_CHARS = 200


def read_log(
    path_or_lines: str | os.PathLike[str] | Iterable[str],
    format: str | None = None,
    *,
    skip_malformed: bool = False,
) -> ParsedLog:
    """Read a text, JSONL or CSV training log back into a :class:`ParsedLog`.

    ``path_or_lines`` is a file path (``str`` or ``PathLike``) or an iterable of lines.
    ``format=None`` detects it from the first non-blank line (``{`` is JSONL, the CSV
    header is CSV, ``Step``/``#`` is text). Blank lines and ``#`` comments are skipped.
    A malformed line raises ``SynthLossError`` naming its line number and content, unless
    ``skip_malformed=True``, which skips it and records it in ``.skipped``.
    """
    fmt = None if format is None else check_format(format)
    if isinstance(path_or_lines, (str, os.PathLike)):
        path = check_path(path_or_lines, "log path")
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, /dev/zero never end
                raise SynthLossError(
                    f"cannot read log {path!r}: not a regular file; pass the lines "
                    "(an iterable of str, such as an open stream) to read a pipe or a device"
                )
            parsed = read_whole(path, _Parser(fmt, skip_malformed))
            if parsed is not None:
                return parsed
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
                return _parse(utf8_lines(handle), fmt, skip_malformed)
        except OSError as exc:
            raise SynthLossError(f"cannot read log {path!r}: {exc.strerror}") from None
    if isinstance(path_or_lines, bytes) or not isinstance(path_or_lines, Iterable):
        raise SynthLossError(
            f"read_log() takes a path or an iterable of lines, got {path_or_lines!r}"
        )
    return _parse(path_or_lines, fmt, skip_malformed)


def _quote(line: str) -> str:
    """``repr(line)``, cut short for a long line."""
    if len(line) <= _QUOTE_CHARS:
        return repr(line)
    return f"{line[:_QUOTE_CHARS]!r}... ({len(line)} characters)"


class _Parser:
    def __init__(self, fmt: str | None, skip_malformed: bool) -> None:
        self.format = fmt
        self.skip_malformed = skip_malformed
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.skipped: list[tuple[int, str]] = []
        self.meta: dict[str, Any] = {}
        self.meta_line: dict[str, int] = {}
        self.csv_header_seen = False
        self.csv_fields = 5
        self.times: list[float] = []
        #: Whether the step lines carry a ``time`` (decided by the first one; ``None`` before).
        self.timed: bool | None = None
        self.timed_line = 0
        self.signals: list[tuple[float, ...]] = []
        #: Whether the step lines carry the linked signals (as ``timed``).
        self.signaled: bool | None = None
        self.csv_timed = self.csv_signals = False

    def feed(self, number: int, raw: str) -> None:
        if not isinstance(raw, str):
            raise SynthLossError(f"line {number}: expected a string, got {show(raw)}")
        if len(raw) > MAX_LINE_CHARS and len(raw.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise SynthLossError(
                f"line {number}: longer than {MAX_LINE_CHARS} characters, which no training "
                f"log line is: {_quote(raw[: _QUOTE_CHARS + 1])}"
            )
        line = raw.rstrip("\r\n")
        if not line.strip():
            return
        if self.format is None:
            self.format = _detect(number, line)
        try:
            if self.format == "text":
                self._text(number, line)
            elif self.format == "jsonl":
                self._jsonl(number, line)
            else:
                self._csv(number, line)
        except _MalformedLineError as exc:
            if not self.skip_malformed:
                raise SynthLossError(
                    f"line {number}: {exc} in {self.format} log: {_quote(line)}"
                ) from None
            self.skipped.append((number, line))

    def _record(
        self,
        number: int,
        step: int,
        loss: float,
        meta: dict[str, Any],
        time: float | None = None,
        signals: tuple[float, ...] | None = None,
    ) -> None:
        if self.timed is not None and self.timed != (time is not None):
            has = "one" if self.timed else "none"
            raise _MalformedLineError(
                f"{'no' if self.timed else 'a'} time, but line {self.timed_line} has {has}"
            )
        if self.signaled is not None and self.signaled != (signals is not None):
            has = "them" if self.signaled else "none"
            raise _MalformedLineError(
                f"{'no' if self.signaled else ''} signals ({', '.join(SIGNAL_NAMES)}), "
                f"but line {self.timed_line} has {has}".lstrip()
            )
        for key, value in meta.items():
            if key not in self.meta:
                self.meta[key], self.meta_line[key] = value, number
            elif self.meta[key] != value and not _both_nan(self.meta[key], value):
                raise _MalformedLineError(
                    f"{key} {value!r} differs from {self.meta[key]!r} on line {self.meta_line[key]}"
                )
        if self.timed is None:
            self.timed, self.timed_line = time is not None, number
            self.signaled = signals is not None
        self.steps.append(step)
        self.losses.append(loss)
        if time is not None:
            self.times.append(time)
        if signals is not None:
            self.signals.append(signals)

    def _text(self, number: int, line: str) -> None:
        if line.startswith("#"):
            match = _TEXT_HEADER_LINE.fullmatch(line.rstrip())
            if match:
                profile, steps, start, lr, batch_size = match.groups()
                first = _step(start, "start_step")
                self.meta.update(
                    final_step=first + _step(steps, "steps") - 1,
                    profile=profile,
                    lr=None if lr == _NONE else _float(lr, "lr"),
                    batch_size=None if batch_size == _NONE else _step(batch_size, "batch_size"),
                )
                self.meta_line.update(
                    profile=number, lr=number, batch_size=number, final_step=number
                )
            return
        match = _TEXT_LINE.fullmatch(line.rstrip())
        if not match:
            raise _MalformedLineError("not a 'Step N: loss=X.XX' line")
        self._record(number, _step(match[1], "step"), _float(match[2], "loss"), {})

    def _jsonl(self, number: int, line: str) -> None:
        try:
            record = json.loads(line, object_pairs_hook=unique_keys, parse_float=json_float)
        except DuplicateKeyError as exc:
            raise _MalformedLineError(f"duplicate key {exc.args[0]!r}") from None
        except json.JSONDecodeError as exc:
            raise _MalformedLineError(f"invalid JSON ({exc.msg})") from None
        except RecursionError:
            raise _MalformedLineError("invalid JSON (nested too deeply)") from None
        except ValueError as exc:  # an integer of more digits than int() converts
            raise _MalformedLineError(f"invalid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise _MalformedLineError("not a JSON object")
        missing = [key for key in ("step", "loss") if key not in record]
        if missing:
            raise _MalformedLineError(f"missing key {missing[0]!r}")
        step = record["step"]
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= MAX_STEP:
            raise _MalformedLineError(f"step must be an integer >= 1, got {step!r}")
        loss = record["loss"]
        if isinstance(loss, str) and loss in _JSON_NONFINITE:
            loss = _JSON_NONFINITE[loss]
        if isinstance(loss, bool) or not isinstance(loss, (int, float)):
            raise _MalformedLineError(
                f'loss must be a number or "NaN", "Infinity" or "-Infinity", got {show(loss)}'
            )
        try:
            loss = float(loss)
        except OverflowError:
            raise _MalformedLineError(f"loss {show(loss)} is too large for a float") from None
        meta: dict[str, Any] = {}
        if "profile" in record:
            if record["profile"] is not None and not isinstance(record["profile"], str):
                raise _MalformedLineError(
                    f"profile must be a string or null, got {record['profile']!r}"
                )
            meta["profile"] = record["profile"]
        if "lr" in record:
            lr = record["lr"]
            if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
                raise _MalformedLineError(f"lr must be a number or null, got {show(lr)}")
            try:
                meta["lr"] = None if lr is None else float(lr)
            except OverflowError:
                raise _MalformedLineError(f"lr {show(lr)} is too large for a float") from None
        if "batch_size" in record:
            batch_size = record["batch_size"]
            if batch_size is not None and (
                isinstance(batch_size, bool)
                or not isinstance(batch_size, int)
                or not 1 <= batch_size <= MAX_STEP
            ):
                raise _MalformedLineError(
                    f"batch_size must be an integer >= 1 or null, got {batch_size!r}"
                )
            meta["batch_size"] = batch_size
        time = None
        if "time" in record:
            time = record["time"]
            if isinstance(time, bool) or not isinstance(time, (int, float)) or not time >= 0:
                raise _MalformedLineError(
                    f"time must be a number of seconds >= 0, got {show(time)}"
                )
            time = float(time)
        if "final_step" in record:
            final = record["final_step"]
            if isinstance(final, bool) or not isinstance(final, int) or not 1 <= final <= MAX_STEP:
                raise _MalformedLineError(f"final_step must be an integer >= 1, got {final!r}")
            meta["final_step"] = final
        self._record(number, step, float(loss), meta, time, json_signals(record))

    def _csv(self, number: int, line: str) -> None:
        if not self.csv_header_seen:
            layout = csv_layout(line, CSV_HEADER)
            if layout is None:
                raise _MalformedLineError(
                    f"expected the header {CSV_HEADER!r} or {CSV_TIMED_HEADER!r}"
                )
            self.csv_header_seen = True
            self.csv_timed, self.csv_signals = layout
            self.csv_fields = 5 + 2 * self.csv_timed + len(SIGNAL_NAMES) * self.csv_signals
            return
        fields = next(csv.reader([line]))
        if len(fields) != self.csv_fields:
            raise _MalformedLineError(f"expected {self.csv_fields} fields, got {len(fields)}")
        step, loss, profile, lr, batch_size = fields[:5]
        meta: dict[str, Any] = {
            "profile": profile or None,
            "lr": _float(lr, "lr") if lr else None,
            "batch_size": _step(batch_size, "batch_size") if batch_size else None,
        }
        time = None
        if self.csv_timed:
            time = _float(fields[5], "time")
            if not time >= 0 or math.isinf(time):
                raise _MalformedLineError(
                    f"time must be a number of seconds >= 0, got {show(fields[5])}"
                )
            meta["final_step"] = _step(fields[6], "final_step")
        signals = csv_signals(fields[-len(SIGNAL_NAMES) :]) if self.csv_signals else None
        self._record(number, _step(step, "step"), _float(loss, "loss"), meta, time, signals)

    def result(self, bulk: tuple[np.ndarray, np.ndarray] | None = None) -> ParsedLog:
        """The log read; ``bulk`` holds the steps and losses of the lines after those fed."""
        steps = np.array(self.steps, dtype=np.int64) if bulk is None else bulk[0]
        losses = np.array(self.losses, dtype=np.float64) if bulk is None else bulk[1]
        steps.flags.writeable = False
        losses.flags.writeable = False
        repeated, gaps = repeats_and_gaps(steps)
        times = None
        if self.timed:
            times = np.array(self.times, dtype=np.float64)
            times.flags.writeable = False
        signals = {}
        if self.signaled:
            table = np.array(self.signals, dtype=np.float64).reshape(-1, len(SIGNAL_NAMES))
            for index, name in enumerate(SIGNAL_NAMES):
                column = np.ascontiguousarray(table[:, index])
                column.flags.writeable = False
                signals[name] = column
        return ParsedLog(
            steps=steps,
            losses=losses,
            profile=self.meta.get("profile"),
            lr=self.meta.get("lr"),
            batch_size=self.meta.get("batch_size"),
            format=self.format,
            skipped=tuple(self.skipped),
            repeated_steps=repeated,
            gaps=gaps,
            times=times,
            planned_last_step=self.meta.get("final_step"),
            signals=MappingProxyType(signals),
            resumes=resumes_of(steps),
        )


def _parse(lines: Iterable[str], fmt: str | None, skip_malformed: bool) -> ParsedLog:
    parser = _Parser(fmt, skip_malformed)
    for number, raw in enumerate(lines, start=1):
        parser.feed(number, raw)
    return parser.result()


def _detect(number: int, line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith("{"):
        return "jsonl"
    if csv_layout(stripped, CSV_HEADER) is not None:
        return "csv"
    if stripped.startswith(("Step ", "#")):
        return "text"
    raise SynthLossError(
        f"line {number}: cannot tell the log format (text, jsonl or csv) from {_quote(line)}; "
        "pass format="
    )


def _step(text: str, what: str) -> int:
    if not _DIGITS.fullmatch(text) or len(text) > 19 or not 1 <= int(text) <= MAX_STEP:
        raise _MalformedLineError(f"{what} must be an integer >= 1, got {show(text)}")
    return int(text)


def _float(text: str, what: str) -> float:
    try:
        return parse_float(text, what)
    except SynthLossError as exc:
        raise _MalformedLineError(str(exc)) from None


def _both_nan(a: object, b: object) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
