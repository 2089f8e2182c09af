"""Write a curve as a TensorBoard event file, for testing code that reads TensorBoard logs.

Needs the ``tensorboard`` extra (``pip install "pytest-synthloss[tensorboard]"``), imported
only when :func:`write_tensorboard` is called. TensorFlow is not needed.

Precision: by default each loss is written as a float64 scalar *tensor* summary
(``DT_DOUBLE``, tagged for the scalars plugin, as ``tf.summary.scalar`` writes, but in
float64), so a reader gets back exactly the curve's float64 values. ``dtype="float32"``
writes the legacy ``simple_value`` field instead, as ``torch.utils.tensorboard`` and
``tensorboardX`` do: readers then get ``float(numpy.float32(loss))``, exactly, not the
float64 loss (``1.5499999999999998`` comes back as ``1.5499999523162842``).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Literal

from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["write_tensorboard"]

_CHUNK = 1 << 16


def write_tensorboard(
    curve: LossCurve,
    logdir: str | os.PathLike[str],
    *,
    tag: str = "train/loss",
    dtype: Literal["float64", "float32"] = "float64",
    wall_time: float | None = None,
    seconds_per_step: float = 1.0,
) -> Path:
    """Write ``curve`` under ``tag`` to a new event file in ``logdir``; return its path.

    One event per step, with the step number as TensorBoard's step. Wall times start at
    ``wall_time`` (default: now) and advance ``seconds_per_step`` per step. ``logdir`` is
    created if needed. See the module documentation for ``dtype``.
    """
    if not isinstance(curve, LossCurve):
        raise SynthLossError(
            f"curve must be a LossCurve (see make_curve), got {curve!r} ({type(curve).__name__})"
        )
    if not isinstance(tag, str) or not tag:
        raise SynthLossError(f"tag must be a non-empty string, got {tag!r}")
    if dtype not in ("float64", "float32"):
        raise SynthLossError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    for name, value in (("wall_time", wall_time), ("seconds_per_step", seconds_per_step)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise SynthLossError(f"{name} must be a number >= 0, got {value!r}")
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:  # pragma: no cover - depends on the environment
        raise SynthLossError(
            'write_tensorboard needs tensorboard: pip install "pytest-synthloss[tensorboard]"'
        ) from None

    start = time.time() if wall_time is None else float(wall_time)
    directory = Path(logdir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (
        f"events.out.tfevents.{int(start):010d}.{socket.gethostname()}.{os.getpid()}."
        f"{time.monotonic_ns()}.synthloss"
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
    with open(path, "xb") as handle:
        writer = RecordWriter(handle)
        header = event_pb2.Event(wall_time=start, file_version="brain.Event:2")
        writer.write(header.SerializeToString())
        first = True
        for chunk in curve.iter_chunks(_CHUNK):
            for step, loss in zip(chunk.steps.tolist(), chunk.losses.tolist(), strict=True):
                event = event_pb2.Event(
                    wall_time=start + (step - curve.start_step) * seconds_per_step, step=step
                )
                if dtype == "float32":
                    value = event.summary.value.add(tag=tag, simple_value=loss)
                else:
                    value = event.summary.value.add(
                        tag=tag,
                        tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, double_val=[loss]),
                    )
                    if first:
                        value.metadata.CopyFrom(metadata)
                first = False
                writer.write(event.SerializeToString())
        writer.flush()
    return path
