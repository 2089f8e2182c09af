"""A log's text stream over a file descriptor that only ever delivers complete lines.

:class:`LineSink` is what ``synthloss train``/``curve`` write their log through (stdout,
a pipe, a file, a device). Text is written in pieces that end at a line boundary and hold
at most :data:`PIPE_BUF` bytes (one longer line is a piece of its own), so a pipe
receives each piece whole or not at all. Before each piece the sink waits, in short
polls, until the descriptor can take it, and checks for a requested stop (SIGINT,
SIGTERM): a run whose reader is slow or gone still stops at once, after its last
complete line. :attr:`LineSink.lines` counts the lines delivered.
"""

from __future__ import annotations

import select
from collections.abc import Callable

from pytest_synthloss.core.files import write_all

__all__ = ["PIPE_BUF", "LineSink", "StopWriting"]

#: Largest write a pipe takes whole (POSIX guarantees at least 512; Linux has 4096).
PIPE_BUF = getattr(select, "PIPE_BUF", 4096)
_POLL_MS = 50


class StopWriting(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A stop was requested while a write waited: ``lines`` of it were delivered."""

    def __init__(self, lines: int) -> None:
        super().__init__(lines)
        self.lines = lines


class LineSink:
    """A minimal text stream (``write``/``flush``) writing whole lines to ``fd``.

    ``stopped`` is polled before every piece; when it returns true the current
    :meth:`write` raises :class:`StopWriting` with the lines it delivered. Failed
    writes raise ``OSError`` (``BrokenPipeError`` when the reader is gone).
    ``after_write`` is called after every complete :meth:`write` (to publish a live log).
    """

    def __init__(
        self,
        fd: int,
        stopped: Callable[[], bool] = lambda: False,
        *,
        after_write: Callable[[], None] | None = None,
    ) -> None:
        self.fd = fd
        self.stopped = stopped
        self.after_write = after_write
        self.lines = 0
        self._poll: select.poll | None = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(fd, select.POLLOUT)

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "surrogateescape")
        start, delivered = 0, 0
        while start < len(data):
            end = data.rfind(b"\n", start, start + PIPE_BUF) + 1
            if end <= start:  # one line longer than PIPE_BUF: it goes alone
                end = data.find(b"\n", start) + 1 or len(data)
            self._wait(delivered)
            write_all(self.fd, data[start:end])
            count = data.count(b"\n", start, end)
            self.lines += count
            delivered += count
            start = end
        if self.after_write is not None:
            self.after_write()
        return len(text)

    def _wait(self, delivered: int) -> None:
        """Wait until ``fd`` is writable, or raise :class:`StopWriting` on a stop."""
        while True:
            if self.stopped():
                raise StopWriting(delivered)
            if self._poll is None:
                return
            events = self._poll.poll(_POLL_MS)
            if events:
                return

    def flush(self) -> None:
        """Nothing is buffered."""
