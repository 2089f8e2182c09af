"""Writing output files so that a failure leaves nothing behind and loses nothing.

Every output path (``synthloss ... -o``, :func:`~pytest_synthloss.write_log`, the exports)
goes through :func:`open_output`:

* a symbolic link is followed, as other tools do: its target is written, the link stays;
* a special file (a character device such as ``/dev/null``, a FIFO) is written into,
  never replaced;
* a regular file (or a new one) is written to a temporary file next to it that replaces it
  only when complete (:meth:`Output.commit`), with the mode of the file it replaces (a
  new file gets ``0o666`` less the umask). A write that fails removes the temporary file
  and leaves the previous content of the target intact;
* a directory, or a path whose directory is missing, is refused with one line before
  anything is written.

Errors are :class:`~pytest_synthloss.core.errors.SynthLossError` (bad target, found before
writing) or :class:`OutputError` (a write that failed part way, such as a full disk).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator

from pytest_synthloss.core.errors import SynthLossError

__all__ = ["Output", "OutputError", "check_output_path", "open_output", "write_atomically"]


class OutputError(SynthLossError):
    """An output that failed while being written: the CLI reports it with exit code 1."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


class Output:
    """An output being written: ``fd`` is open for writing; :meth:`commit` publishes it.

    Use :func:`open_output` to make one, and :meth:`abort` (or leave its ``with`` block
    with an exception) to discard it.
    """

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.what = what
        real = os.path.realpath(path)
        try:
            info: os.stat_result | None = os.stat(real)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise SynthLossError(f"cannot write {what} {path!r}: {_reason(exc)}") from None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise SynthLossError(f"cannot write {what} {path!r}: Is a directory")
        self.target = real
        self.special = info is not None and not stat.S_ISREG(info.st_mode)
        self._mode = None if info is None else stat.S_IMODE(info.st_mode)
        self._owner = None if info is None else (info.st_uid, info.st_gid)
        self.temp: str | None = None
        try:
            if self.special:
                self.fd = os.open(real, os.O_WRONLY | os.O_CLOEXEC)
            else:
                directory, name = os.path.split(real)
                self.fd, self.temp = tempfile.mkstemp(
                    prefix=f".{name}.", suffix=".synthloss-tmp", dir=directory or "."
                )
        except OSError as exc:
            raise SynthLossError(f"cannot write {what} {path!r}: {_reason(exc)}") from None
        self.committed = False

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def failed(self, exc: OSError) -> OutputError:
        """The one-line error for a write that failed part way (after :meth:`abort`)."""
        self.abort()
        return OutputError(f"cannot write {self.what} {self.path!r}: {_reason(exc)}")

    def commit(self) -> None:
        """Publish the output: rename the temporary file over the target (keeping its mode).

        Raises :class:`OutputError` (after removing the temporary file) if that fails.
        """
        if self.committed:
            return
        try:
            if self.temp is not None:
                if self._mode is None:
                    umask = os.umask(0)
                    os.umask(umask)
                    os.fchmod(self.fd, 0o666 & ~umask)
                else:
                    os.fchmod(self.fd, self._mode)
                    if self._owner is not None:
                        with contextlib.suppress(OSError):
                            os.fchown(self.fd, *self._owner)
                os.replace(self.temp, self.target)
                self.temp = None
        except OSError as exc:
            raise self.failed(exc) from None
        self.committed = True

    def close(self) -> None:
        """Close the descriptor (a committed output stays; an uncommitted one is removed)."""
        if not self.committed:
            self.abort()
            return
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.close(fd)
            except OSError as exc:
                raise OutputError(
                    f"cannot write {self.what} {self.path!r}: {_reason(exc)}"
                ) from None

    def abort(self) -> None:
        """Close and remove what was written; the previous target stays intact."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            self.temp = None

    def unpublish(self) -> None:
        """Remove a committed regular output whose writing failed later (a live log)."""
        self.abort()
        if self.committed and not self.special:
            with contextlib.suppress(OSError):
                os.unlink(self.target)

    def __enter__(self) -> Output:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
            self.close()
        else:
            self.abort()


def _checked_text(path: object, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise SynthLossError(f"{what} must be a path (str or os.PathLike), got {path!r}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text or "\0" in text:
        raise SynthLossError(f"{what} must be a non-empty path without NUL bytes, got {path!r}")
    return text


def check_output_path(path: object, what: str = "output file") -> str:
    """``path`` as text if :func:`open_output` could write it now, else ``SynthLossError``.

    For a writer that opens its output later (a child process): a directory, or a path
    whose directory is missing, is refused now with the error :func:`open_output` gives.
    """
    text = _checked_text(path, what)
    real = os.path.realpath(text)
    if os.path.isdir(real):
        raise SynthLossError(f"cannot write {what} {text!r}: Is a directory")
    directory = os.path.dirname(real) or "."
    if not os.path.isdir(directory):
        reason = "Not a directory" if os.path.exists(directory) else "No such file or directory"
        raise SynthLossError(f"cannot write {what} {text!r}: {reason}")
    return text


def open_output(path: str | os.PathLike[str], what: str = "output file") -> Output:
    """Open ``path`` for writing as the module documentation says."""
    return Output(_checked_text(path, what), what)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (retrying short writes); ``OSError`` on failure."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomically(
    path: str | os.PathLike[str], chunks: Iterator[bytes], what: str = "output file"
) -> None:
    """Write ``chunks`` to ``path`` through :func:`open_output`: all of them or nothing."""
    output = open_output(path, what)
    try:
        for chunk in chunks:
            write_all(output.fd, chunk)
        output.commit()
        output.close()
    except OSError as exc:
        raise output.failed(exc) from None
    finally:
        output.abort()
