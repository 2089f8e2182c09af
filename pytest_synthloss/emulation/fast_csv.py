"""The bulk fast path of :func:`~pytest_synthloss.emulation.logreader.read_log` for CSV.

``np.loadtxt`` parses the step (as an integer) and loss columns of the file, then the
buffer is checked against the strict grammar of our writer's lines (``step,loss`` then the
same suffix on every line) a cache-sized chunk at a time, in a few passes that each take a
tenth of the parse or less (the parse comes first: its allocations are the large ones).
What ``np.loadtxt`` would take but the careful per-line path refuses (``5.``, ``1.e5``, a
step ``+5``, ``05`` or ``1e3``, a token over 400 characters, spaces, a second separator,
``infinity``) is refused by the checks, and a token ``np.loadtxt`` cannot parse (an empty
one too) makes it raise: the careful path then reads the file and reports the line. The
values are exactly the careful path's (``np.loadtxt`` converts with the same correctly
rounded decimal-to-double conversion as ``float``).
"""

from __future__ import annotations

import warnings

import numpy as np

from pytest_synthloss.core.validation import MAX_NUMBER_CHARS, SPECIAL_FLOATS

__all__ = ["csv_bulk"]

_DIGITS = b"0123456789"
#: What a step or loss token of ours is made of.
_NUMBER = _DIGITS + b".eE+-nNaAiIfF"
#: A step line's two numbers, as ``np.loadtxt`` parses them (a step only as an integer).
_ROW = np.dtype([("step", np.int64), ("loss", np.float64)])
#: Bytes per pass of :func:`_lines`.
_CHUNK = 1 << 18


def _lines(data: bytes, codes: np.ndarray, start: int, suffix: bytes) -> tuple[int, bytes] | None:
    """The number of step lines (from offset ``start``) and ``data`` without the characters
    of numbers, or ``None`` if a ``.`` is followed by anything but a digit (``5.``, ``1.e5``;
    the buffer ends in a newline), or a step line does not end with ``suffix``, does not
    start with a digit from 1 to 9, or is longer than a number may be. A cache-sized chunk
    at a time: no temporary is as large as the file."""
    previous, count, kept = start - 1, 0, []  # the newline before the next step line
    marks = np.empty(min(_CHUNK, codes.size), bool)
    for first in range(0, codes.size, _CHUNK):
        chunk = codes[first : first + _CHUNK]
        dots = np.equal(chunk, ord("."), out=marks[: chunk.size])
        if dots.any():  # a byte below '0' wraps around above 9
            after = codes[first + 1 : first + chunk.size + 1] - np.uint8(ord("0"))
            if (dots[: after.size] & (after > 9)).any():
                return None
        kept.append(data[first : first + _CHUNK].translate(None, _NUMBER))
        found = np.flatnonzero(np.equal(chunk, ord("\n"), out=marks[: chunk.size])) + first
        found = found[found >= start]
        if not found.size:
            continue
        before = np.concatenate(([previous], found[:-1]))
        if int((found - before).max()) > MAX_NUMBER_CHARS:
            return None  # no longer line can hold a number over 400 characters
        heads = codes[before + 1]
        if not bool(np.all((heads >= ord("1")) & (heads <= ord("9")))):
            return None  # a step with a sign, a leading zero, or none
        if not _end_with(data, found, suffix):
            return None  # a line that does not end as the first one does
        previous, count = int(found[-1]), count + found.size
    return count, b"".join(kept)


def _end_with(data: bytes, ends: np.ndarray, suffix: bytes) -> bool:
    """Whether the bytes before each newline at ``ends`` are ``suffix``, compared eight at a
    time (the 8 bytes before a position, read as one big-endian integer)."""
    near = int(np.searchsorted(ends, len(suffix) + 8))  # too near the start for the words
    for end in ends[:near].tolist():
        if end < len(suffix) or data[end - len(suffix) : end] != suffix:
            return False
    ends = ends[near:]
    if not ends.size:
        return True
    words = np.ndarray((len(data) - 7,), dtype=">u8", buffer=data, strides=(1,))
    for done in range(0, len(suffix), 8):
        width = min(8, len(suffix) - done)
        chunk = suffix[len(suffix) - done - width : len(suffix) - done]
        got = words[ends - done - 8]
        if width < 8:
            got &= np.uint64((1 << (8 * width)) - 1)
        if not bool((got == np.uint64(int.from_bytes(chunk, "big"))).all()):
            return False
    return True


def csv_bulk(
    path: str, data: bytes, start: int, suffix: bytes
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, losses)`` of the step lines of ``data`` (the file at ``path``: whole
    newline-ended ASCII lines, the step lines from offset ``start``), or ``None`` if a line
    is not ``step,loss`` + ``suffix`` in the careful grammar."""
    head = data[:start]
    skip = head.count(b"\n")
    count = data.count(b"\n") - skip
    if count < 1:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an integer read through a float warns
        try:
            table = np.loadtxt(
                path,
                delimiter=",",
                skiprows=skip,
                max_rows=count,
                usecols=(0, 1),
                comments=None,
                dtype=_ROW,
                ndmin=1,
            )
        except (ValueError, OSError, UnicodeError, Warning):
            return None  # 1e3 or 5.0 as a step, 1e or e5 as a loss
    # the file's shape is checked after the parse (whose allocations come first)
    codes = np.frombuffer(data, dtype=np.uint8)
    lines = _lines(data, codes, start, suffix)
    if lines is None or lines[0] != count:
        return None
    # without the characters of numbers, each line is its separator then what the suffix
    # has besides (its commas, a space, a quote, a '#', a letter): nothing else
    rest = b"," + suffix.translate(None, _NUMBER) + b"\n"
    if lines[1] != head.translate(None, _NUMBER) + rest * count:
        return None
    if table.shape != (count,):
        return None  # the file changed under us
    steps, losses = table["step"], np.ascontiguousarray(table["loss"])
    odd = np.flatnonzero(~np.isfinite(losses)).tolist()
    if odd:  # where each step line starts and ends
        ends = np.flatnonzero(codes == ord("\n"))
        ends = ends[ends >= start]
        starts = np.concatenate(([start], ends[:-1] + 1))
    for index in odd:
        line = data[int(starts[index]) : int(ends[index])].decode("ascii")
        value = SPECIAL_FLOATS.get(line.split(",", 2)[1].lower())
        if value is None:
            return None  # 1e400, -nan, infinity: the careful path decides
        losses[index] = value
    return np.ascontiguousarray(steps), losses
