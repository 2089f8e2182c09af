"""``TrainingRun``: the emulator as a real child process writing its log to a file.

Point log-tailing monitoring code at :attr:`TrainingRun.path` while the run is live, then
:meth:`~TrainingRun.wait` for it. Declared faults (stall, restart, dropped steps, crash)
come with their ground truth in :attr:`TrainingRun.faults` and
:attr:`TrainingRun.logged_steps`. Used as a context manager (or through the
``synthloss_run`` fixture) the process is always ended, even when the test fails.

This module imports no numpy (it runs inside pytest's plugin loading); :meth:`read`
imports the log parser on first use.
"""

from __future__ import annotations

import base64
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.core.files import check_output_path
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.recorded_runs import RecordedProfile
from pytest_synthloss.core.registry import BUILTIN_NAMES, get_profile, register_profile
from pytest_synthloss.core.validation import (
    MAX_SLEEP_SECONDS,
    check_float,
    check_lr,
    check_number,
    check_port,
    check_step,
)
from pytest_synthloss.emulation.handshake import ParentPipes

if TYPE_CHECKING:
    from pytest_synthloss.emulation.parsed_log import ParsedLog

__all__ = ["LOG_SUFFIXES", "PROFILE_ENV", "TrainingRun", "register_child_profile"]

#: The environment variable that hands the run's profile definition to the child process.
PROFILE_ENV = "SYNTHLOSS_RUN_PROFILE"

#: The usual file name suffix of each log format.
LOG_SUFFIXES = {"text": ".log", "jsonl": ".jsonl", "csv": ".csv"}

_POLL_SECONDS = 0.01
_METRICS_LINE = re.compile(r"serving metrics on (http://\S+)")


