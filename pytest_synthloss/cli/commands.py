"""The ``synthloss`` subcommands: train, curve, profiles and sweep (import and plot:
:mod:`~pytest_synthloss.cli.log_commands`).

Each handler takes the parsed arguments and returns an exit code; bad input raises
:class:`~pytest_synthloss.SynthLossError` (exit 2) and an output that fails while it is
written raises :class:`WriteError` (exit 1), both reported by :mod:`pytest_synthloss.cli.main`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
from typing import TYPE_CHECKING, TextIO

from pytest_synthloss.cli import arguments as cli_types
from pytest_synthloss.cli.arguments import UsageError, WriteError
from pytest_synthloss.core.extras import require_extra
from pytest_synthloss.core.text import align_columns

if TYPE_CHECKING:
    from pytest_synthloss.core.faults import Faults
    from pytest_synthloss.exports.prometheus import LossGauge

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "UsageError",
    "WriteError",
    "curve",
    "err",
    "print_line",
    "profiles",
    "silence",
    "sweep",
    "train",
]

EXIT_USAGE = 2
#: Exit code when an output cannot be written while the command runs (a full disk).
EXIT_FAILURE = 1
#: Exit code when the reader of stdout goes away (as if killed by SIGPIPE).
EXIT_BROKEN_PIPE = 128 + 13


def _run(args: argparse.Namespace, sleep_seconds: float, *, live: bool = False) -> int:
    from pytest_synthloss.core.curve import make_curve
    from pytest_synthloss.core.files import OutputError, open_output
    from pytest_synthloss.emulation.emulator import Progress, emulate
    from pytest_synthloss.emulation.logwriter import LogWriter
    from pytest_synthloss.emulation.sink import LineSink

    curve = make_curve(
        args.steps,
        args.profile,
        start_step=args.start_step,
        lr=args.lr,
        batch_size=args.batch_size,
    )
    # validates before any file; a live run (train) logs each line's time
    signals = curve.profile.signals is not None  # their columns, after the loss's
    writer = LogWriter(io.StringIO(), args.format, curve.config, timed=live, signals=signals)
    faults = _faults(args, curve.profile.faults) if live else None
    if faults is not None:
        faults.check_run(len(curve), args.start_step)
    fd = _stdout_fd() if args.output is None else None
    output = None if args.output is None else open_output(args.output)
    gauge = None
    stop = args.stop
    try:
        gauge = _serve_metrics(args, curve.profile.name) if live else None
        if output is not None:
            fd = output.fd
            if live and not writer.header():  # a live log appears at once
                output.commit()
        after = output.commit if live and output is not None else None
        writer.stream = (
            sys.stdout if fd is None else LineSink(fd, lambda: stop.stopped, after_write=after)
        )
        show = args.progress
        if show is None:  # auto: a person at a terminal whose data is not on that terminal
            show = _isatty(sys.stderr) and (output is not None or not _isatty(sys.stdout))
        progress = Progress(sys.stderr) if show else None
        try:
            result = emulate(
                curve,
                writer,
                sleep_seconds=sleep_seconds,
                stop=stop,
                progress=progress,
                faults=faults,
                observer=None if gauge is None else gauge.set,
            )
            if gauge is not None and result.steps_written and not stop.stopped:
                # the last step (or the crash's) stays up for the scrapes still to come
                stop.pause(_linger_seconds(args, sleep_seconds))
            if output is not None and (result.steps_written or not result.signum):
                output.commit()  # a run stopped before its first line leaves no new file
                output.close()
        except BrokenPipeError:
            if output is not None:
                output.unpublish()
            raise
        except OutputError as exc:
            raise WriteError(str(exc)) from None
        except OSError as exc:
            if output is None:
                raise WriteError(f"cannot write to stdout: {exc.strerror or exc}") from None
            output.unpublish()
            raise WriteError(
                f"cannot write output file {args.output!r}: {exc.strerror or exc}"
            ) from None
    finally:
        if output is not None:
            output.abort()  # a no-op once published and closed
        if gauge is not None:
            gauge.close()
    if result.signum is not None:
        name = signal.Signals(result.signum).name
        err(
            f"{args.prog}: stopped by {name} after {result.steps_written} of "
            f"{result.total_steps} steps"
        )
    elif result.crash_code is not None and faults is not None:
        err(
            f"{args.prog}: crashed after step {faults.crash_step} (injected fault), "
            f"exit code {result.crash_code}"
        )
    return result.exit_code


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def _stdout_fd() -> int | None:
    """Standard output's descriptor (``None``: a stream without one, such as a capture).

    A closed stdout is a one-line :class:`WriteError`.
    """
    if sys.stdout is None:
        raise WriteError("cannot write to stdout: it is closed")
    try:
        sys.stdout.flush()
        return sys.stdout.fileno()
    except io.UnsupportedOperation:
        return None
    except (OSError, ValueError):
        raise WriteError("cannot write to stdout: it is closed") from None


def err(text: str) -> None:
    """Print one line on stderr; a stderr that cannot be written is silenced, never fatal."""
    try:
        if sys.stderr is not None:
            print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        silence(2)


def _faults(args: argparse.Namespace, declared: Faults | None) -> Faults | None:
    """The profile's faults, each kind given on the command line replacing the profile's."""
    from pytest_synthloss.core.faults import Faults

    if all(f is None for f in (args.stall, args.restart, args.drop, args.crash)):
        return declared
    dropped = (
        ()
        if args.drop is None
        else cli_types.dropped(args.drop, _steps(args), args.start_step).drop
    )
    command_line = Faults(
        stall=None if args.stall is None else args.stall.stall,
        restart=None if args.restart is None else args.restart.restart,
        drop=dropped,
        crash=None if args.crash is None else args.crash.crash,
        resume=None if args.restart is None else args.restart.resume,
    )
    return (declared or Faults()).merged(command_line)


def _serve_metrics(args: argparse.Namespace, profile: str) -> LossGauge | None:
    """Start the ``--metrics-port`` endpoint on loopback and say where it is, on stderr."""
    if args.metrics_port is None:
        return None
    require_extra("prometheus_client", "prometheus", "--metrics-port")
    from pytest_synthloss.exports.prometheus import serve_loss_gauge

    default_run = os.path.splitext(os.path.basename(args.output))[0] if args.output else ""
    labels = {"run": default_run or "synthloss", "profile": profile, **dict(args.label)}
    gauge = serve_loss_gauge(args.metrics_port, "127.0.0.1", labels=labels)
    err(f"{args.prog}: serving metrics on {gauge.url}")
    return gauge


def _linger_seconds(args: argparse.Namespace, sleep_seconds: float) -> float:
    """``--linger``, else two steps' time, at least one second."""
    given: float | None = getattr(args, "linger", None)
    return max(1.0, 2.0 * sleep_seconds) if given is None else given


