"""Recipe: forward an emulated run's losses into W&B offline mode (test_forward_wandb.py).

W&B's ``run.log(..., step=k)`` keeps a step only if it is higher than every step logged
before: the steps a restarted run logs again are dropped (W&B prints "WARNING Tried to log
to step 6 that is less than the current step 8 ... this data will be ignored" on stderr,
nothing at all under ``WANDB_SILENT=true``, and raises nothing). So this recipe logs the
training step as a metric of its own, ``trainer/step``, declared as the loss's step
axis with ``define_metric``: W&B then keeps every line, repeats included.

``read_wandb_history`` reads an offline run file (``run-<id>.wandb``) back with W&B's own
record type (``wandb.proto.wandb_internal_pb2.Record``); W&B ships no Python reader of the
file itself any more, so the few lines of its block format (LevelDB's log format with a
``:W&B`` header) are read here, checksums included.

Needs ``wandb``; no account or network: ``mode="offline"``.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

STEP_METRIC = "trainer/step"
_HEADER = struct.Struct("<4sHB")  # ":W&B", 0xBEE1, version 0
_RECORD = struct.Struct("<IHB")  # crc32 of type + data, data length, type
_BLOCK = 32 * 1024
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def forward_to_wandb(
    pairs: Iterable[tuple[int, float]],
    directory: str | Path,
    *,
    metric: str = "train_loss",
    project: str = "synthloss",
) -> Path:
    """Log every ``(step, loss)`` into a new offline W&B run; return its ``.wandb`` file."""
    import wandb

    run = wandb.init(project=project, dir=str(directory), mode="offline")
    run.define_metric(STEP_METRIC)
    run.define_metric(metric, step_metric=STEP_METRIC)
    for step, loss in pairs:
        run.log({metric: float(loss), STEP_METRIC: int(step)})
    run.finish()
    wandb.teardown()  # the file is written in the background: wait until it is complete
    return run_file(directory, run.id)


def forward_with_step(
    pairs: Iterable[tuple[int, float]],
    directory: str | Path,
    *,
    metric: str = "train_loss",
    project: str = "synthloss",
) -> Path:
    """The usual ``run.log({metric: loss}, step=step)``: W&B drops the repeated steps."""
    import wandb

    run = wandb.init(project=project, dir=str(directory), mode="offline")
    for step, loss in pairs:
        run.log({metric: float(loss)}, step=int(step))
    run.finish()
    wandb.teardown()
    return run_file(directory, run.id)


def run_file(directory: str | Path, run_id: str) -> Path:
    """The offline run file of run ``run_id`` under ``directory``."""
    (found,) = Path(directory).glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")
    return found


def records(path: str | Path) -> Iterator[Any]:
    """Every record of an offline run file, as ``wandb_internal_pb2.Record`` objects."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[: _HEADER.size] != _HEADER.pack(b":W&B", 0xBEE1, 0):
        raise ValueError(f"{path}: not a W&B run file (header {data[:7]!r})")
    pos, pending = _HEADER.size, b""
    while pos + _RECORD.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _RECORD.size:  # a block's tail too short for a record header is padding
            pos += left
            continue
        crc, length, kind = _RECORD.unpack_from(data, pos)
        body = data[pos + _RECORD.size : pos + _RECORD.size + length]
        pos += _RECORD.size + length
        if kind == 0 and length == 0:
            continue
        if zlib.crc32(bytes([kind]) + body) != crc:
            raise ValueError(f"{path}: bad checksum at byte {pos - length - _RECORD.size}")
        pending = body if kind in (_FULL, _FIRST) else pending + body
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def read_wandb_history(path: str | Path) -> list[dict[str, Any]]:
    """The run's history rows (``_step``, the metrics, ...), values decoded from JSON."""
    rows = []
    kinds = []
    for record in records(path):
        kinds.append(record.WhichOneof("record_type"))
        if kinds[-1] == "history":
            rows.append(
                {
                    "/".join(item.nested_key) or item.key: json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    if "exit" not in kinds:
        raise ValueError(
            f"{path}: the run is not complete (no exit record); read it after run.finish() "
            "and wandb.teardown()"
        )
    return rows


def logged_pairs(
    path: str | Path, metric: str = "train_loss", step: str = STEP_METRIC
) -> list[tuple[int, float]]:
    """``(step, loss)`` of every history row holding ``metric``, the step from ``step``."""
    return [
        (int(row[step]), float(row[metric])) for row in read_wandb_history(path) if metric in row
    ]


def same(a: float, b: float) -> bool:
    """Equal, or both NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))