class TrainingRun:
    """A ``synthloss train`` child process logging ``steps`` steps to the file ``path``.

    The arguments are those of ``synthloss train``. The process starts with
    :meth:`start` (or on entering the ``with`` block); the log file appears once it has
    validated its arguments, and grows by one complete line per step.

    Faults: ``stall=(step, seconds)``, ``restart=(step, back)``, ``drop=(steps...)``,
    ``crash=step`` or ``(step, exit_code)`` (see :class:`~pytest_synthloss.faults.Faults`);
    each replaces the profile's fault of its kind. Every argument is checked here,
    before the child starts (``SynthLossError``, worded as the CLI's errors where they
    can be). ``metrics_port`` serves the live loss (see :meth:`metrics_url`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        steps: int,
        profile: str | Profile = "stable",
        sleep_seconds: float = 0.0,
        format: str = "text",
        lr: float | None = None,
        batch_size: int | None = None,
        start_step: int = 1,
        stall: tuple[int, float] | None = None,
        restart: tuple[int, int] | None = None,
        drop: Iterable[int] = (),
        crash: int | tuple[int, int] | None = None,
        metrics_port: int | None = None,
        python: str = sys.executable,
    ) -> None:
        definition = _check_arguments(
            steps, profile, sleep_seconds, format, lr, batch_size, metrics_port
        )
        given = Faults(stall=stall, restart=restart, drop=drop, crash=crash)
        given.check_run(steps, start_step)  # also checks steps and start_step
        if isinstance(definition, RecordedProfile):  # the child refuses a gap: so do we
            definition.check_replayable(steps, start_step)
        self.path = Path(check_output_path(path))  # a missing directory: an error now
        self.format = format
        self.steps = steps
        #: The profile's name; :attr:`profile_definition` is the profile itself, which the
        #: child process receives whole (any profile works, registered or not).
        self.profile = definition.name
        self.profile_definition = definition
        self.start_step = start_step
        self.metrics_port = metrics_port
        self._given_faults = given if given else None
        self.args = [
            "train",
            f"--steps={steps}",
            f"--profile={definition.name}",
            f"--sleep-seconds={sleep_seconds}",
            f"--format={format}",
            f"--start-step={start_step}",
            f"--output={self.path}",
            "--no-progress",
        ]
        if lr is not None:
            self.args.append(f"--lr={lr}")
        if batch_size is not None:
            self.args.append(f"--batch-size={batch_size}")
        if self._given_faults is not None:
            self.args.extend(self._given_faults.to_args())
        if metrics_port is not None:
            self.args.append(f"--metrics-port={metrics_port}")
        self.command = [python, "-m", "pytest_synthloss", *self.args]
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._pipes: ParentPipes | None = None

    def __repr__(self) -> str:
        state = "not started" if self._process is None else f"pid {self._process.pid}"
        if self.returncode is not None:
            state += f", exited {self.returncode}"
        return f"<TrainingRun {' '.join(self.args[:4])} -> {self.path} ({state})>"

    # -- process ------------------------------------------------------------------------

    def start(self) -> TrainingRun:
        """Start the child process (once) and return ``self``.

        The child tells this object when it handles SIGINT/SIGTERM (so a signal sent right
        after the start still gives 130/143), and holds a lifeline pipe to this process:
        if this process dies (a pytest run killed by SIGTERM), the child stops too.
        """
        if self._process is None:
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
            pipes = self._pipes = ParentPipes()
            env = {**os.environ, PROFILE_ENV: _encode(self.profile_definition), **pipes.env()}
            try:
                self._process = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=self._stderr,
                    stderr=self._stderr,
                    pass_fds=pipes.pass_fds,
                    env=env,
                )
            finally:
                pipes.started()
        return self

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The child process (started on first use)."""
        self.start()
        assert self._process is not None
        return self._process

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or ``None`` while the run is live (or not started)."""
        return None if self._process is None else self._process.poll()

    @property
    def running(self) -> bool:
        """Whether the child process is started and has not exited."""
        return self._process is not None and self._process.poll() is None

    def wait(self, timeout: float | None = 30.0) -> int:
        """Wait for the run to end and return its exit code.

        0, 130/143 if signalled, or a declared crash's code (``faults.exit_code``).

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds (it keeps
        running: call :meth:`terminate`); ``timeout=None`` waits for as long as it takes.
        A run that was never started is an error (``SynthLossError``): call :meth:`start`.
        """
        if timeout is not None:
            _check_timeout(timeout)
        if self._process is None:
            raise SynthLossError(f"wait() on a run that was never started: {self!r}; call start()")
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"training run still live after {timeout} s: {self!r}; stderr: {self.stderr()!r}"
            ) from None

    def terminate(self, timeout: float = 5.0) -> int | None:
        """Send SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns the exit code.

        143 (SIGTERM is sent once the child handles it, even right after :meth:`start`).
        A no-op returning ``None`` for a run never started.
        """
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._wait_ready()
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode

    def _wait_ready(self) -> None:
        if self._pipes is not None:
            self._pipes.wait_ready()

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the child (e.g. ``signal.SIGINT``), once it handles signals."""
        process = self.process
        self._wait_ready()
        process.send_signal(signum)

    def stderr(self) -> str:
        """What the child wrote to stdout/stderr so far (errors, the stop message)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        """Terminate the process and release its stderr file and pipes."""
        self.terminate()
        if self._pipes is not None:
            self._pipes.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> TrainingRun:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- ground truth ---------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The run's faults: the profile's, each kind given here replacing the profile's.

        Its ground truth: ``stall_step``, ``repeated_steps``, ``missing_steps``,
        ``crash_step``, ``exit_code`` (what :meth:`wait` returns for a run left to finish).
        """
        declared = self.profile_definition.faults or Faults()
        return declared.merged(self._given_faults)

    @property
    def logged_steps(self) -> tuple[int, ...]:
        """Every step the run logs, in order, one per line (repeats and gaps included)."""
        return self.faults.logged_steps(self.steps, self.start_step)

    def metrics_url(self, timeout: float = 30.0) -> str:
        """Wait for the ``metrics_port`` endpoint and return its ``http://.../metrics`` URL."""
        if self.metrics_port is None:
            raise SynthLossError("this run serves no metrics; pass metrics_port= (0: any port)")
        deadline = time.monotonic() + timeout
        while True:
            match = _METRICS_LINE.search(self.stderr())
            if match:
                return match[1]
            if self.returncode is not None:
                raise SynthLossError(
                    f"the run exited with code {self.returncode} before serving metrics; "
                    f"stderr: {self.stderr()!r}"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no metrics endpoint after {timeout} s: {self!r}")
            time.sleep(_POLL_SECONDS)

    # -- the log ------------------------------------------------------------------------

    def lines(self) -> list[str]:
        """The complete lines of the log so far, without newlines (``[]`` before it exists)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        if not text.endswith("\n"):  # never the case for this writer; be safe anyway
            text = text[: text.rfind("\n") + 1]
        return text.splitlines()

    def wait_for_lines(self, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until the log has at least ``count`` lines (header included); return them.

        Raises ``TimeoutError`` if they do not appear in time, ``SynthLossError`` if the run
        exits with fewer.
        """
        return self._wait_for(check_step(count, "count"), _check_timeout(timeout), 0, "line")

    def wait_for_steps(self, count: int, timeout: float = 30.0) -> ParsedLog:
        """Wait until ``count`` step lines are logged; return the log so far, parsed.

        Raises as :meth:`wait_for_lines` does, counting steps (the header line is not one).
        """
        header = 0 if self.format == "jsonl" else 1
        self._wait_for(check_step(count, "count"), _check_timeout(timeout), header, "step")
        return self.read()

    def _wait_for(self, count: int, timeout: float, header: int, unit: str) -> list[str]:
        """Wait for ``count`` lines after ``header`` lines; errors count ``unit`` s."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if len(lines) >= count + header:
                return lines
            if self.returncode is not None:
                lines = self.lines()
                if len(lines) >= count + header:
                    return lines
                done = max(0, len(lines) - header)
                raise SynthLossError(
                    f"the run exited with code {self.returncode} after {done} "
                    f"{unit if done == 1 else unit + 's'}, "
                    f"before {unit} {count}; stderr: {self.stderr()!r}"
                )
            if time.monotonic() >= deadline:
                done = max(0, len(lines) - header)
                raise TimeoutError(f"{done} of {count} {unit}s after {timeout} s: {self!r}")
            time.sleep(_POLL_SECONDS)

    def read(self) -> ParsedLog:
        """The log so far, parsed (see :func:`pytest_synthloss.formats.read_log`)."""
        from pytest_synthloss.emulation.logreader import read_log

        return read_log(self.lines(), self.format)


def _check_arguments(
    steps: object,
    profile: object,
    sleep_seconds: object,
    format: object,
    lr: object,
    batch_size: object,
    metrics_port: object,
) -> Profile:
    """Check what ``synthloss train`` would refuse (a bad run never starts); the profile."""
    check_step(steps, "steps")
    if isinstance(profile, Profile):
        definition = profile
        if definition.name in BUILTIN_NAMES and get_profile(definition.name) != definition:
            raise SynthLossError(
                f"profile {definition!r} differs from the built-in profile "
                f"{definition.name!r}; give it another name"
            )
    elif isinstance(profile, str):
        definition = get_profile(profile)  # an unknown name raises, listing the known ones
    else:
        raise SynthLossError(
            f"profile must be a Profile or the name of a registered profile, got {profile!r}"
        )
    check_float(
        "sleep_seconds",
        sleep_seconds,
        minimum=0.0,
        maximum=MAX_SLEEP_SECONDS,
        allowed=f"of seconds from 0 to {MAX_SLEEP_SECONDS}",
    )
    if not isinstance(format, str) or format not in LOG_SUFFIXES:
        from pytest_synthloss.emulation.logwriter import check_format  # numpy: error path only

        check_format(format)
    check_lr(lr)
    if batch_size is not None:
        check_step(batch_size, "batch_size")
    if metrics_port is not None:
        check_port(metrics_port, "metrics_port")
    return definition


def _encode(profile: Profile) -> str:
    return base64.b64encode(pickle.dumps(profile)).decode("ascii")


def register_child_profile(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """In the child process: register the profile the parent handed over in ``PROFILE_ENV``.

    The parent (:class:`TrainingRun`) serialises its profile there, so a profile from
    ``register_profile``, a conftest hook, an entry point or a bare ``Profile`` object is
    known to ``synthloss train`` by the name it passes.
    """
    encoded = environ.pop(PROFILE_ENV, None)
    if not encoded:
        return
    profile = pickle.loads(base64.b64decode(encoded))  # our parent wrote it
    if not isinstance(profile, Profile):
        raise SynthLossError(f"{PROFILE_ENV} does not hold a Profile, got {profile!r}")
    if profile.name not in BUILTIN_NAMES:
        register_profile(profile, replace=True)


def _check_timeout(timeout: object) -> float:
    return check_number("timeout", timeout, ">= 0")  # a finite number of seconds
