"""The ``synthloss import`` and ``synthloss plot`` subcommands: recorded logs in, files out.

``import`` normalizes a log (any format :func:`~pytest_synthloss.emulation.importers.load_log`
reads) into our JSONL plus its labels file next to it, so ``load_log`` of the output is the
same curve. ``plot`` draws a profile's curve or a recorded log with every event marked,
in the format the output's extension names.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from pytest_synthloss.cli import arguments as cli_types
from pytest_synthloss.cli.commands import WriteError, print_line
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.text import count_noun

if TYPE_CHECKING:
    from pytest_synthloss.emulation.importers import ImportedLog

__all__ = ["add_import_parser", "add_plot_parser", "import_log", "plot"]

_IMPORT_DESCRIPTION = """\
Read a training log (TensorBoard event files, a CSV or JSONL export from W&B or MLflow,
an MLflow run directory (mlruns/EXP/RUN), a Hugging Face trainer_state.json, a Lightning
metrics.csv or one of our own logs) and write it as our JSONL, with its labels in
OUTPUT.labels.json next to it (from --labels, else from LOG.labels.json if there is one).
A log that counts steps from 0 is shifted to start at 1 (its labels too) unless
--step-offset says otherwise."""

_IMPORT_EPILOG = """\
examples:
  synthloss import runs/metrics.csv -o incident.jsonl
  synthloss import wandb_export.csv --value "brisk-sun-7 - train/loss" -o run.jsonl
  synthloss import tb_logs/ --value train/loss --labels incident.labels.json -o run.jsonl"""


def _import_format(text: str) -> str:
    from pytest_synthloss.emulation.importers import IMPORT_FORMATS

    if text not in IMPORT_FORMATS:
        raise argparse.ArgumentTypeError(
            f"unknown log format {text!r}; known formats: {', '.join(IMPORT_FORMATS)}"
        )
    return text


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    from pytest_synthloss.emulation.importers import IMPORT_FORMATS

    parser.add_argument(
        "--labels",
        metavar="FILE",
        help="labels file (JSON, or YAML with PyYAML); default: LOG.labels.json if present",
    )
    parser.add_argument(
        "--format",
        type=_import_format,
        metavar="FORMAT",
        help=f"the log's format, one of {', '.join(IMPORT_FORMATS)}; default: detected",
    )
    parser.add_argument("--step", metavar="COL", help="the step column (default: found)")
    parser.add_argument(
        "--value",
        metavar="COL",
        help="the value column, key or TensorBoard tag (default: the usual loss column)",
    )
    parser.add_argument(
        "--step-offset",
        type=cli_types.non_negative_int,
        metavar="N",
        help="add N to every step and label (default: 1 if the log has step 0, else 0)",
    )


def add_import_parser(commands: Any) -> None:
    """Add ``synthloss import`` to the subcommands (an argparse ``_SubParsersAction``)."""
    parser = commands.add_parser(
        "import",
        help="normalize a recorded log and its labels into our JSONL",
        description=_IMPORT_DESCRIPTION,
        epilog=_IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "log", metavar="LOG", help="the log file (or a TensorBoard or MLflow run directory)"
    )
    _add_source_arguments(parser)
    parser.add_argument(
        "--output", "-o", required=True, metavar="NAME.jsonl", help="the JSONL file to write"
    )
    parser.set_defaults(handler=import_log)


def add_plot_parser(commands: Any) -> None:
    """Add ``synthloss plot`` to the subcommands (an argparse ``_SubParsersAction``)."""
    parser = commands.add_parser(
        "plot",
        help="draw a curve or a recorded log with its events (needs matplotlib)",
        description="Draw a profile's curve, or a recorded LOG, with its ground-truth events "
        "marked (spikes, non-finite steps, divergence, plateaus, incidents, benign events) "
        "and the floor step. The output's extension picks the format (.png, .svg, .pdf...). "
        'Needs matplotlib: pip install "pytest-synthloss[plot]".',
        epilog="examples:\n  synthloss plot --profile spiky --steps 40 -o curve.png\n"
        "  synthloss plot runs/metrics.csv --labels incident.labels.json -o incident.svg",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "log", nargs="?", metavar="LOG", help="a recorded log to draw (instead of --profile)"
    )
    _add_source_arguments(parser)
    cli_types.add_steps_option(parser)
    parser.add_argument("--profile", metavar="NAME", help="default: stable")
    parser.add_argument(
        "--start-step",
        type=cli_types.positive_int,
        default=None,
        metavar="K",
        help="first step (default: 1)",
    )
    parser.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="the image to write (.png, .svg...)"
    )
    parser.set_defaults(handler=plot)


_SOURCE_OPTIONS = ("--labels", "--format", "--step", "--value", "--step-offset")
_PROFILE_OPTIONS = ("--profile", "--steps", "--start-step")


def _first_given(args: argparse.Namespace, options: tuple[str, ...]) -> str | None:
    """The first of ``options`` given on the command line (set to anything but ``None``)."""
    return next((o for o in options if getattr(args, o[2:].replace("-", "_")) is not None), None)


def _load(args: argparse.Namespace) -> ImportedLog:
    from pytest_synthloss.emulation.importers import load_recorded

    return load_recorded(
        args.log,
        format=args.format,
        step=args.step,
        value=args.value,
        labels=args.labels,
        step_offset=args.step_offset,
    )


def import_log(args: argparse.Namespace) -> int:
    from pytest_synthloss.core.files import OutputError
    from pytest_synthloss.emulation.importers import write_recorded

    if not args.output.endswith(".jsonl"):
        raise SynthLossError(f"the output must be a .jsonl file, got {args.output!r}")
    recorded = _load(args)
    try:
        labels_path = write_recorded(recorded, args.output)
    except OutputError as exc:
        raise WriteError(str(exc)) from None
    log = recorded.log
    shift = f", steps shifted by {recorded.step_offset}" if recorded.step_offset else ""
    skipped = f", {count_noun(log.skipped, 'record')} without it skipped" if log.skipped else ""
    print_line(
        f"read {count_noun(len(log), 'value')} of {log.value_column!r} by {log.step_column!r} from "
        f"{args.log} ({log.format}{skipped}{shift})"
    )
    labels = count_noun(len(recorded.labels), "label")
    print_line(f"wrote {args.output} and {labels_path} ({labels})")
    return 0


def plot(args: argparse.Namespace) -> int:
    from pytest_synthloss.core.curve import make_curve
    from pytest_synthloss.core.files import open_output
    from pytest_synthloss.exports.plotting import image_format, require_matplotlib, save_plot

    if args.log is not None:
        given = _first_given(args, _PROFILE_OPTIONS)
        if given:
            raise SynthLossError(f"{given} draws a profile; it does not go with a LOG")
        curve = _load(args).curve()
    else:
        given = _first_given(args, _SOURCE_OPTIONS)
        if given:
            raise SynthLossError(f"{given} applies to a recorded LOG; none was given")
        curve = make_curve(args.steps, args.profile or "stable", start_step=args.start_step or 1)
    require_matplotlib()
    fmt = image_format(args.output)
    output = open_output(args.output)
    try:
        with os.fdopen(os.dup(output.fd), "wb") as handle:
            save_plot(curve, handle, format=fmt)
        output.commit()
        output.close()
    except OSError as exc:
        raise WriteError(str(output.failed(exc))) from None
    finally:
        output.abort()
    print_line(f"wrote {args.output}")
    return 0
