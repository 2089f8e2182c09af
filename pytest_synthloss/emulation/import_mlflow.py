"""Importing a metric from MLflow's file store (``mlruns/<experiment>/<run>/metrics/<key>``).

MLflow's file-based tracking store keeps each metric of a run in its own text file, one
line per logged value: ``TIMESTAMP VALUE STEP`` (milliseconds, the value as Python's
``repr`` of a float, ``nan`` and ``inf`` included, and the step; files from MLflow
before 1.0 have no step, which is then 0). A metric whose key holds ``/`` (``train/loss``)
is a file in a subdirectory. :func:`read_mlflow` reads such a file, or a run's directory
(or its ``metrics`` directory) with the metric ``value=`` (a key), else the first of
:data:`~pytest_synthloss.emulation.import_tables.VALUE_COLUMNS` the run has, else its only
metric. Lines are kept in file order (MLflow appends), so a repeated step stays visible.
"""

from __future__ import annotations

import os
import re

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.emulation.import_tables import VALUE_COLUMNS, text_lines
from pytest_synthloss.emulation.recorded_log import (
    RecordedLog,
    column_step,
    column_value,
    make_log,
    pick_column,
)

__all__ = ["is_mlflow_line", "is_mlflow_run", "read_mlflow"]

_LINE = re.compile(r"[0-9]+\s+\S+(\s+-?[0-9]+)?")


def is_mlflow_line(line: str) -> bool:
    """A metric file's line: ``TIMESTAMP VALUE STEP`` (``TIMESTAMP VALUE`` before MLflow 1.0).

    Only the three-field form is detected: two fields are torchtitan's ``STEP VALUE``.
    """
    return _LINE.fullmatch(line) is not None and len(line.split()) == 3


def _metrics_dir(path: str) -> str | None:
    """The ``metrics`` directory of a run directory (or the directory itself)."""
    if os.path.basename(os.path.normpath(path)) == "metrics":
        return path
    inner = os.path.join(path, "metrics")
    return inner if os.path.isdir(inner) else None


def is_mlflow_run(path: str) -> bool:
    """A run's directory of MLflow's file store (it holds ``metrics/``), or that ``metrics``."""
    return os.path.isdir(path) and _metrics_dir(path) is not None


def _keys(metrics: str) -> tuple[str, ...]:
    found = []
    for root, _dirs, files in os.walk(metrics):
        for name in files:
            found.append(os.path.relpath(os.path.join(root, name), metrics).replace(os.sep, "/"))
    return tuple(sorted(found))


def read_mlflow(path: str, *, value: str | None = None) -> RecordedLog:
    """The metric of an MLflow metric file, or of a run directory (``value=`` the key)."""
    origin = f"log {path!r}"
    metrics = _metrics_dir(path) if os.path.isdir(path) else None
    if metrics is None:
        if os.path.isdir(path):
            raise SynthLossError(f"{origin}: not an MLflow run directory (no 'metrics' in it)")
        if value is not None:
            raise SynthLossError(
                f"{origin}: an MLflow metric file holds one metric; value={value!r} applies "
                "to a run directory"
            )
        parts = os.path.normpath(path).split(os.sep)
        after = len(parts) - parts[::-1].index("metrics") if "metrics" in parts[:-1] else -1
        key = "/".join(parts[after:])  # metrics/train/loss is the key train/loss
        file = path
    else:
        keys = _keys(metrics)
        if not keys:
            raise SynthLossError(f"{origin}: the run has no metrics")
        only = (keys[0],) if len(keys) == 1 and value is None else ()
        key = pick_column(keys, value, only + VALUE_COLUMNS[:-1], "metric", origin, "value=")
        file = os.path.join(metrics, *key.split("/"))
        origin = f"log {file!r}"
    steps: list[int] = []
    values: list[float] = []
    for number, raw in enumerate(text_lines(file), start=1):
        fields = raw.split()
        if not fields:
            continue
        where = f"{origin}: line {number}"
        if len(fields) not in (2, 3):
            raise SynthLossError(
                f"{where}: expected 3 fields (TIMESTAMP VALUE STEP), got {len(fields)}: "
                f"{raw.strip()[:80]!r}"
            )
        loss = column_value(fields[1], f"{where}, field VALUE")
        assert loss is not None  # a split field is never empty
        values.append(loss)
        steps.append(column_step(fields[2], f"{where}, field STEP") if len(fields) == 3 else 0)
    return make_log(steps, values, "mlflow", "step", key, (key,) if metrics is None else keys)
