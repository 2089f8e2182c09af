"""Reading a log's lines safely: bounded line length, UTF-8 checked, strict JSON objects.

Helpers of :func:`~pytest_synthloss.emulation.logreader.read_log`: a file is read line by
line with at most :data:`MAX_LINE_CHARS` characters per read (``/dev/zero`` or a binary
file cannot grow one line without end), and a JSONL record may not repeat a key or hold a
number a float cannot (``1e400`` is not silently ``inf``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, TextIO

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.signals import SIGNAL_NAMES
from pytest_synthloss.core.validation import parse_float, show

__all__ = [
    "JSON_NONFINITE_VALUES",
    "MAX_LINE_CHARS",
    "DuplicateKeyError",
    "MalformedLineError",
    "csv_layout",
    "json_float",
    "json_signals",
    "unique_keys",
    "utf8_lines",
]

#: The strings JSONL writes for non-finite values, read back (see the writer).
JSON_NONFINITE_VALUES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

#: Longest line read (characters): a longer one is not a log line (a binary file).
MAX_LINE_CHARS = 1 << 20


def utf8_lines(handle: TextIO) -> Iterator[str]:
    """The lines of a file read with ``surrogateescape``; a line that is not UTF-8 raises."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if not line.isascii():
            try:
                line.encode("utf-8")
            except UnicodeEncodeError as exc:
                byte = ord(exc.object[exc.start]) - 0xDC00  # surrogateescape's mapping
                raise SynthLossError(
                    f"line {number}: not UTF-8 text (byte 0x{byte:02x} at character "
                    f"{exc.start + 1}); logs are read as UTF-8"
                ) from None
        yield line


class DuplicateKeyError(Exception):
    pass


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise DuplicateKeyError(key)
        record[key] = value
    return record


def json_float(text: str) -> float:
    """A JSON number with a fraction or exponent; one that overflows a float is malformed."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {show(text)} is too large for a float")
    return value


class MalformedLineError(Exception):
    """A line that is not what its format says (the message names what is wrong)."""


def json_signals(record: dict[str, Any]) -> tuple[float, ...] | None:
    """The linked signals of a JSONL record, in :data:`SIGNAL_NAMES` order; ``None`` if none.

    A record holds all of them or none; each is a number or ``"NaN"``/``"Infinity"``/
    ``"-Infinity"``.
    """
    present = [name for name in SIGNAL_NAMES if name in record]
    if not present:
        return None
    if len(present) < len(SIGNAL_NAMES):
        missing = next(name for name in SIGNAL_NAMES if name not in record)
        raise MalformedLineError(f"missing key {missing!r} (the line has {present[0]!r})")
    values = []
    for name in SIGNAL_NAMES:
        value = record[name]
        if isinstance(value, str) and value in JSON_NONFINITE_VALUES:
            value = JSON_NONFINITE_VALUES[value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MalformedLineError(
                f'{name} must be a number or "NaN", "Infinity" or "-Infinity", got {show(value)}'
            )
        try:
            values.append(float(value))
        except OverflowError:
            raise MalformedLineError(f"{name} {show(value)} is too large for a float") from None
    return tuple(values)


def csv_signals(fields: list[str]) -> tuple[float, ...]:
    """The linked signals of a CSV row's last four fields."""
    values = []
    for name, text in zip(SIGNAL_NAMES, fields, strict=True):
        try:
            values.append(parse_float(text, name))
        except SynthLossError as exc:
            raise MalformedLineError(str(exc)) from None
    return tuple(values)


def csv_layout(header: str, base: str) -> tuple[bool, bool] | None:
    """``(timed, signals)`` for a CSV header: ``base``, then optionally ``time,final_step``,
    then optionally the signal columns; ``None`` for any other line."""
    rest = header.rstrip()
    if not rest.startswith(base):
        return None
    rest = rest[len(base) :]
    timed = rest.startswith(",time,final_step")
    if timed:
        rest = rest[len(",time,final_step") :]
    signals = rest == "," + ",".join(SIGNAL_NAMES)
    if rest and not signals:
        return None
    return timed, signals
