"""The ``synthloss_run`` fixture: start the emulator as a real child process (pytest only).

Imports nothing heavy at import time: pytest loads this module with the plugin in every
run, so the runner is imported when the fixture is first used.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_synthloss.core.factory import CurveFactory
    from pytest_synthloss.emulation.runner import TrainingRun

__all__ = ["synthloss_run"]


@pytest.fixture
def synthloss_run(
    tmp_path: Path, synthloss_factory: CurveFactory
) -> Iterator[Callable[..., TrainingRun]]:
    """Start ``synthloss train`` as a child process logging to a file in ``tmp_path``.

    Call it with the arguments of :class:`~pytest_synthloss.runner.TrainingRun` (``steps``,
    ``profile``, ``sleep_seconds``, ``format``, ``lr``, ``batch_size``, ``start_step``,
    the faults ``stall``, ``restart``, ``drop``, ``crash`` and ``metrics_port``); it
    returns the started run, whose ``faults`` and ``logged_steps`` are the ground truth.
    ``profile`` and ``steps`` default to the test's selected ones (``--synthloss-profile``,
    the marker...), and any profile works: the child receives the profile's definition.
    Point your log-tailing code at ``run.path``, then
    ``run.wait()``. Every run is terminated at teardown, even if the test failed::

        def test_my_tailer_sees_the_spike(synthloss_run):
            run = synthloss_run(steps=10, profile="spiky", sleep_seconds=0.02)
            alerts = my_tailer(run.path, until_exit=run.process)
            assert run.wait() == 0
            assert alerts == [4]
    """
    from pytest_synthloss.emulation.runner import LOG_SUFFIXES, TrainingRun  # on first use only

    runs: list[TrainingRun] = []
    numbers = itertools.count(1)

    def start(**kwargs: Any) -> TrainingRun:
        kwargs.setdefault("profile", synthloss_factory.profile)
        kwargs.setdefault("steps", synthloss_factory.steps)
        fmt = kwargs.get("format", "text")
        suffix = LOG_SUFFIXES.get(fmt, ".log") if isinstance(fmt, str) else ".log"
        path = tmp_path / f"synthloss-run{next(numbers)}{suffix}"
        run = TrainingRun(path, **kwargs)
        runs.append(run)
        return run.start()

    yield start
    for run in runs:
        run.close()
