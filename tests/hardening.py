"""Helpers of the hardening tests (issue 12): the CLI as a real process, a full disk."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Exit codes the CLI documents (docs/errors.md): success, write failure, bad input,
#: a declared crash's codes are not produced by these tests, SIGPIPE, SIGINT, SIGTERM.
DOCUMENTED_EXIT_CODES = {0, 1, 2, 130, 141, 143}


def synthloss(
    *args: str, stdout: int | None = subprocess.PIPE, stderr: int | None = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    """Start ``python -m pytest_synthloss ARGS`` (the ``synthloss`` command)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_synthloss", *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
    )


def run(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``synthloss ARGS``; return its exit code, stdout and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest_synthloss", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def wait_until_signals_are_handled(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until the child catches SIGTERM (Linux ``/proc``): its handlers are installed.

    Python itself catches only SIGINT; SIGTERM is caught from the moment the command's
    code installs its handlers, before it imports anything heavy.
    """
    status = Path(f"/proc/{process.pid}/status")
    if not status.exists():
        pytest.skip("needs Linux /proc to see when the child handles signals")
    deadline = time.monotonic() + timeout
    bit = 1 << (signal.SIGTERM - 1)
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("SigCgt:") and int(line.split()[1], 16) & bit:
                    return
        time.sleep(0.001)
    raise TimeoutError("the child never installed its signal handlers")


@contextlib.contextmanager
def small_tmpfs(size: str = "64k") -> Iterator[Path]:
    """A tmpfs of ``size`` (a full disk in miniature); skips where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("a full-disk test mounts a small tmpfs, which needs root")
    directory = Path(tempfile.mkdtemp(prefix="synthloss-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        directory.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False)
        directory.rmdir()


def fill(directory: Path, leave: int = 0) -> None:
    """Fill the file system of ``directory`` until at most ``leave`` bytes are free."""
    filler = directory / "filler"
    with open(filler, "wb") as handle:
        chunk = b"x" * 1024
        with contextlib.suppress(OSError):
            while os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize > leave:
                handle.write(chunk)
                handle.flush()
