"""Importing a loss from a table: CSV or JSONL with a step and a value column.

These cover the exports people have:

- W&B: a chart's "Export CSV" (``"Step","<run> - train/loss","<run> - train/loss__MIN",
  "<run> - train/loss__MAX"``) and a run's history (``run.history()`` or
  ``run.scan_history()`` written as CSV or JSONL: ``_step``, ``train/loss``, ...; a row
  where the chosen metric is empty or ``null`` holds another metric and is skipped);
- MLflow: a metric's history (``MlflowClient().get_metric_history(run_id, "loss")``
  written as rows of ``key``, ``value``, ``timestamp``, ``step``; with several keys in one
  table, ``value="loss"`` picks the rows of that key);
- Lightning's ``CSVLogger`` ``metrics.csv`` (``epoch``, ``step``, ``train_loss``, ...: a row
  logs only some metrics, the others are empty cells and the row is skipped for them);
- plain ``STEP VALUE`` lines without a header (:func:`read_step_value`), as torchtitan's
  ``scripts/loss_compare.py --export-result`` writes its reference loss files.

The step column is ``step=`` or the first of :data:`STEP_COLUMNS` the table has; the
value column is ``value=`` or the first of :data:`VALUE_COLUMNS`. Steps are integers >= 0
(``12.0`` is step 12); values are numbers, ``NaN``/``inf``/``-inf`` included.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.emulation.loglines import utf8_lines
from pytest_synthloss.emulation.recorded_log import (
    RecordedLog,
    column_step,
    column_value,
    make_log,
    pick_column,
)

__all__ = [
    "STEP_COLUMNS",
    "VALUE_COLUMNS",
    "read_records",
    "read_step_value",
    "read_table_csv",
    "read_table_jsonl",
    "text_lines",
]

#: Step columns tried in order (ours, W&B chart export, W&B history, HF, Lightning/others).
STEP_COLUMNS = ("step", "Step", "_step", "global_step", "trainer/global_step", "iteration")
#: Value columns tried in order (then W&B's ``"<run> - <column>"`` form of each).
VALUE_COLUMNS = (
    "loss",
    "train/loss",
    "train_loss",
    "train_loss_step",
    "training_loss",
    "train/loss_step",
    "value",
)


def text_lines(path: str) -> Iterator[str]:
    """The lines of a text file (undecodable bytes kept as surrogates for the error)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            yield from utf8_lines(handle)
    except OSError as exc:
        raise SynthLossError(f"cannot read log {path!r}: {exc.strerror}") from None


def read_table_csv(
    path: str, *, step: str | None = None, value: str | None = None, fmt: str = "table-csv"
) -> RecordedLog:
    """The step/value columns of a CSV file with a header row (see the module)."""
    origin = f"log {path!r}"
    reader = csv.reader(text_lines(path))
    try:
        header = next(reader)
    except StopIteration:
        raise SynthLossError(f"{origin}: the file is empty; expected a header row") from None
    except csv.Error as exc:
        raise SynthLossError(f"{origin}: line 1: invalid CSV ({exc})") from None
    columns = tuple(header)
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(columns):
                raise SynthLossError(
                    f"{origin}: line {reader.line_num}: expected {len(columns)} fields "
                    f"(the header's), got {len(row)}"
                )
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise SynthLossError(f"{origin}: line {reader.line_num}: invalid CSV ({exc})") from None
    records = [(f"line {number}", dict(zip(columns, row, strict=True))) for number, row in rows]
    return read_records(records, columns, step, value, origin, fmt, "row", "column")


def _metric_key(records: list[tuple[str, dict[str, Any]]], value: str | None, origin: str) -> str:
    """The key to keep in a table of MLflow's ``key``/``value`` rows: ``value=``, else the
    only key, else the first of :data:`VALUE_COLUMNS` present."""
    keys = tuple(dict.fromkeys(str(record.get("key")) for _place, record in records))
    if value is not None:
        return value
    only = keys if len(keys) == 1 else ()
    return pick_column(keys, None, (*only, *VALUE_COLUMNS[:-1]), "key", origin, "value=")


def read_records(
    records: list[tuple[str, dict[str, Any]]],
    columns: tuple[str, ...],
    step: str | None,
    value: str | None,
    origin: str,
    fmt: str,
    noun: str,
    field: str,
) -> RecordedLog:
    """The step/value of each record (a CSV row, a JSON object..., after where it is: "line 3").

    With MLflow's ``key``/``value`` columns and no value column named ``value=``, only the
    rows of one key are kept (:func:`_metric_key`).
    """
    step_name = pick_column(columns, step, STEP_COLUMNS, "step", origin, "step=")
    keyed = (value is None or value not in columns) and {"key", "value"} <= set(columns)
    key = _metric_key(records, value, origin) if keyed else None
    value_name = (
        "value" if keyed else pick_column(columns, value, VALUE_COLUMNS, "value", origin, "value=")
    )
    steps: list[int] = []
    values: list[float] = []
    skipped = 0
    for place, record in records:
        where = f"{origin}: {place}"
        if keyed and record.get("key") != key:
            skipped += 1
            continue
        loss = column_value(record.get(value_name), f"{where}, {field} {value_name!r}")
        if loss is None:
            skipped += 1
            continue
        if step_name not in record:
            raise SynthLossError(f"{where}: no {step_name!r} {field} for the value {loss!r}")
        steps.append(column_step(record[step_name], f"{where}, {field} {step_name!r}"))
        values.append(loss)
    if keyed and not steps:
        raise SynthLossError(f"{origin}: no {noun} has key {key!r} ({field} 'key')")
    return make_log(
        steps, values, fmt, step_name, str(key) if keyed else value_name, columns, skipped
    )


def read_table_jsonl(
    path: str, *, step: str | None = None, value: str | None = None
) -> RecordedLog:
    """The step/value keys of a JSON-lines file (one object per line; see the module)."""
    origin = f"log {path!r}"
    records: list[tuple[str, dict[str, Any]]] = []
    columns: dict[str, None] = {}
    for number, raw in enumerate(text_lines(path), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, RecursionError, ValueError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid"
            raise SynthLossError(f"{origin}: line {number}: invalid JSON ({reason})") from None
        if not isinstance(record, dict):
            raise SynthLossError(f"{origin}: line {number}: not a JSON object")
        columns.update(dict.fromkeys(record))
        records.append((f"line {number}", record))
    found = tuple(columns)
    if not records:
        raise SynthLossError(f"{origin}: the file holds no JSON objects")
    return read_records(records, found, step, value, origin, "table-jsonl", "record", "key")


def read_step_value(path: str) -> RecordedLog:
    """Lines of ``STEP VALUE`` separated by whitespace (blank lines and ``#`` comments
    skipped), such as torchtitan's reference loss files."""
    origin = f"log {path!r}"
    steps: list[int] = []
    values: list[float] = []
    for number, raw in enumerate(text_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        where = f"{origin}: line {number}"
        if len(fields) != 2:
            raise SynthLossError(
                f"{where}: expected 2 fields (STEP VALUE), got {len(fields)}: {line[:80]!r}"
            )
        loss = column_value(fields[1], where)
        assert loss is not None  # a split field is never empty
        steps.append(column_step(fields[0], where))
        values.append(loss)
    return make_log(steps, values, "step-value", "step", "value", ("step", "value"))
