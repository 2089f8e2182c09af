"""The ``synthloss`` command line (also ``python -m pytest_synthloss``): a thin argparse layer.

Every bad input is reported as one ``synthloss CMD: error: ...`` line on stderr with exit
code 2, before any output file is created. An output that fails while it is written (a
full disk) is reported as one ``... error: cannot write ...`` line with exit code 1; the
previous ``-o`` file stays intact and no partial file is left (``docs/errors.md``). A run
stopped by SIGINT or SIGTERM exits with 130 or 143 after its last complete line; a run
with a declared crash exits with the crash's code after the crash step's line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from pytest_synthloss.cli import arguments as cli_types
from pytest_synthloss.cli import log_commands
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.parallel import thread_count

if TYPE_CHECKING:
    from pytest_synthloss.emulation.emulator import StopSignals

from pytest_synthloss.cli import commands as handlers
from pytest_synthloss.cli.commands import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_USAGE,
    UsageError,
    WriteError,
    err,
    silence,
)

__all__ = ["build_parser", "console_main", "main", "train_main"]


# -- parser -----------------------------------------------------------------------------

_FORMAT_HELP = (
    "log format: text ('Step N: loss=X.XX', 2 decimals, after a '# synthloss run:' header), "
    "jsonl (one JSON object per step, exact floats) or csv (header then one row per step, "
    "exact floats); default: text"
)


def _add_run_arguments(parser: argparse.ArgumentParser, *, sleep: bool) -> None:
    from pytest_synthloss.emulation.logwriter import FORMATS

    cli_types.add_steps_option(parser)
    if sleep:
        parser.add_argument(
            "--sleep-seconds",
            type=cli_types.sleep_seconds,
            default=0.0,
            metavar="S",
            help="seconds each step takes before its line is logged (default: 0)",
        )
    parser.add_argument(
        "--profile",
        default="stable",
        metavar="NAME",
        help="loss profile (see 'synthloss profiles'; default: stable)",
    )
    parser.add_argument(
        "--lr", type=cli_types.lr, metavar="X", help="learning rate to log (never changes the loss)"
    )
    parser.add_argument(
        "--batch-size",
        type=cli_types.positive_int,
        metavar="N",
        help="batch size to log (never changes the loss)",
    )
    parser.add_argument(
        "--start-step",
        type=cli_types.positive_int,
        default=1,
        metavar="K",
        help="first step, as in a run resumed from a checkpoint (default: 1)",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", metavar="{text,jsonl,csv}", help=_FORMAT_HELP
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the log to FILE (line by line, flushed) instead of stdout",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress line on stderr (default: only if stderr is a terminal and the log "
        "is not written to it)",
    )


_TRAIN_DESCRIPTION = """\
Emulate a training run: each step takes --sleep-seconds, then its loss is logged
and flushed as one complete line, so a monitor tailing the output sees a live run.
SIGINT and SIGTERM stop the run after its last complete line (exit 130 and 143)."""

_TRAIN_EPILOG = """\
examples:
  synthloss train --steps 5 --sleep-seconds 0.1 --profile stable
  synthloss train --steps 40 --sleep-seconds 0.5 --profile spiky --format jsonl -o run.jsonl
  synthloss train --steps 20 --sleep-seconds 0.1 --stall 8:5 --restart 12:3 --crash 16:3
  synthloss train --steps 600 --sleep-seconds 1 --metrics-port 9109"""


def _build_train(parser: argparse.ArgumentParser) -> None:
    _add_run_arguments(parser, sleep=True)
    faults = parser.add_argument_group(
        "faults (each replaces the profile's fault of its kind; see the README)"
    )
    faults.add_argument(
        "--stall",
        type=cli_types.fault_type("stall", "STEP:SECONDS, e.g. 12:0.5"),
        metavar="STEP:SECONDS",
        help="hang SECONDS before logging STEP: no output meanwhile (a hung job)",
    )
    faults.add_argument(
        "--restart",
        type=cli_types.fault_type("restart", "STEP:BACK, e.g. 10:3"),
        metavar="STEP:BACK[:MODE]",
        help="after logging STEP, resume from the checkpoint BACK steps earlier (logging them "
        "again); MODE: same, replay:N[:DIP], skip:N or reset (see the emulator docs)",
    )
    faults.add_argument(
        "--drop",
        type=cli_types.drop,
        metavar="LIST",
        help="never log these steps, e.g. 7,8 or 7..9",
    )
    faults.add_argument(
        "--crash",
        type=cli_types.fault_type("crash", "STEP or STEP:CODE, e.g. 15:3"),
        metavar="STEP[:CODE]",
        help="exit with CODE (default 1) right after logging STEP",
    )
    metrics = parser.add_argument_group("live metrics (Prometheus)")
    metrics.add_argument(
        "--metrics-port",
        type=cli_types.port,
        metavar="PORT",
        help="serve the live loss as Prometheus gauges train_loss and train_loss_step on "
        "http://127.0.0.1:PORT/metrics while the run lasts (0: any free port; the URL is "
        'printed on stderr). Needs pip install "pytest-synthloss[prometheus]". Each step must '
        "last at least two scrape intervals (--sleep-seconds >= 2 x the scrape interval), "
        "or a scraper can miss a step, a spike included",
    )
    metrics.add_argument(
        "--label",
        type=cli_types.label,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constant label on both gauges (repeatable); default labels: run (the output "
        "file's name without its suffix, else 'synthloss') and profile",
    )
    metrics.add_argument(
        "--linger",
        type=cli_types.sleep_seconds,
        default=None,
        metavar="S",
        help="keep serving the final values S seconds after the last step (or a crash), so "
        "the last step is scraped too; SIGINT/SIGTERM end it early. Default: 2 x "
        "--sleep-seconds, at least 1 s",
    )
    parser.set_defaults(handler=handlers.train)


def build_parser(prog: str = "synthloss") -> argparse.ArgumentParser:
    """The ``synthloss`` argument parser with its subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = cli_types.Parser(
        prog=prog,
        description="Deterministic synthetic training runs: emulate, inspect, sweep, import and "
        "plot.",
        epilog="'synthloss COMMAND --help' describes each command.",
        formatter_class=formatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="emulate a live training run (one line per step)",
        description=_TRAIN_DESCRIPTION,
        epilog=_TRAIN_EPILOG,
        formatter_class=formatter,
    )
    _build_train(train)

    curve = commands.add_parser(
        "curve",
        help="print a run's log at once (as train, without sleeping)",
        description="Print the same log as 'synthloss train', all at once.",
        epilog="example:\n  synthloss curve --steps 20 --profile spiky --format csv",
        formatter_class=formatter,
    )
    _add_run_arguments(curve, sleep=False)
    curve.set_defaults(handler=handlers.curve)

    profiles = commands.add_parser(
        "profiles",
        help="list the registered profiles and their ground truth",
        description="List the registered profiles: spikes, floor, the step the floor is reached "
        "within the profile's natural length (never: not reached), description.",
        formatter_class=formatter,
    )
    profiles.add_argument(
        "--verbose", "-v", action="store_true", help="also show a sparkline of 30 steps"
    )
    profiles.set_defaults(handler=handlers.profiles)

    sweep = commands.add_parser(
        "sweep",
        help="rank a grid of configs and show the best one",
        description="Run every config of profiles x steps x lr x batch_size, print them "
        "ranked (lowest final loss, fewest spike steps, fewest steps, profile order, "
        "smallest lr and batch_size), then the best config and what the sweep implies.",
        epilog="example:\n  synthloss sweep --steps 1..30 --lr 1e-4,3e-4 --batch-size 16,32",
        formatter_class=formatter,
    )
    sweep.add_argument(
        "--profiles",
        type=cli_types.profile_list,
        metavar="A,B",
        help="comma-separated profiles, or 'all' for every registered one (default: stable,spiky)",
    )
    sweep.add_argument(
        "--steps",
        type=cli_types.sweep_steps,
        default=list(range(1, 31)),
        metavar="LIST",
        help="step counts, e.g. 5,10,18..30 (A..B inclusive; default: 1..30)",
    )
    sweep.add_argument(
        "--lr",
        type=cli_types.optional_list(cli_types.lr),
        default=[None],
        metavar="LIST",
        help="learning rates, e.g. 1e-4,3e-4 ('none': not logged; default: none)",
    )
    sweep.add_argument(
        "--batch-size",
        type=cli_types.optional_list(cli_types.positive_int),
        default=[None],
        metavar="LIST",
        help="batch sizes, e.g. 16,32 ('none': not logged; default: none)",
    )
    sweep.add_argument(
        "--start-step",
        type=cli_types.positive_int,
        default=1,
        metavar="K",
        help="first step (default: 1)",
    )
    sweep.add_argument(
        "--top",
        type=cli_types.positive_int,
        default=10,
        metavar="N",
        help="rows to show (default: 10)",
    )
    sweep.set_defaults(handler=handlers.sweep)

    log_commands.add_import_parser(commands)
    log_commands.add_plot_parser(commands)
    return parser


