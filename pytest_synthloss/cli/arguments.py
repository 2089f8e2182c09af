"""The ``synthloss`` CLI's argument types: each converts one option's text or raises
``argparse.ArgumentTypeError`` with a one-line reason (argparse prefixes the option name).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import (
    MAX_SLEEP_SECONDS,
    MAX_STEP,
    check_float,
    check_lr,
    parse_float,
    parse_int,
    parse_port,
)

if TYPE_CHECKING:
    from pytest_synthloss.core.faults import Faults

__all__ = [
    "Parser",
    "UsageError",
    "WriteError",
    "add_steps_option",
    "drop",
    "dropped",
    "expand",
    "fault_type",
    "int_ranges",
    "lr",
    "non_negative_int",
    "optional_list",
    "port",
    "positive_int",
    "profile_list",
    "sleep_seconds",
    "sweep_steps",
]


class UsageError(Exception):
    """A bad command line: reported as one line, exit code 2."""


class WriteError(Exception):
    """An output that failed while being written: reported as one line, exit code 1."""


class Parser(argparse.ArgumentParser):
    """argparse with our errors: a usage error raises ``UsageError`` (one line, exit 2), a
    help text that cannot be written raises ``WriteError`` (exit 1)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse, but an unknown option is reported by its subcommand's parser."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            owner: argparse.ArgumentParser = self
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                    owner = action.choices[command]
            owner.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def print_help(self, file: Any = None) -> None:
        if file is None and sys.stdout is None:
            raise WriteError("cannot write to stdout: it is closed")
        super().print_help(file)

    def _print_message(self, message: str, file: Any = None) -> None:
        """Print help; unlike argparse, a failed write is not ignored (exit code 1)."""
        if message:
            stream = file or sys.stderr
            if stream is None:
                raise WriteError("cannot write to stdout: it is closed")
            try:
                stream.write(message)
                stream.flush()
            except OSError as exc:
                raise WriteError(f"cannot write to stdout: {exc.strerror or exc}") from None


def _argument(check: Callable[[], Any]) -> Any:
    """Run a check of :mod:`pytest_synthloss.checks`; its message without the subject
    ("must be ...") is what argparse shows after the option's name."""
    try:
        return check()
    except SynthLossError as exc:
        raise argparse.ArgumentTypeError(str(exc).partition(" ")[2]) from None


def positive_int(text: str) -> int:
    return int(_argument(lambda: parse_int(text, "value")))


def non_negative_int(text: str) -> int:
    return int(_argument(lambda: parse_int(text, "value", minimum=0)))


def sleep_seconds(text: str) -> float:
    def check() -> float:
        try:
            value = parse_float(text, "value")
        except SynthLossError:
            value = math.nan
        return check_float(
            "value",
            value,
            minimum=0.0,
            maximum=MAX_SLEEP_SECONDS,
            allowed=f"of seconds from 0 to {MAX_SLEEP_SECONDS}",
        )

    try:
        return float(_argument(check))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds from 0 to {MAX_SLEEP_SECONDS}, got {text!r}"
        ) from None


def lr(text: str) -> float:
    try:
        value = check_lr(parse_float(text, "lr"))
    except SynthLossError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


_ANY = 10**100


def int_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """``"5,10,18..20"`` -> ``((5, 5), (10, 10), (18, 20))``: ``A..B`` inclusive, not expanded.

    Every end is checked against :data:`~pytest_synthloss.profiles.MAX_STEP` here; the
    caller bounds the ranges' sizes before expanding them.
    """
    ranges: list[tuple[int, int]] = []
    for part in text.split(","):
        low, dots, high = part.strip().partition("..")
        try:  # any size here: the end past the last step is named below
            first = parse_int(low, "value", 1, _ANY)
            last = parse_int(high, "value", 1, _ANY) if dots else first
        except SynthLossError:
            first = last = 0
        if first and last < first:
            raise argparse.ArgumentTypeError(
                f"a range A..B needs A <= B, got {part.strip()!r} (write {last}..{first})"
            )
        if not first:
            raise argparse.ArgumentTypeError(
                f"must be integers >= 1 or ranges A..B, comma-separated, got {part.strip()!r}"
            )
        if last > MAX_STEP:
            raise argparse.ArgumentTypeError(
                f"{last} is past the last step {MAX_STEP}, got {part.strip()!r}"
            )
        ranges.append((first, last))
    return tuple(ranges)


