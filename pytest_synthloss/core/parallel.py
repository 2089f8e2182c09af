"""Large arrays worked through on several threads: contiguous spans of whole blocks, one a thread.

The engines and rules that go through a long array block by block (``synthetic_losses``,
the ``zscore`` rule, the ``olmo-*`` presets) hand their blocks out here. Each block is
computed by the same numpy calls on the same inputs whichever thread runs it, and every
thread writes only its own span of the output, so the results are the same bit for bit
with one thread or many; numpy releases the GIL inside those calls, so the threads run at
once.

How many threads: :data:`THREADS_ENV` (``SYNTHLOSS_THREADS``) if set, a whole number >= 1;
otherwise the CPUs this process may run on, divided by the pytest-xdist workers sharing them
(``PYTEST_XDIST_WORKER_COUNT``), at least 1. A span is never shorter than the caller's
``min_span`` steps: below that, starting a thread costs more than it saves.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from pytest_synthloss.core.validation import parse_int

__all__ = ["MAX_THREADS", "THREADS_ENV", "in_spans", "spans", "thread_count"]

#: The environment variable that sets the number of threads (``1``: all on the caller's).
THREADS_ENV = "SYNTHLOSS_THREADS"
#: The most threads :data:`THREADS_ENV` may ask for.
MAX_THREADS = 1024

_T = TypeVar("_T")


def thread_count() -> int:
    """The threads a long array is split over (see the module's docstring)."""
    raw = os.environ.get(THREADS_ENV)
    if raw is not None:
        return parse_int(raw, THREADS_ENV, minimum=1, maximum=MAX_THREADS)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
    share = int(workers) if workers.isdigit() and int(workers) > 0 else 1
    return max(1, cpus // share)


def spans(size: int, block: int, min_span: int) -> list[tuple[int, int]]:
    """``[first, stop)`` spans of whole blocks of ``block`` steps covering ``range(size)``:
    one a thread, none shorter than ``min_span`` steps (but a lone span); in order."""
    blocks = -(-size // block)
    count = min(blocks, size // max(1, min_span))
    count = max(1, min(count, thread_count())) if count > 1 else 1
    edges = [min(size, blocks * k // count * block) for k in range(count + 1)]
    return list(itertools.pairwise(edges))


def in_spans(work: Callable[[int, int], _T], size: int, block: int, min_span: int) -> list[_T]:
    """``work(first, stop)`` for each of :func:`spans`, the first on this thread and the
    others on threads of their own (each with a copy of this thread's context, so numpy's
    ``errstate`` holds there too; a span whose thread cannot start runs on this one); their
    results in order. The exception of the first span that raised one is raised, once
    every span has ended."""
    parts = spans(size, block, min_span)
    if len(parts) == 1:
        return [work(*parts[0])]
    results: list[_T | None] = [None] * len(parts)
    errors: list[BaseException | None] = [None] * len(parts)

    def run(index: int) -> None:
        try:
            results[index] = work(*parts[index])
        except BaseException as error:  # re-raised on the caller's thread
            errors[index] = error

    threads = [
        threading.Thread(
            target=contextvars.copy_context().run, args=(run, index), name=f"synthloss-{index}"
        )
        for index in range(1, len(parts))
    ]
    started, here = [], [0]
    try:
        for index, thread in enumerate(threads, start=1):
            try:
                thread.start()
            except RuntimeError:  # no thread to be had: this one runs the span
                here.append(index)
            else:
                started.append(thread)
        for index in here:
            run(index)
    finally:
        for thread in started:
            thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results  # type: ignore[return-value]
