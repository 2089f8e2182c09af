"""The handshake between :class:`~pytest_synthloss.emulation.runner.TrainingRun` and its child.

The parent passes two pipes: the child writes one byte on the *ready* pipe once SIGINT and
SIGTERM are handled (so a signal sent right after the start still ends the run cleanly),
and keeps reading the *lifeline* pipe, whose write end only the parent holds: when the
parent dies, the child sees end-of-file and stops as if sent SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping

__all__ = ["LIFELINE_FD_ENV", "READY_FD_ENV", "answer_parent"]

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
