"""``follow_log``: tail a growing training log, yielding complete records only.

A writer that appends whole lines can still be read half-way: a reader's ``read`` may end
anywhere, at a 4 KiB page boundary say. :func:`follow_log` buffers what follows the last
newline until the line is complete, so it never hands out half a line. It survives a
truncated log (``> run.log``: it starts again from the top) and a rotated one (the path
now names a new file: it reads the old one to its end first), and reports, as they
happen:

* a step logged again (``repeated=True``: a restart replays steps from a checkpoint);
* steps never logged (``skipped=(first, last)`` on the next step that is);
* a quiet log (a ``"stall"`` record after ``stall_after`` seconds without a new line).

If you write your own tailer, do the same: keep the bytes after the last newline and
prepend them to the next read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_float
from pytest_synthloss.emulation.logreader import _Parser
from pytest_synthloss.emulation.logwriter import check_format

__all__ = ["MAX_LINE_BYTES", "FollowedRecord", "follow_log"]

#: The longest line accepted (a log line is far shorter; this bounds the buffer).
MAX_LINE_BYTES = 1 << 20
#: Bytes read per ``read`` call.
_READ_BYTES = 1 << 16


@dataclass(frozen=True)
class FollowedRecord:
    """One thing :func:`follow_log` saw.

    ``kind`` is ``"step"`` (a complete log line: ``step``, ``loss``, its ``line`` number in
    the current file, ``repeated`` and ``skipped`` as in the module docs), ``"stall"`` (no
    new line for ``stall_after`` seconds; ``step`` is the last step seen), ``"truncated"``
    or ``"rotated"`` (the log started again; line numbers restart at 1).
    """

    kind: str
    step: int | None = None
    loss: float | None = None
    line: int | None = None
    repeated: bool = False
    skipped: tuple[int, int] | None = None


def follow_log(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    timeout: float = 30.0,
    stall_after: float | None = None,
    stop: Callable[[], bool] | None = None,
    poll_interval: float = 0.02,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[FollowedRecord]:
    """Yield the records of the log at ``path`` as it grows (see the module docs).

    It waits for the file to appear. It ends when ``stop()`` returns true (the writer has
    exited, say) and everything written before has been read; a last line without its
    newline is never yielded. It raises :class:`~pytest_synthloss.SynthLossError` after
    ``timeout`` seconds without a new complete line, naming the last step, and for a
    malformed line (its number and content), a line over :data:`MAX_LINE_BYTES`, or text
    that is not UTF-8. ``format`` is detected from the first line if not given.
    """
    fmt = None if format is None else check_format(format)
    limit = _seconds(timeout, "timeout")
    quiet = None if stall_after is None else _seconds(stall_after, "stall_after")
    pause = _seconds(poll_interval, "poll_interval")
    name = os.fspath(path)
    tail = _Tail(name, fmt)
    last_news = clock()
    stalled = False
    try:
        while True:
            finished = stop is not None and stop()  # read once more after the writer ended
            records = tail.poll()
            if records:
                last_news, stalled = clock(), False
                yield from records
                continue
            if finished:
                return
            idle = clock() - last_news
            if quiet is not None and not stalled and idle >= quiet:
                stalled = True
                yield FollowedRecord("stall", step=tail.last_step)
            if idle >= limit:
                seen = "no step yet" if tail.last_step is None else f"last step {tail.last_step}"
                what = "did not appear" if tail.handle is None else "got no new line"
                raise SynthLossError(f"log {name!r} {what} within {limit:g} s ({seen})")
            sleep(pause)
    finally:
        tail.close()


class _Tail:
    """The open log, its unread partial line, and the parser of its complete lines."""

    def __init__(self, path: str, fmt: str | None) -> None:
        self.path = path
        self.format = fmt
        self.handle: BinaryIO | None = None
        self.inode: tuple[int, int] | None = None
        self.offset = 0
        self.partial = b""
        self.number = 0
        self.parser = _Parser(fmt, skip_malformed=False)
        self.highest: int | None = None
        self.last_step: int | None = None

    def poll(self) -> list[FollowedRecord]:
        records: list[FollowedRecord] = []
        if self.handle is None:
            if not self._open():
                return records
        else:
            records += self._check_replaced()
        records += self._read()
        return records

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise SynthLossError(f"cannot read log {self.path!r}: {exc.strerror}") from None
        info = os.fstat(handle.fileno())
        self.handle, self.inode, self.offset = handle, (info.st_dev, info.st_ino), 0
        return True

    def _check_replaced(self) -> list[FollowedRecord]:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return []  # moved away, the new one not there yet: keep reading the old one
        if (info.st_dev, info.st_ino) != self.inode:
            records = self._read()  # the rest of the old file first
            self._restart()
            return [*records, FollowedRecord("rotated")] if self._open() else records
        if info.st_size < self.offset:
            assert self.handle is not None
            self.handle.seek(0)
            self.offset = 0
            self._restart()
            return [FollowedRecord("truncated")]
        return []

    def _restart(self) -> None:
        if self.handle is not None and self._is_replaced():
            self.handle.close()
            self.handle = None
        self.partial = b""
        self.number = 0
        self.parser = _Parser(self.format, skip_malformed=False)

    def _is_replaced(self) -> bool:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (info.st_dev, info.st_ino) != self.inode

    def _read(self) -> list[FollowedRecord]:
        if self.handle is None:
            return []
        records: list[FollowedRecord] = []
        while chunk := self.handle.read(_READ_BYTES):
            self.offset += len(chunk)
            lines = (self.partial + chunk).split(b"\n")
            self.partial = lines.pop()
            if len(self.partial) > MAX_LINE_BYTES:
                raise SynthLossError(
                    f"line {self.number + len(lines) + 1} of {self.path!r} is longer than "
                    f"{MAX_LINE_BYTES} bytes; a log line is one step"
                )
            for raw in lines:
                records += self._line(raw)
        return records

    def _line(self, raw: bytes) -> list[FollowedRecord]:
        self.number += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SynthLossError(
                f"line {self.number} of {self.path!r}: not UTF-8 text (byte "
                f"0x{raw[exc.start]:02x} at byte {exc.start + 1}); logs are read as UTF-8"
            ) from None
        self.parser.feed(self.number, text)
        self.format = self.parser.format
        records = []
        for step, loss in zip(self.parser.steps, self.parser.losses, strict=True):
            repeated = self.highest is not None and step <= self.highest
            skipped = None
            if self.highest is not None and step > self.highest + 1:
                skipped = (self.highest + 1, step - 1)
            self.highest = step if self.highest is None else max(self.highest, step)
            self.last_step = step
            records.append(FollowedRecord("step", step, loss, self.number, repeated, skipped))
        self.parser.steps.clear()  # handed out: nothing accumulates over a long run
        self.parser.losses.clear()
        return records

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _seconds(value: object, what: str) -> float:
    return check_float(what, value, positive=True, allowed="of seconds > 0")
