"""Importing a scalar from TensorBoard event files, through TensorBoard's own reader.

Needs the ``tensorboard`` extra (``pip install "pytest-synthloss[tensorboard]"``), imported
only when a log is read. The file (``events.out.tfevents.*``) or the directory holding
them is read with ``tensorboard.backend.event_processing.event_accumulator.EventAccumulator``
keeping every event (no sampling) and without TensorBoard's purge of "orphaned" steps
after a restart: every value written is imported, in file order, so a restarted run's
repeated steps stay visible (the curve reports them).

Both scalar forms are read: ``simple_value`` (``torch.utils.tensorboard``'s ``add_scalar``,
tensorboardX, Keras) comes back as float32 rounded to float64, and a scalar tensor
summary (``tf.summary.scalar``, :func:`~pytest_synthloss.exports.tensorboard.write_tensorboard`
with ``dtype="float64"``) as its own dtype. The tag is ``value=``, else the only scalar
tag, else the first of :data:`TAGS` present.
"""

from __future__ import annotations

import os

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.extras import require_extra
from pytest_synthloss.emulation.recorded_log import RecordedLog, make_log, pick_column

__all__ = ["TAGS", "is_event_file", "read_tensorboard"]

#: Loss tags tried in order when the log has several scalar tags.
TAGS = ("train/loss", "loss", "train_loss", "Loss/train", "training_loss", "train/loss_step")


def is_event_file(path: str) -> bool:
    """An event file's name, or a directory holding one."""
    if os.path.isdir(path):
        try:
            return any("tfevents" in name for name in os.listdir(path))
        except OSError:
            return False
    return "tfevents" in os.path.basename(path)


def read_tensorboard(path: str, *, value: str | None = None) -> RecordedLog:
    """The scalar ``value`` (a tag) of an event file or a directory of them."""
    origin = f"log {path!r}"
    require_extra("tensorboard", "tensorboard", "reading TensorBoard event files")
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    if not os.path.exists(path):
        raise SynthLossError(f"cannot read log {path!r}: No such file or directory")
    accumulator = event_accumulator.EventAccumulator(
        path,
        size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0},
        purge_orphaned_data=False,
    )
    try:
        accumulator.Reload()
    except Exception as exc:  # a corrupt record: tensorboard's own error, in one line
        raise SynthLossError(f"{origin}: not a readable event file ({exc})") from None
    tags = accumulator.Tags()
    scalar_tags = tuple(tags.get(event_accumulator.SCALARS, ()))
    tensor_tags = tuple(
        tag
        for tag in tags.get(event_accumulator.TENSORS, ())
        if _is_scalar(accumulator.Tensors(tag))
    )
    found = scalar_tags + tuple(t for t in tensor_tags if t not in scalar_tags)
    if not found:
        raise SynthLossError(
            f"{origin}: no TensorBoard scalars in it; expected event files "
            "(events.out.tfevents.*) holding add_scalar or tf.summary.scalar values"
        )
    if value is None and len(found) == 1:
        tag = found[0]
    else:
        tag = pick_column(found, value, TAGS, "scalar tag", origin, "value= (the tag)")
    steps: list[int] = []
    values: list[float] = []
    if tag in scalar_tags:
        for event in accumulator.Scalars(tag):
            steps.append(_step(event.step, origin, tag))
            values.append(float(event.value))
    else:
        for event in accumulator.Tensors(tag):
            steps.append(_step(event.step, origin, tag))
            values.append(float(tensor_util.make_ndarray(event.tensor_proto).item()))
    return make_log(steps, values, "tensorboard", "step", tag, found)


def _is_scalar(events: list[object]) -> bool:
    return bool(events) and all(
        len(getattr(event, "tensor_proto").tensor_shape.dim) == 0  # noqa: B009
        and getattr(event, "tensor_proto").dtype in (1, 2, 19)  # noqa: B009  float, double, half
        for event in events
    )


def _step(step: int, origin: str, tag: str) -> int:
    if step < 0:
        raise SynthLossError(f"{origin}: tag {tag!r} has a negative step {step}")
    return int(step)
