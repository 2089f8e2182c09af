"""Turning the logs people have into recorded curves: :func:`load_log` and :func:`read_recorded`.

The format is ``format=`` (one of :data:`IMPORT_FORMATS`) or detected from the file:

- a directory, or a file whose name holds ``tfevents``: ``"tensorboard"``
  (:mod:`~pytest_synthloss.emulation.import_tensorboard`);
- a ``.json`` file, or one whose first line is a lone ``{``: ``"trainer-state"``, a
  Hugging Face ``trainer_state.json`` (:mod:`~pytest_synthloss.emulation.import_hf`);
- a first line ``Step ...`` or ``#...``: our ``"text"`` log; a first line that is a JSON
  object with ``step``, ``loss`` and ``profile``: our ``"jsonl"``; our CSV header: our
  ``"csv"``. These three are read by
  :func:`~pytest_synthloss.emulation.logreader.read_log`, so they keep every check it has;
- any other JSON-object line: ``"table-jsonl"``; any other first line: a CSV header,
  ``"lightning"`` when it has ``epoch`` and ``step`` columns (Lightning's ``CSVLogger``),
  else ``"table-csv"`` (W&B, MLflow and other exports:
  :mod:`~pytest_synthloss.emulation.import_tables`).

Labels come from ``labels=`` (a file, or a list of ``{kind, start, end?, note?}``, see
:mod:`~pytest_synthloss.emulation.labels`), else from the sidecar file next to the log
(``<log>.labels.json``), else there are none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_path
from pytest_synthloss.emulation.labels import (
    Label,
    check_labels,
    find_sidecar,
    parse_labels,
    read_labels,
)
from pytest_synthloss.emulation.recorded_log import RecordedLog, make_log

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = [
    "IMPORT_FORMATS",
    "OUR_FORMATS",
    "detect_format",
    "load_labels",
    "load_log",
    "read_recorded",
]

#: Our own log formats, read by read_log.
OUR_FORMATS = ("text", "jsonl", "csv")
#: Every format :func:`load_log` reads.
IMPORT_FORMATS = (
    *OUR_FORMATS,
    "tensorboard",
    "trainer-state",
    "lightning",
    "table-csv",
    "table-jsonl",
)
#: Bytes read to detect a format.
_SNIFF_BYTES = 1 << 16


def detect_format(path: str) -> str:
    """The format of the log at ``path``, as the module documentation describes."""
    from pytest_synthloss.emulation.import_tensorboard import is_event_file
    from pytest_synthloss.emulation.logwriter import CSV_HEADER

    if os.path.isdir(path):
        if is_event_file(path):
            return "tensorboard"
        raise SynthLossError(
            f"cannot read log {path!r}: a directory without TensorBoard event files "
            "(events.out.tfevents.*)"
        )
    if is_event_file(path):
        return "tensorboard"
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise SynthLossError(f"cannot read log {path!r}: {exc.strerror}") from None
    first = next((line for line in head.splitlines() if line.strip()), b"")
    try:
        text = first.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if not text or b"\0" in head:
        raise SynthLossError(
            f"cannot tell the format of log {path!r}: it is empty or not text; "
            f"pass format= (one of {', '.join(IMPORT_FORMATS)})"
        )
    if path.endswith(".json") or text == "{":
        return "trainer-state"
    if text.startswith(("Step ", "#")):
        return "text"
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return "table-jsonl"  # read_table_jsonl names the bad line
        ours = isinstance(record, dict) and {"step", "loss", "profile"} <= set(record)
        return "jsonl" if ours else "table-jsonl"
    if text == CSV_HEADER:
        return "csv"
    header = next(iter(_csv_header(text)), [])
    return "lightning" if {"epoch", "step"} <= set(header) else "table-csv"


def _csv_header(line: str) -> list[list[str]]:
    import csv

    try:
        return list(csv.reader([line]))
    except csv.Error:
        return []


def read_recorded(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    step: str | None = None,
    value: str | None = None,
) -> RecordedLog:
    """Read the recorded steps and values of a log (no labels, no curve).

    ``step`` and ``value`` name the step column and the value column (a tag for
    TensorBoard, a key for JSON); by default the usual loss column is found.
    """
    where = check_path(path, "log path")
    if format is not None and format not in IMPORT_FORMATS:
        raise SynthLossError(
            f"unknown log format {format!r}; known formats: {', '.join(IMPORT_FORMATS)}"
        )
    fmt = format or detect_format(where)
    if fmt in OUR_FORMATS:
        return _read_ours(where, fmt, step, value)
    if fmt == "tensorboard":
        from pytest_synthloss.emulation.import_tensorboard import read_tensorboard

        if step not in (None, "step"):
            raise SynthLossError(
                f"log {where!r}: a TensorBoard scalar's step is the event's step; "
                f"step={step!r} does not apply"
            )
        return read_tensorboard(where, value=value)
    if fmt == "trainer-state":
        from pytest_synthloss.emulation.import_hf import read_trainer_state

        return read_trainer_state(where, step=step, value=value)
    from pytest_synthloss.emulation.import_tables import read_table_csv, read_table_jsonl

    if fmt == "table-jsonl":
        return read_table_jsonl(where, step=step, value=value)
    return read_table_csv(where, step=step, value=value, fmt=fmt)


def _read_ours(path: str, fmt: str, step: str | None, value: str | None) -> RecordedLog:
    from pytest_synthloss.emulation.logreader import read_log

    for given, column in ((step, "step"), (value, "loss")):
        if given not in (None, column):
            raise SynthLossError(
                f"log {path!r}: our {fmt} log holds its loss by step; "
                f"{'step' if column == 'step' else 'value'}={given!r} does not apply"
            )
    parsed = read_log(path, fmt)
    return make_log(
        parsed.steps.tolist(),
        parsed.losses.tolist(),
        fmt,
        "step",
        "loss",
        ("step", "loss"),
    )


def load_labels(
    labels: str | os.PathLike[str] | Iterable[Any] | None, log_path: str
) -> tuple[tuple[Label, ...], str]:
    """The labels given (a file or a list), else the log's sidecar, and where they came from."""
    if labels is None:
        sidecar = find_sidecar(log_path)
        if sidecar is None:
            return (), "labels"
        return read_labels(sidecar)[0], sidecar
    if isinstance(labels, (str, os.PathLike)):
        where = check_path(labels, "labels file")
        return read_labels(where)[0], where
    return parse_labels(labels), "labels"


