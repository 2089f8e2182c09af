"""Write a curve as a TensorBoard event file, for testing code that reads TensorBoard logs.

Needs the ``tensorboard`` extra (``pip install "pytest-synthloss[tensorboard]"``), imported
only when :func:`write_tensorboard` is called. TensorFlow is not needed.

Precision: by default (``dtype="float32"``) each loss is written as the ``simple_value``
field, as ``torch.utils.tensorboard``'s ``add_scalar`` and ``tensorboardX`` do: stock
``tensorboard --logdir`` (its fast loader) and ``EventAccumulator.Scalars`` both show it,
and readers get ``float(numpy.float32(loss))`` exactly (``1.5499999999999998`` comes back as
``1.5499999523162842``). ``dtype="float64"`` (opt-in) writes a float64 scalar *tensor*
summary (``DT_DOUBLE``) so a reader of tensors gets the curve's float64 values exactly;
stock TensorBoard's fast loader shows no scalars for it, and ``EventAccumulator`` has it
under ``Tensors``, not ``Scalars``.

A curve whose profile has linked signals (:mod:`pytest_synthloss.core.signals`) also
writes each of them, under the tag's prefix: ``train/grad_norm``, ``train/learning_rate``,
``train/loss_scale`` and ``train/step_time`` for the default ``train/loss`` (the same
event as the loss, same step and wall time, same ``dtype``).

Wall times are real: by default the run *ends now* (its last step's wall time is the
time of the call), each step ``seconds_per_step`` after the one before; ``wall_time``
sets the first step's time instead.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.extras import require_extra
from pytest_synthloss.core.files import open_output
from pytest_synthloss.core.validation import MAX_WALL_TIME, check_float, check_path

__all__ = ["write_tensorboard"]

_CHUNK = 1 << 16


def write_tensorboard(
    curve: LossCurve,
    logdir: str | os.PathLike[str],
    *,
    tag: str = "train/loss",
    dtype: Literal["float32", "float64"] = "float32",
    wall_time: float | None = None,
    seconds_per_step: float = 1.0,
) -> Path:
    """Write ``curve`` under ``tag`` to a new event file in ``logdir``; return its path.

    One event per step, with the step number as TensorBoard's step. Wall times start at
    ``wall_time`` (default: so that the last step is now) and advance ``seconds_per_step``
    per step. ``logdir`` is created if needed. See the module documentation for ``dtype``.
    """
    if not isinstance(curve, LossCurve):
        raise SynthLossError(
            f"curve must be a LossCurve (see make_curve), got {curve!r} ({type(curve).__name__})"
        )
    if not isinstance(tag, str) or not tag:
        raise SynthLossError(f"tag must be a non-empty string, got {tag!r}")
    if dtype not in ("float64", "float32"):
        raise SynthLossError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    if wall_time is not None:
        check_float(
            "wall_time",
            wall_time,
            minimum=0.0,
            maximum=MAX_WALL_TIME,
            allowed=f"of seconds from 0 to {MAX_WALL_TIME:.0f} (the end of the year 9999)",
        )
    per_step = check_float(
        "seconds_per_step", seconds_per_step, minimum=0.0, allowed="of seconds >= 0"
    )
    span = (curve.last_step - curve.start_step) * per_step  # a recorded run may have gaps
    start = max(0.0, time.time() - span) if wall_time is None else float(wall_time)
    last = start + span
    if last > MAX_WALL_TIME:
        raise SynthLossError(
            f"the last step's wall time would be {last:g} s, past {MAX_WALL_TIME:g} "
            f"(the end of the year 9999); lower wall_time or seconds_per_step={per_step!r}"
        )
    require_extra("tensorboard", "tensorboard", "write_tensorboard")
    from tensorboard.compat.proto import summary_pb2

    directory = Path(check_path(logdir, "logdir"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SynthLossError(f"cannot create logdir {str(directory)!r}: {exc.strerror}") from None
    path = directory / (
        f"events.out.tfevents.{int(start):010d}.{socket.gethostname()}.{os.getpid()}."
        f"{time.monotonic_ns()}.synthloss"
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
    output = open_output(path, "event file")
    try:
        with os.fdopen(os.dup(output.fd), "wb") as handle:
            _write_events(handle, curve, tag, dtype, start, seconds_per_step, metadata)
        output.commit()
        output.close()
    except OSError as exc:
        raise output.failed(exc) from None
    finally:
        output.abort()
    return path


def _write_events(
    handle: BinaryIO,
    curve: LossCurve,
    tag: str,
    dtype: str,
    start: float,
    seconds_per_step: float,
    metadata: Any,
) -> None:
    from tensorboard.compat.proto import event_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    writer = RecordWriter(handle)
    header = event_pb2.Event(wall_time=start, file_version="brain.Event:2")
    writer.write(header.SerializeToString())
    first = True
    prefix = tag.rsplit("/", 1)[0] + "/" if "/" in tag else ""
    for chunk in curve.iter_chunks(_CHUNK):
        columns = [(prefix + name, values.tolist()) for name, values in chunk.signals.items()]
        for index, (step, loss) in enumerate(
            zip(chunk.steps.tolist(), chunk.losses.tolist(), strict=True)
        ):
            event = event_pb2.Event(
                wall_time=start + (step - curve.start_step) * seconds_per_step, step=step
            )
            for name, number in [(tag, loss)] + [(t, v[index]) for t, v in columns]:
                if dtype == "float32":
                    event.summary.value.add(tag=name, simple_value=number)
                    continue
                value = event.summary.value.add(
                    tag=name,
                    tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, double_val=[number]),
                )
                if first:
                    value.metadata.CopyFrom(metadata)
            first = False
            writer.write(event.SerializeToString())
    writer.flush()
