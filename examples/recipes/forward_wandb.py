"""Recipe: forward an emulated run's losses into W&B offline mode (test_forward_wandb.py).

W&B's ``run.log(..., step=k)`` keeps a step only if it is higher than every step logged
before: the steps a restarted run logs again are dropped (W&B prints "WARNING Tried to log
to step 6 that is less than the current step 8 ... this data will be ignored" on stderr,
nothing at all under ``WANDB_SILENT=true``, and raises nothing). So this recipe logs the
training step as a metric of its own, ``trainer/step``, declared as the loss's step
axis with ``define_metric``: W&B then keeps every line, repeats included.

``read_wandb_history`` reads an offline run file (``run-<id>.wandb``) back with W&B's own
record type (``wandb.proto.wandb_internal_pb2.Record``) through
:mod:`pytest_synthloss.emulation.import_wandb`, which reads the file's block format
(W&B ships no Python reader of it any more); ``load_log`` reads the same file.

Needs ``wandb``; no account or network: ``mode="offline"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_synthloss.emulation.import_wandb import history_rows, records

STEP_METRIC = "trainer/step"


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


def read_wandb_history(path: str | Path) -> list[dict[str, Any]]:
    """The run's history rows (``_step``, the metrics, ...), values decoded from JSON."""
    kinds = [record.WhichOneof("record_type") for record in records(str(path))]
    if "exit" not in kinds:
        raise ValueError(
            f"{path}: the run is not complete (no exit record); read it after run.finish() "
            "and wandb.teardown()"
        )
    return history_rows(str(path))


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
