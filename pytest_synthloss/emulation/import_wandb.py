"""Importing a metric from a W&B run file (``wandb/<run dir>/run-<id>.wandb``).

Every W&B run, offline or synced, keeps its records in ``run-<id>.wandb`` in its run
directory. The file is LevelDB's log format behind a ``:W&B`` header: 32 KiB blocks of
records, each with a CRC-32 of its type and data, a record split across blocks in
first/middle/last parts. Each record is a ``wandb.proto.wandb_internal_pb2.Record``
(parsed with W&B's own type, so ``wandb`` must be installed); its ``history`` records are
the rows ``run.log`` wrote (``_step``, ``_runtime``, ``_timestamp`` and the metrics, each
value as JSON: a NaN loss stays ``NaN``). :func:`read_wandb` reads the rows like a JSONL
history (:func:`~pytest_synthloss.emulation.import_tables.read_records`): the step is
``step=`` or ``_step``, the value ``value=`` or the usual loss names.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.extras import require_extra
from pytest_synthloss.emulation.import_tables import read_records
from pytest_synthloss.emulation.recorded_log import RecordedLog

__all__ = ["MAGIC", "history_rows", "is_wandb_run", "read_wandb", "records"]

#: The first bytes of a run file: ``:W&B``, 0xBEE1, version 0.
MAGIC = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
_RECORD = struct.Struct("<IHB")  # crc32 of type + data, data length, type
_BLOCK = 32 * 1024
_FULL, _FIRST, _LAST = 1, 2, 4


def _run_file(path: str) -> str | None:
    """The run file of a run directory, or ``path`` itself when it is one."""
    if not os.path.isdir(path):
        return path if path.endswith(".wandb") else None
    try:
        found = sorted(name for name in os.listdir(path) if name.endswith(".wandb"))
    except OSError:
        return None
    return os.path.join(path, found[0]) if len(found) == 1 else None


def is_wandb_run(path: str) -> bool:
    """A ``.wandb`` run file, or a run directory holding one."""
    return _run_file(path) is not None


def records(path: str) -> Iterator[Any]:
    """Every record of a run file, as ``wandb_internal_pb2.Record`` objects."""
    require_extra("wandb", "wandb", "reading W&B run files")
    from wandb.proto import wandb_internal_pb2

    origin = f"log {path!r}"
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SynthLossError(f"cannot read log {path!r}: {exc.strerror}") from None
    if data[: len(MAGIC)] != MAGIC:
        raise SynthLossError(f"{origin}: not a W&B run file (it starts {data[:7]!r})")
    pos, pending = len(MAGIC), b""
    while pos + _RECORD.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _RECORD.size:  # a block's tail too short for a record header is padding
            pos += left
            continue
        crc, length, kind = _RECORD.unpack_from(data, pos)
        body = data[pos + _RECORD.size : pos + _RECORD.size + length]
        if kind == 0 and length == 0:
            pos += _RECORD.size
            continue
        if len(body) != length or zlib.crc32(bytes([kind]) + body) != crc:
            raise SynthLossError(f"{origin}: a damaged record at byte {pos}")
        pos += _RECORD.size + length
        pending = body if kind in (_FULL, _FIRST) else pending + body
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def history_rows(path: str) -> list[dict[str, Any]]:
    """The history rows of a run file (``_step``, the metrics...), values decoded from JSON."""
    return [
        {
            "/".join(item.nested_key) or item.key: json.loads(item.value_json)
            for item in record.history.item
        }
        for record in records(path)
        if record.WhichOneof("record_type") == "history"
    ]


def read_wandb(path: str, *, step: str | None = None, value: str | None = None) -> RecordedLog:
    """The ``value`` metric of a run file (or of the run directory holding it)."""
    file = _run_file(path)
    if file is None:
        raise SynthLossError(
            f"log {path!r}: not a W&B run: expected a run-<id>.wandb file or the run "
            "directory holding one"
        )
    origin = f"log {file!r}"
    rows = history_rows(file)
    if not rows:
        raise SynthLossError(f"{origin}: the run has no history rows (nothing was logged)")
    columns = tuple(dict.fromkeys(key for row in rows for key in row))
    places = [(f"history row {index}", row) for index, row in enumerate(rows)]
    return read_records(places, columns, step, value, origin, "wandb", "row", "key")