def load_log(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    step: str | None = None,
    value: str | None = None,
    labels: str | os.PathLike[str] | Iterable[Any] | None = None,
    name: str | None = None,
) -> LossCurve:
    """A recorded :class:`~pytest_synthloss.LossCurve` from a log file and its labels.

    ``format`` is one of :data:`IMPORT_FORMATS` (default: detected, see the module);
    ``step`` and ``value`` choose the columns (a tag for TensorBoard). ``labels`` is a
    labels file or a list of ``{kind, start, end?, note?}`` (or
    :class:`~pytest_synthloss.emulation.labels.Label` / ``Event``); by default the
    sidecar file ``<log>.labels.json`` is read if there is one. ``name`` defaults to the
    file's stem (``run`` for ``run.csv``).
    """
    from pytest_synthloss.core.recorded import recorded_curve

    log = read_recorded(path, format=format, step=step, value=value)
    where = check_path(path, "log path")
    found, origin = load_labels(labels, where)
    check_labels(found, log.steps, origin)
    return recorded_curve(
        log.steps,
        log.values,
        tuple(label.to_event() for label in found),
        name=name or run_name(where),
        source=where,
    )


def run_name(path: str) -> str:
    """A recorded run's default name: the file's stem (``run`` for ``logs/run.csv``)."""
    return Path(path.rstrip("/")).stem or "recorded"
