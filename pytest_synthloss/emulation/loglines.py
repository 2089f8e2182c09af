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
from pytest_synthloss.core.validation import show

__all__ = ["MAX_LINE_CHARS", "DuplicateKeyError", "json_float", "unique_keys", "utf8_lines"]

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
