"""Turning the logs people have into recorded curves: :func:`load_log` and :func:`read_recorded`.

The format is ``format=`` (one of :data:`~pytest_synthloss.emulation.log_formats.IMPORT_FORMATS`)
or detected from the file (:func:`~pytest_synthloss.emulation.log_formats.detect_format`
lists how); each format's reader is a module of its own.

Labels come from ``labels=`` (a file, or a list of ``{kind, start, end?, note?}``, see
:mod:`~pytest_synthloss.emulation.labels`), else from the sidecar file next to the log
(``<log>.labels.json``), else there are none.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Event
from pytest_synthloss.core.validation import MAX_STEP, check_int, check_path
from pytest_synthloss.emulation.labels import (
    SIDECAR_SUFFIXES,
    Label,
    find_sidecar,
    label_events,
    labels_to_json,
    parse_labels,
    read_labels,
    shift_labels,
)
from pytest_synthloss.emulation.log_formats import IMPORT_FORMATS, OUR_FORMATS, detect_format
from pytest_synthloss.emulation.recorded_log import RecordedLog, make_log

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = [
    "IMPORT_FORMATS",
    "OUR_FORMATS",
    "ImportedLog",
    "detect_format",
    "load_labels",
    "load_log",
    "load_recorded",
    "read_recorded",
    "run_name",
    "write_recorded",
]


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
    if fmt in ("tensorboard", "mlflow"):
        from pytest_synthloss.emulation.import_mlflow import read_mlflow
        from pytest_synthloss.emulation.import_tensorboard import read_tensorboard

        if step not in (None, "step"):
            kind = (
                "a TensorBoard scalar's step is the event's step"
                if fmt == "tensorboard"
                else ("an MLflow metric's step is its line's third field")
            )
            raise SynthLossError(f"log {where!r}: {kind}; step={step!r} does not apply")
        reader = read_tensorboard if fmt == "tensorboard" else read_mlflow
        return reader(where, value=value)
    if fmt == "wandb":
        from pytest_synthloss.emulation.import_wandb import read_wandb

        return read_wandb(where, step=step, value=value)
    if fmt == "trainer-state":
        from pytest_synthloss.emulation.import_hf import read_trainer_state

        return read_trainer_state(where, step=step, value=value)
    from pytest_synthloss.emulation.import_tables import (
        read_step_value,
        read_table_csv,
        read_table_jsonl,
    )

    if fmt == "step-value":
        _no_columns(where, fmt, step, value)
        return read_step_value(where)
    if fmt == "table-jsonl":
        return read_table_jsonl(where, step=step, value=value)
    return read_table_csv(where, step=step, value=value, fmt=fmt)


def _no_columns(path: str, fmt: str, step: str | None, value: str | None) -> None:
    given = "step" if step is not None else "value" if value is not None else None
    if given is not None:
        raise SynthLossError(
            f"log {path!r}: a {fmt} log has no named columns; {given}= does not apply"
        )


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
) -> tuple[tuple[Label, ...], str, str | None]:
    """The labels given (a file or a list), else the log's sidecar; where they came from,
    and the file's ``source`` text."""
    if labels is None:
        sidecar = find_sidecar(log_path)
        if sidecar is None:
            return (), "labels", None
        found, source = read_labels(sidecar)
        return found, sidecar, source
    if isinstance(labels, (str, os.PathLike)):
        where = check_path(labels, "labels file")
        found, source = read_labels(where)
        return found, where, source
    return parse_labels(labels), "labels", None


@dataclass(frozen=True)
class ImportedLog:
    """A log read with its labels: :meth:`curve` is the recorded curve.

    ``log`` holds the steps as logged; ``step_offset`` is added to them (and to the
    labels, which are in the log's numbering) to make the curve's steps. ``labels`` are
    on the curve's steps; ``events`` are the same, checked against the recorded steps.
    """

    log: RecordedLog
    labels: tuple[Label, ...]
    events: tuple[Event, ...]
    step_offset: int
    name: str
    source: str
    labels_origin: str = "labels"

    @property
    def steps(self) -> np.ndarray:
        """The curve's steps in log order (repeats included): the logged steps + offset."""
        return self.log.steps + self.step_offset

    def curve(self) -> LossCurve:
        """The recorded :class:`~pytest_synthloss.LossCurve`."""
        from pytest_synthloss.core.recorded import recorded_curve

        try:
            return recorded_curve(
                self.steps, self.log.values, self.events, name=self.name, source=self.source
            )
        except SynthLossError as exc:  # a label against the values (one on a NaN step)
            if not str(exc).startswith("label ") or self.labels_origin == "labels":
                raise
            shifted = f" (steps shifted by {self.step_offset})" if self.step_offset else ""
            raise SynthLossError(f"labels file {self.labels_origin!r}{shifted}: {exc}") from None