def expand(ranges: Sequence[tuple[int, int]], limit: int, why: str) -> list[int]:
    """The values of ``ranges``, refusing (before expanding) more than ``limit`` of them."""
    count = sum(last - first + 1 for first, last in ranges)
    if count > limit:
        raise SynthLossError(f"{count} values are listed; at most {limit} are allowed ({why})")
    return [value for first, last in ranges for value in range(first, last + 1)]


def sweep_steps(text: str) -> list[int]:
    from pytest_synthloss.core.sweeps import MAX_SWEEP_CONFIGS

    try:
        why = "a sweep runs at most that many configs"
        return expand(int_ranges(text), MAX_SWEEP_CONFIGS, why)
    except SynthLossError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def profile_list(text: str) -> str | list[str]:
    names = [part.strip() for part in text.split(",")]
    if text.strip() == "all":
        return "all"
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated profile names or 'all', got {text!r}"
        )
    return names


def fault_type(kind: str, form: str) -> Callable[[str], Faults]:
    """An argparse type: ``"12:0.5"`` -> ``Faults(stall=(12, 0.5))`` and the like."""

    def parse(text: str) -> Faults:
        from pytest_synthloss.core.faults import Faults

        parts = text.split(":")
        resume = None
        if kind == "restart" and len(parts) > 2:  # STEP:BACK:MODE[:BATCHES[:DIP]]
            from pytest_synthloss.core.resumes import parse_resume

            try:
                resume = parse_resume(parts[2:])
            except SynthLossError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
            parts = parts[:2]
        try:
            numbers = [int(p) for p in parts[:1]] + [
                float(p) if kind == "stall" and not p.strip().isdigit() else int(p)
                for p in parts[1:]
            ]
        except ValueError:
            numbers = []
        if not numbers or len(parts) > 2 or (kind != "crash" and len(parts) != 2):
            raise argparse.ArgumentTypeError(f"must be {form}, got {text!r}")
        value: Any = numbers[0] if len(numbers) == 1 else tuple(numbers)
        try:
            return Faults(**{kind: value}, resume=resume)
        except SynthLossError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def drop(text: str) -> tuple[tuple[int, int], ...]:
    """``--drop``'s ranges, checked against the run and expanded by :func:`dropped`."""
    return int_ranges(text)


def dropped(ranges: Sequence[tuple[int, int]], steps: int, start_step: int) -> Faults:
    """The ``--drop`` fault, each range checked against the run before it is expanded."""
    from pytest_synthloss.core.faults import MAX_DROPPED_STEPS, Faults

    first, last = start_step, start_step + steps - 1
    for low, high in ranges:
        for step in (low, high):
            if not first <= step <= last:
                raise SynthLossError(
                    f"dropped step {step} is outside the run; the run's steps are {first}..{last}"
                )
    try:
        return Faults(drop=expand(ranges, MAX_DROPPED_STEPS, "the most dropped steps of a run"))
    except SynthLossError as exc:
        raise SynthLossError(f"argument --drop: {exc}") from None


def label(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` for ``--label``: a Prometheus label name and any value."""
    from pytest_synthloss.exports.promtool import check_labels

    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    checked = _argument(lambda: check_labels({key: value}, "label"))
    return key, str(checked[key])


def port(text: str) -> int:
    return int(_argument(lambda: parse_port(text, "port")))


def optional_list(convert: Callable[[str], object]) -> Callable[[str], list[object]]:
    def parse(text: str) -> list[object]:
        return [
            None if part.strip().lower() == "none" else convert(part.strip())
            for part in text.split(",")
        ]

    return parse


def add_steps_option(parser: argparse.ArgumentParser) -> None:
    """``--steps N``: a run's length, by default the profile's natural one."""
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        metavar="N",
        help="number of steps; default: the profile's natural length (20 for stable)",
    )
