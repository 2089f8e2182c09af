"""The bulk fast path of :func:`~pytest_synthloss.emulation.logreader.read_log`.

A log file of the shapes our writers produce (one line per step, ``\\n`` line ends, the
same profile/lr/batch_size on every line, no times or signals) is parsed whole: the lines
are checked against a strict grammar with a few passes over the buffer, and the numbers
are converted in one call. The values are exactly those of the careful per-line path (the
same correctly rounded decimal-to-double conversion). Anything outside that grammar makes
:func:`split_body` return ``None``, and the careful path reads the file, so every error,
skipped line, resume and column report stays its own.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Protocol

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import MAX_NUMBER_CHARS, SPECIAL_FLOATS
from pytest_synthloss.emulation.fast_csv import csv_bulk
from pytest_synthloss.emulation.loglines import JSON_NONFINITE_VALUES

if TYPE_CHECKING:
    from pytest_synthloss.emulation.parsed_log import ParsedLog

__all__ = ["FAST_PREFIXES", "MAX_FAST_BYTES", "read_whole", "split_body"]

#: Largest file read whole by the fast path (bytes); a larger one is read line by line.
MAX_FAST_BYTES = 1 << 30
#: What a step line starts with, and what separates its step from its loss, per format.
FAST_PREFIXES = {
    "text": ("Step ", ": loss="),
    "csv": ("", ","),
    "jsonl": ('{"step": ', ', "loss": '),
}
_DIGITS = b"0123456789"
_NUMBER_BYTES = {
    "text": _DIGITS + b".eE+-nNaAiIfF\x00\n",
    "csv": _DIGITS + b".eE+-nNaAiIfF\x00\n",
    "jsonl": _DIGITS + b".eE+-NaIfinty\x00\n",
}
#: Longest head line (header, first step line) the fast path takes.
_MAX_HEAD_CHARS = 10_000
#: What JSON refuses that float() takes: ``+1``; and ``-0``, the integer 0 in JSON.
_JSON_BAD = (b"\x00+", b"\x00-0\n")
#: JSON refuses leading zeros (``01``, ``-01``).
_JSON_ZERO = re.compile(rb"\x00-?0[0-9]")
#: Steps of more digits are read by the careful path (which names one above MAX_STEP).
_MAX_STEP_DIGITS = 18
_NOT_SEPARATORS = bytes(c for c in range(256) if c not in (0, 10))


def split_body(fmt: str, body: str, suffix: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, losses)`` of ``body``'s step lines, or ``None`` if any is not strict.

    ``body`` is ASCII, holds whole lines ending in ``\\n``; each must be the format's
    prefix, a step (digits, no leading zero), the separator, a loss and ``suffix``.
    """
    prefix, separator = FAST_PREFIXES[fmt]
    count = body.count("\n")
    if suffix:
        if body.count(suffix + "\n") != count:
            return None
        body = body.replace(suffix + "\n", "\n")
    if prefix:
        body = "\n" + body
        if body.count("\n" + prefix) != count:
            return None
        body = body.replace("\n" + prefix, "\n")[1:]
    if "\x00" in body:
        return None
    if fmt == "jsonl":  # the writer's quoted spellings, read as the bare ones JSON allows
        for name in ("-Infinity", "Infinity", "NaN"):
            body = body.replace(f'"{name}"', name)
    data = body.replace(separator, "\x00").encode("ascii")
    if data.translate(None, _NUMBER_BYTES[fmt]):
        return None  # a quote, a space, an underscore, another letter: not ours
    if data.translate(None, _NOT_SEPARATORS) != b"\x00\n" * count:
        return None  # a line without the separator, or with two
    if fmt == "jsonl" and (any(bad in data for bad in _JSON_BAD) or _JSON_ZERO.search(data)):
        return None
    codes = np.frombuffer(data, dtype=np.uint8)
    dots = np.flatnonzero(codes == ord("."))
    if not _digits(codes[dots + 1]) or (fmt == "jsonl" and not _digits(codes[dots - 1])):
        return None  # 5. or 1.e5 (and JSON's .5): refused by the careful grammar
    tokens = data.replace(b"\x00", b"\n").split(b"\n")
    step_tokens, loss_tokens = tokens[0:-1:2], tokens[1::2]
    step_text = b"\n".join(step_tokens)
    if step_text.translate(None, _DIGITS + b"\n") or b"\n0" in step_text:
        return None  # a sign, a point, an exponent or a leading zero in a step
    if step_text.startswith(b"0") or b"" in step_tokens:
        return None
    if max(map(len, step_tokens), default=0) > _MAX_STEP_DIGITS:
        return None  # fromstring would not say that a step overflows int64
    if max(map(len, loss_tokens), default=0) > MAX_NUMBER_CHARS or b"" in loss_tokens:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fromstring warns (or raises) at unmatched text
        try:
            steps = np.fromstring(step_text.decode(), dtype=np.int64, sep="\n")
            losses = np.fromstring(b"\n".join(loss_tokens).decode(), dtype=np.float64, sep="\n")
        except (ValueError, DeprecationWarning, OverflowError):
            return None
    if steps.size != count or losses.size != count or (count and steps.min() < 1):
        return None
    odd = np.flatnonzero(~np.isfinite(losses))
    allowed = JSON_NONFINITE_VALUES if fmt == "jsonl" else SPECIAL_FLOATS
    for index in odd.tolist():
        token = loss_tokens[index].decode()
        value = allowed.get(token.lower() if fmt != "jsonl" else token)
        if value is None:
            return None  # 1e400, -nan, infinity: the careful path decides
        losses[index] = value  # the very NaN the careful path stores
    return steps, losses


