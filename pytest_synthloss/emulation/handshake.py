"""The handshake between :class:`~pytest_synthloss.emulation.runner.TrainingRun` and its child.

The parent passes two pipes: the child writes one byte on the *ready* pipe once SIGINT and
SIGTERM are handled (so a signal sent right after the start still ends the run cleanly),
and keeps reading the *lifeline* pipe, whose write end only the parent holds: when the
parent dies, the child sees end-of-file and stops as if sent SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Mapping

__all__ = ["LIFELINE_FD_ENV", "READY_FD_ENV", "ParentPipes", "answer_parent"]

#: Environment variables set by a parent TrainingRun for its child.
READY_FD_ENV = "SYNTHLOSS_READY_FD"
LIFELINE_FD_ENV = "SYNTHLOSS_LIFELINE_FD"


def answer_parent(environ: Mapping[str, str]) -> None:
    """Talk to a parent :class:`~pytest_synthloss.emulation.runner.TrainingRun`, if there is one.

    Tell it that signals are handled from now on (one byte on the ready pipe), and watch
    the lifeline pipe: when the parent dies (a pytest killed by SIGTERM), the read end
    sees end-of-file and the run stops itself as if sent SIGTERM.
    """
    ready = environ.get(READY_FD_ENV, "")
    if ready.isdigit():
        with contextlib.suppress(OSError):
            os.write(int(ready), b"1")
            os.close(int(ready))
    lifeline = environ.get(LIFELINE_FD_ENV, "")
    if lifeline.isdigit():
        import threading

        def watch(fd: int) -> None:
            with contextlib.suppress(OSError):
                while os.read(fd, 1):
                    pass
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, args=(int(lifeline),), daemon=True).start()


class ParentPipes:
    """The parent's side of the handshake: two pipes, the child's ends passed to it.

    Use :meth:`env` and :attr:`pass_fds` when starting the child, then :meth:`started`;
    :meth:`wait_ready` before signalling it; :meth:`close` when the run is over.
    """

    def __init__(self) -> None:
        self._ready, self._child_ready = os.pipe()
        self._child_life, self._life = os.pipe()

    @property
    def pass_fds(self) -> tuple[int, int]:
        """The descriptors the child inherits."""
        return (self._child_ready, self._child_life)

    def env(self) -> dict[str, str]:
        """The variables that tell the child its descriptors."""
        return {READY_FD_ENV: str(self._child_ready), LIFELINE_FD_ENV: str(self._child_life)}

    def started(self) -> None:
        """Close the child's ends here (the child holds them now)."""
        for fd in (self._child_ready, self._child_life):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._child_ready = self._child_life = -1

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the child handles signals (or has exited), at most ``timeout`` s."""
        if self._ready < 0:
            return
        readable, _, _ = select.select([self._ready], [], [], timeout)
        if readable:
            os.close(self._ready)
            self._ready = -1

    def close(self) -> None:
        """Close every descriptor left (the lifeline too: a live child then stops)."""
        self.started()
        for fd in (self._ready, self._life):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._ready = self._life = -1
