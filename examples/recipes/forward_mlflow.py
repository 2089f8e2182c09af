"""Recipe: forward an emulated run's losses into MLflow (tested by test_forward_mlflow.py).

Works with anything that yields ``(step, loss)`` pairs: a ``LossCurve``, or the
``ParsedLog`` that ``read_log`` (or ``TrainingRun.read()``) gives for a ``synthloss
train`` log, restarts and gaps included. MLflow keeps every line, in the order logged:
steps repeated after a restart stay, and NaN and +/-inf come back as they went in.

Needs ``mlflow`` or ``mlflow-skinny``. MLflow 3.x refuses the ``file:`` store ("in
maintenance mode") unless the environment sets ``MLFLOW_ALLOW_FILE_STORE=true``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

#: MLflow accepts at most 1000 metrics per ``log_batch`` call.
BATCH = 1000


def forward_to_mlflow(
    pairs: Iterable[tuple[int, float]],
    tracking_uri: str,
    *,
    metric: str = "train_loss",
    experiment: str = "synthloss",
    times: Iterable[float] | None = None,
    start_ms: int | None = None,
) -> str:
    """Log every ``(step, loss)`` as ``metric`` into a new MLflow run; return its id.

    ``times`` (seconds since the run started, one per pair: ``ParsedLog.times``) become the
    metrics' timestamps, ``start_ms`` plus the time in whole milliseconds (default start:
    now); without them each line is stamped with the start.
    """
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    start = int(time.time() * 1000) if start_ms is None else start_ms
    run = client.create_run(experiment_id, start_time=start)
    lines = list(pairs)
    offsets = [0] * len(lines) if times is None else [round(t * 1000) for t in times]
    if len(offsets) != len(lines):
        raise ValueError(f"times has {len(offsets)} entries for {len(lines)} lines")
    metrics = [
        Metric(metric, float(loss), start + offset, int(step))
        for (step, loss), offset in zip(lines, offsets, strict=True)
    ]
    for first in range(0, len(metrics), BATCH):
        client.log_batch(run.info.run_id, metrics=metrics[first : first + BATCH])
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)