def load_recorded(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    step: str | None = None,
    value: str | None = None,
    labels: str | os.PathLike[str] | Iterable[Any] | None = None,
    step_offset: int | None = None,
    name: str | None = None,
) -> ImportedLog:
    """Read a log and its labels (the arguments of :func:`load_log`); no curve yet."""
    where = check_path(path, "log path")
    log = read_recorded(where, format=format, step=step, value=value)
    if not len(log):
        raise SynthLossError(
            f"log {where!r}: no values of {log.value_column!r} (by {log.step_column!r}); "
            "a recorded run needs at least one"
        )
    if step_offset is None:
        offset = 1 if int(log.steps.min()) == 0 else 0
    else:
        offset = check_int("step_offset", step_offset, 0, MAX_STEP)
    if int(log.steps.max()) > MAX_STEP - offset:
        raise SynthLossError(f"log {where!r}: step_offset={offset} takes a step past {MAX_STEP}")
    if offset == 0 and int(log.steps.min()) == 0:
        raise SynthLossError(
            f"log {where!r}: the log has step 0 and a curve's steps start at 1; "
            "pass step_offset=1 (--step-offset 1 on the command line), or leave it out, to "
            "shift every step and label by 1"
        )
    found, origin, _source = load_labels(labels, where)
    steps = log.steps + offset
    events = label_events(found, steps, origin, offset)
    return ImportedLog(
        log, shift_labels(found, offset), events, offset, name or run_name(where), where, origin
    )


def load_log(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    step: str | None = None,
    value: str | None = None,
    labels: str | os.PathLike[str] | Iterable[Any] | None = None,
    step_offset: int | None = None,
    name: str | None = None,
) -> LossCurve:
    """A recorded :class:`~pytest_synthloss.LossCurve` from a log file and its labels.

    ``format`` is one of :data:`IMPORT_FORMATS` (default: detected, see the module);
    ``step`` and ``value`` choose the columns (a tag for TensorBoard). ``labels`` is a
    labels file or a list of ``{kind, start, end?, note?}`` (or
    :class:`~pytest_synthloss.emulation.labels.Label` / ``Event``) in the log's step
    numbers; by default the sidecar file ``<log>.labels.json`` is read if there is one.
    A curve's steps start at 1: ``step_offset`` is added to every step and label, by
    default 1 for a log that counts from 0 (Lightning, W&B's ``_step``, MLflow) and 0
    otherwise. ``name`` defaults to the file's stem (``run`` for ``run.csv``); the
    curve's ``source`` is the path.
    """
    return load_recorded(
        path,
        format=format,
        step=step,
        value=value,
        labels=labels,
        step_offset=step_offset,
        name=name,
    ).curve()


def write_recorded(imported: ImportedLog, path: str | os.PathLike[str]) -> str:
    """Write ``imported`` as our JSONL at ``path`` and its labels next to it; return the
    labels file's path (``<path>.labels.json``).

    Every logged record is written, repeats included, on the curve's steps, so
    :func:`load_log` of ``path`` (which reads the labels file next to it) is the same
    curve. Both files are written whole or not at all; the labels file is always written
    (an empty one for no labels), so a stale one cannot attach to the new log.
    """
    from pytest_synthloss.core.curve import RunConfig
    from pytest_synthloss.core.files import open_output, write_all
    from pytest_synthloss.emulation.logwriter import LogWriter

    target = check_path(path, "output file")
    labels_path = target + SIDECAR_SUFFIXES[0]
    steps = imported.steps.tolist()
    config = RunConfig(imported.name, len(steps), int(min(steps)))
    buffer = io.StringIO()
    writer = LogWriter(buffer, "jsonl", config)
    writer.write(steps, imported.log.values.tolist())
    labels_text = labels_to_json(imported.labels, source=imported.source)
    log_output = open_output(target, "log")
    labels_output = None
    try:
        labels_output = open_output(labels_path, "labels file")
        write_all(log_output.fd, buffer.getvalue().encode("utf-8"))
        write_all(labels_output.fd, labels_text.encode("utf-8"))
        log_output.commit()
        labels_output.commit()
        log_output.close()
        labels_output.close()
    except OSError as exc:
        if labels_output is not None:
            labels_output.abort()
        raise log_output.failed(exc) from None
    finally:
        log_output.abort()
        if labels_output is not None:
            labels_output.abort()
    return labels_path


def run_name(path: str) -> str:
    """A recorded run's default name: the file's stem (``run`` for ``logs/run.csv``)."""
    return Path(path.rstrip("/")).stem or "recorded"