def _dispatch(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, standalone: bool = False
) -> int:
    from pytest_synthloss.emulation.emulator import StopSignals

    with StopSignals() as stop:
        if _early_signals:  # SIGINT/SIGTERM before the handlers were ours: honour it
            stop.signum = _early_signals[0]
        code = _dispatch_args(parser, argv, standalone, stop)
    return code


def _dispatch_args(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    standalone: bool,
    stop: StopSignals,
) -> int:
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        err(str(exc))
        return EXIT_USAGE
    except WriteError as exc:  # --help that cannot be written
        silence(1)
        err(f"{parser.prog}: error: {exc}")
        return EXIT_FAILURE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    args.prog = parser.prog if standalone else f"{parser.prog} {args.command}"
    args.stop = stop
    try:
        thread_count()  # a bad SYNTHLOSS_THREADS stops the command before it starts
        code: int = args.handler(args)
    except SynthLossError as exc:
        err(f"{args.prog}: error: {exc}")
        return EXIT_USAGE
    except WriteError as exc:
        err(f"{args.prog}: error: {exc}")
        silence(1)  # what is left in stdout's buffer would fail again at exit
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader of stdout went away: stop quietly (and keep Python's final flush quiet).
        silence(1)
        return EXIT_BROKEN_PIPE
    if stop.signum is not None and code == 0:  # a signal while a command was finishing
        err(f"{args.prog}: stopped by {signal.Signals(stop.signum).name}")
        return 128 + int(stop.signum)
    return code


#: SIGINT/SIGTERM received before :func:`_dispatch` installed its handlers.
_early_signals: list[int] = []


def _record_early(signum: int, frame: FrameType | None) -> None:
    if not _early_signals:
        _early_signals.append(signum)


def console_main() -> NoReturn:
    """The ``synthloss`` console script and ``python -m pytest_synthloss``.

    SIGINT and SIGTERM are recorded from here on (never a ``KeyboardInterrupt``
    traceback): one that arrives before a run starts ends it with 130/143 and no line.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _record_early)
    from pytest_synthloss.emulation.handshake import answer_parent
    from pytest_synthloss.emulation.runner import register_child_profile

    answer_parent(os.environ)
    try:
        register_child_profile()  # the profile a TrainingRun parent handed over, if any
    except SynthLossError as exc:
        err(f"synthloss: error: {exc}")
        sys.exit(EXIT_USAGE)
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``synthloss`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    return _dispatch(build_parser(), argv)


def train_main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run ``synthloss train`` as a standalone script (as ``examples/train_gpt2.py`` does)."""
    parser = cli_types.Parser(
        prog=prog or os.path.basename(sys.argv[0]),
        description=_TRAIN_DESCRIPTION,
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _build_train(parser)
    return _dispatch(parser, argv, standalone=True)
