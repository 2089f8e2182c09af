"""The log formats :func:`~pytest_synthloss.emulation.importers.load_log` reads, and
:func:`detect_format`, which tells them apart.

A log's format is given (one of :data:`IMPORT_FORMATS`) or detected from the file:

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
  :mod:`~pytest_synthloss.emulation.import_tables`);
- a first line ``STEP VALUE`` (two fields, whitespace between): ``"step-value"``, as
  torchtitan's reference loss files;
- a first line ``TIMESTAMP VALUE STEP``, or a directory holding ``metrics/``: ``"mlflow"``,
  a metric file of MLflow's file store or a run's directory
  (:mod:`~pytest_synthloss.emulation.import_mlflow`);
- a ``.wandb`` file, one that starts with W&B's header, or a directory holding one:
  ``"wandb"``, a W&B run file (:mod:`~pytest_synthloss.emulation.import_wandb`).
"""

from __future__ import annotations

import json
import os
import re

from pytest_synthloss.core.errors import SynthLossError

__all__ = ["IMPORT_FORMATS", "OUR_FORMATS", "detect_format"]

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
    "step-value",
    "mlflow",
    "wandb",
)
_STEP_VALUE = re.compile(r"[0-9]+\s+\S+")
#: Bytes read to detect a format.
_SNIFF_BYTES = 1 << 16


def detect_format(path: str) -> str:
    """The format of the log at ``path``, as the module documentation describes."""
    from pytest_synthloss.emulation.import_mlflow import is_mlflow_line, is_mlflow_run
    from pytest_synthloss.emulation.import_tensorboard import is_event_file
    from pytest_synthloss.emulation.import_wandb import MAGIC, is_wandb_run
    from pytest_synthloss.emulation.logwriter import CSV_HEADER

    if os.path.isdir(path):
        if is_event_file(path):
            return "tensorboard"
        if is_mlflow_run(path):
            return "mlflow"
        if is_wandb_run(path):
            return "wandb"
        raise SynthLossError(
            f"cannot read log {path!r}: a directory without TensorBoard event files "
            "(events.out.tfevents.*), MLflow metrics (metrics/<key>) or a W&B run file "
            "(run-<id>.wandb)"
        )
    if is_event_file(path):
        return "tensorboard"
    if is_wandb_run(path):
        return "wandb"
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise SynthLossError(f"cannot read log {path!r}: {exc.strerror}") from None
    if head.startswith(MAGIC):
        return "wandb"
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
    if _STEP_VALUE.fullmatch(text):
        return "step-value"
    if is_mlflow_line(text):
        return "mlflow"
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return "table-jsonl"  # read_table_jsonl names the bad line
        ours = isinstance(record, dict) and {"step", "loss", "profile"} <= set(record)
        return "jsonl" if ours else "table-jsonl"
    if text.startswith(CSV_HEADER):  # and a timed log's longer header
        return "csv"
    header = next(iter(_csv_header(text)), [])
    return "lightning" if {"epoch", "step"} <= set(header) else "table-csv"


def _csv_header(line: str) -> list[list[str]]:
    import csv

    try:
        return list(csv.reader([line]))
    except csv.Error:
        return []