def _print(text: str = "") -> None:
    """Print ``text`` to stdout and flush it; a failed write is a :class:`WriteError`."""
    if sys.stdout is None:
        raise WriteError("cannot write to stdout: it is closed")
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise WriteError(f"cannot write to stdout: {exc.strerror or exc}") from None


#: Print a line on stdout (for the commands of other modules).
print_line = _print


def silence(fd: int = 1) -> None:
    """Point ``fd`` (stdout) at the null device, so Python's final flush fails no more."""
    stream = sys.stdout if fd == 1 else sys.stderr
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no file descriptor
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)


def train(args: argparse.Namespace) -> int:
    return _run(args, args.sleep_seconds, live=True)


def _steps(args: argparse.Namespace) -> int:
    """``--steps``, else the profile's natural length."""
    from pytest_synthloss.core.registry import resolve_profile
    from pytest_synthloss.core.steps import DEFAULT_STEPS

    if args.steps is not None:
        return int(args.steps)
    natural = resolve_profile(args.profile).steps
    return DEFAULT_STEPS if natural is None else natural


def curve(args: argparse.Namespace) -> int:
    return _run(args, 0.0)


def profiles(args: argparse.Namespace) -> int:
    from pytest_synthloss.core.curve import make_curve
    from pytest_synthloss.core.model import synthetic_loss
    from pytest_synthloss.core.registry import available_profiles, get_profile

    rows = [("profile", "spikes (step: loss)", "floor", "floor step", "description")]
    for name in available_profiles():
        prof = get_profile(name)
        spikes = ", ".join(
            [f"{s}: {v:g}" for s, v in prof.spikes.items()]
            + [f"{s}: {synthetic_loss(s, prof):.4g}" for s in prof.spike_steps if prof.ranks]
            + [f"{s.step}-{s.last}: {s.peak:g}" for s in (prof.shape.spikes if prof.shape else ())]
        )
        spikes = spikes or "none"
        reached = make_curve(None, name).floor_step  # within the profile's natural length
        floor_step = "never" if reached is None else str(reached)
        rows.append((name, spikes, f"{prof.floor:g}", floor_step, prof.description))
    _print("\n".join(align_columns(rows, right=(2, 3))))
    if args.verbose:
        previews = [
            (f"{name}:", make_curve(None, name).preview(30)) for name in available_profiles()
        ]
        _print("\n".join(align_columns(previews)))
    return 0


def sweep(args: argparse.Namespace) -> int:
    from pytest_synthloss.core.sweep_report import best_config
    from pytest_synthloss.core.sweeps import sweep

    results = sweep(
        profiles=args.profiles,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        start_step=args.start_step,
    )
    ranked = results.ranked()
    rows = [("rank", "profile", "steps", "lr", "batch_size", "final_loss", "spikes", "floor")]
    for rank, row in enumerate(ranked.rows()[: args.top], start=1):
        rows.append(
            (
                str(rank),
                row.profile,
                str(row.steps),
                "-" if row.lr is None else f"{row.lr:g}",
                "-" if row.batch_size is None else str(row.batch_size),
                f"{row.final_loss:.6g}",
                str(row.spikes),
                "yes" if row.reaches_floor else "no",
            )
        )
    _print("\n".join(align_columns(rows, right=(0, 2, 3, 4, 5, 6))))
    if len(ranked) > args.top:
        _print(f"... {len(ranked) - args.top} more configs (--top N shows more)")
    _print()
    _print(best_config(results).report())
    return 0