def _digits(codes: np.ndarray) -> bool:
    return bool(np.all((codes >= ord("0")) & (codes <= ord("9"))))


class _Parser(Protocol):
    format: str | None
    steps: list[int]
    losses: list[float]
    skipped: list[tuple[int, str]]
    timed: bool | None
    signaled: bool | None

    def feed(self, number: int, raw: str) -> None: ...

    def result(self, bulk: tuple[np.ndarray, np.ndarray] | None = None) -> ParsedLog: ...


def read_whole(path: str, parser: _Parser) -> ParsedLog | None:
    """The log at ``path`` read in bulk by ``parser`` (fresh), or ``None`` to read it line
    by line: the file is not all strict step lines after its header."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_FAST_BYTES + 1)
    if len(data) > MAX_FAST_BYTES or not data.isascii() or not data.endswith(b"\n"):
        return None
    if b"\r" in data:
        return None  # CRLF: the careful path (a blank line fails split_body's grammar)
    text = data[: 3 * (_MAX_HEAD_CHARS + 1)].decode("ascii")  # the head lines
    start = 0
    for number in (1, 2, 3):  # the header lines and the first step line, read carefully
        end = text.find("\n", start) + 1
        if not end or end - start > _MAX_HEAD_CHARS:
            return None
        try:
            parser.feed(number, text[start:end])
        except SynthLossError:
            return None
        if parser.steps:
            break
        start = end
    if len(parser.steps) != 1 or parser.skipped or parser.timed or parser.signaled:
        return None
    fmt = parser.format
    line = text[start : end - 1]
    if fmt == "csv":
        first = line.find(",")
        cut = line.find(",", first + 1) if first >= 0 else -1
    elif fmt == "jsonl":
        after = line.find(FAST_PREFIXES["jsonl"][1])
        cut = (
            -1
            if after < 0
            else min(
                (i for i in (line.find(",", after + 1), line.find("}", after + 1)) if i >= 0),
                default=-1,
            )
        )
    else:
        cut = len(line)
    if fmt is None or cut < 0:
        return None
    if fmt == "csv":
        bulk = csv_bulk(path, data, start, line[cut:].encode("ascii"))
    else:
        bulk = split_body(fmt, data[start:].decode("ascii"), line[cut:])
    if bulk is None:
        return None
    parser.steps.clear()
    parser.losses.clear()
    return parser.result(bulk)
