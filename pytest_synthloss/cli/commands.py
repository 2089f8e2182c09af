"""The ``synthloss`` subcommands: train, curve, profiles, sweep and plot.

Each handler takes the parsed arguments and returns an exit code; bad input raises
:class:`~pytest_synthloss.SynthLossError` (exit 2) and an output that fails while it is
written raises :class:`WriteError` (exit 1), both reported by :mod:`pytest_synthloss.cli.main`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import stat
import sys
import tempfile
from typing import TYPE_CHECKING, TextIO

from pytest_synthloss.cli import arguments as cli_types
from pytest_synthloss.core.errors import SynthLossError
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
    "plot",
    "profiles",
    "silence_stdout",
    "sweep",
    "train",
]

EXIT_USAGE = 2
#: Exit code when an output cannot be written while the command runs (a full disk).
EXIT_FAILURE = 1
#: Exit code when the reader of stdout goes away (as if killed by SIGPIPE).
EXIT_BROKEN_PIPE = 128 + 13


class UsageError(Exception):
    """A bad command line: reported as one line, exit code 2."""


class WriteError(Exception):
    """An output that failed while being written: reported as one line, exit code 1."""


def _run(args: argparse.Namespace, sleep_seconds: float, *, live: bool = False) -> int:
    from pytest_synthloss.core.curve import make_curve
    from pytest_synthloss.emulation.emulator import Progress, StopSignals, emulate
    from pytest_synthloss.emulation.logwriter import LogWriter

    curve = make_curve(
        args.steps,
        args.profile,
        start_step=args.start_step,
        lr=args.lr,
        batch_size=args.batch_size,
    )
    writer = LogWriter(sys.stdout, args.format, curve.config)  # validates before any file
    faults = _faults(args, curve.profile.faults) if live else None
    if faults is not None:
        faults.check_run(len(curve), args.start_step)
    gauge = _serve_metrics(args, curve.profile.name) if live else None
    output: TextIO | None = None
    try:
        if args.output is not None:
            output = _open_output(args.output)
            writer.stream = output
        show = args.progress
        if show is None:  # auto: a person at a terminal whose data is not on that terminal
            show = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
        progress = Progress(sys.stderr) if show else None
        try:
            with StopSignals() as stop:
                result = emulate(
                    curve,
                    writer,
                    sleep_seconds=sleep_seconds,
                    stop=stop,
                    progress=progress,
                    faults=faults,
                    observer=None if gauge is None else gauge.set,
                )
            if output is not None:
                output.close()
        except BrokenPipeError:
            raise
        except OSError as exc:
            if output is None:
                raise WriteError(f"cannot write to stdout: {exc.strerror or exc}") from None
            _discard(output, args.output)
            raise WriteError(
                f"cannot write output file {args.output!r}: {exc.strerror or exc}"
            ) from None
    finally:
        if output is not None:
            output.close()
        if gauge is not None:
            gauge.close()
    if result.signum is not None:
        name = signal.Signals(result.signum).name
        print(
            f"{args.prog}: stopped by {name} after {result.steps_written} of "
            f"{result.total_steps} steps",
            file=sys.stderr,
        )
    elif result.crash_code is not None and faults is not None:
        print(
            f"{args.prog}: crashed after step {faults.crash_step} (injected fault), "
            f"exit code {result.crash_code}",
            file=sys.stderr,
        )
    return result.exit_code


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
    )
    return (declared or Faults()).merged(command_line)


def _serve_metrics(args: argparse.Namespace, profile: str) -> LossGauge | None:
    """Start the ``--metrics-port`` endpoint on loopback and say where it is, on stderr."""
    if args.metrics_port is None:
        return None
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise SynthLossError(
            "--metrics-port needs prometheus_client, which is not installed: "
            "pip install 'pytest-synthloss[prometheus]'"
        ) from None
    from pytest_synthloss.exports.prometheus import serve_loss_gauge

    gauge = serve_loss_gauge(args.metrics_port, "127.0.0.1", labels={"profile": profile})
    print(f"{args.prog}: serving metrics on {gauge.url}", file=sys.stderr, flush=True)
    return gauge


def _open_output(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise SynthLossError(f"cannot write output file {path!r}: {exc.strerror}") from None


def _discard(output: TextIO, path: str) -> None:
    """Close an output whose writing failed and remove it if it is a regular file."""
    with contextlib.suppress(OSError, ValueError):
        regular = stat.S_ISREG(os.fstat(output.fileno()).st_mode)
        with contextlib.suppress(OSError):  # flushing what is left fails again
            output.close()
        if regular:
            os.unlink(path)


def _print(text: str = "") -> None:
    """Print ``text`` to stdout and flush it; a failed write is a :class:`WriteError`."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise WriteError(f"cannot write to stdout: {exc.strerror or exc}") from None


def silence_stdout() -> None:
    """Point stdout at the null device, so Python's final flush fails no more."""
    with contextlib.suppress(OSError, ValueError):  # stdout without a file descriptor
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def train(args: argparse.Namespace) -> int:
    return _run(args, args.sleep_seconds, live=True)


def _steps(args: argparse.Namespace) -> int:
    """``--steps``, else the profile's natural length."""
    from pytest_synthloss.core.registry import resolve_profile
    from pytest_synthloss.core.validation import DEFAULT_STEPS

    if args.steps is not None:
        return int(args.steps)
    natural = resolve_profile(args.profile).steps
    return DEFAULT_STEPS if natural is None else natural


def curve(args: argparse.Namespace) -> int:
    return _run(args, 0.0)


def profiles(args: argparse.Namespace) -> int:
    from pytest_synthloss.core.curve import make_curve
    from pytest_synthloss.core.registry import available_profiles, get_profile

    rows = [("profile", "spikes (step: loss)", "floor", "floor step", "description")]
    for name in available_profiles():
        prof = get_profile(name)
        spikes = ", ".join(
            [f"{s}: {v:g}" for s, v in prof.spikes.items()]
            + [f"{s.step}-{s.last}: {s.peak:g}" for s in (prof.shape.spikes if prof.shape else ())]
        )
        spikes = spikes or "none"
        floor_step = "never" if prof.floor_step is None else str(prof.floor_step)
        rows.append((name, spikes, f"{prof.floor:g}", floor_step, prof.description))
    _print("\n".join(align_columns(rows, right=(2, 3))))
    if args.verbose:
        for name in available_profiles():
            _print(f"{name}: {make_curve(None, name).preview(30)}")
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


def plot(args: argparse.Namespace) -> int:
    from pytest_synthloss.core.curve import make_curve
    from pytest_synthloss.exports.plotting import require_matplotlib, save_plot

    curve = make_curve(args.steps, args.profile, start_step=args.start_step)
    require_matplotlib()
    if os.path.isdir(args.output):
        raise SynthLossError(f"cannot write output file {args.output!r}: Is a directory")
    directory = os.path.dirname(os.path.abspath(args.output))
    try:
        handle, temp = tempfile.mkstemp(suffix=".png", prefix=".synthloss-", dir=directory)
    except OSError as exc:
        raise SynthLossError(f"cannot write output file {args.output!r}: {exc.strerror}") from None
    os.close(handle)
    try:
        save_plot(curve, temp)
        os.replace(temp, args.output)
    except OSError as exc:
        raise SynthLossError(f"cannot write output file {args.output!r}: {exc.strerror}") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    _print(f"wrote {args.output}")
    return 0
