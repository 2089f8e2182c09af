"""write_tensorboard: read back with TensorBoard's own readers, exact values, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="needs the tensorboard extra")

from tensorboard import context
from tensorboard.backend.event_processing import (
    data_provider,
    event_accumulator,
    plugin_event_accumulator,
    plugin_event_multiplexer,
)
from tensorboard.util import tensor_util

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.exports.tensorboard import write_tensorboard


def test_float64_values_come_back_exactly(tmp_path: Path) -> None:
    curve = make_curve(25, "spiky", start_step=3)
    path = write_tensorboard(curve, tmp_path / "run", wall_time=1000.0, seconds_per_step=2.0)
    assert path.parent == tmp_path / "run"
    assert path.name.startswith("events.out.tfevents.0000001000.")
    acc = plugin_event_accumulator.EventAccumulator(str(tmp_path / "run"))
    acc.Reload()
    assert acc.Tags()["tensors"] == ["train/loss"]
    assert acc.SummaryMetadata("train/loss").plugin_data.plugin_name == "scalars"
    events = acc.Tensors("train/loss")
    arrays = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
    assert {a.dtype for a in arrays} == {np.dtype(np.float64)}
    assert [a.item() for a in arrays] == curve.losses.tolist()
    assert [e.step for e in events] == curve.steps.tolist()
    assert [e.wall_time for e in events][:3] == [1000.0, 1002.0, 1004.0]


def test_the_scalars_dashboard_data_path_sees_the_same_values(tmp_path: Path) -> None:
    curve = make_curve(20, "spiky")
    write_tensorboard(curve, tmp_path / "spiky", tag="loss")
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    result = provider.read_scalars(
        context.RequestContext(), experiment_id="", plugin_name="scalars", downsample=100
    )
    data = result["spiky"]["loss"]
    assert [d.step for d in data] == list(range(1, 21))
    assert [d.value for d in data] == curve.losses.tolist()
    assert data[9].value == 1.5499999999999998


def test_float32_simple_values_are_exact_float32(tmp_path: Path) -> None:
    curve = make_curve(20, "spiky")
    write_tensorboard(curve, tmp_path, dtype="float32")
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    values = [s.value for s in acc.Scalars("train/loss")]
    assert values == curve.losses.astype(np.float32).astype(np.float64).tolist()
    assert values[9] == 1.5499999523162842
    assert values != curve.losses.tolist()


def test_two_writes_to_one_logdir_make_two_files(tmp_path: Path) -> None:
    first = write_tensorboard(make_curve(3), tmp_path, wall_time=5.0)
    second = write_tensorboard(make_curve(3), tmp_path, wall_time=5.0)
    assert first != second
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag": ""}, "tag must be a non-empty string, got ''"),
        ({"dtype": "float16"}, "dtype must be 'float64' or 'float32', got 'float16'"),
        (
            {"wall_time": -1.0},
            "wall_time must be a finite number of seconds from 0 to 253402300799 "
            "(the end of the year 9999), got -1.0",
        ),
        (
            {"seconds_per_step": "1"},
            "seconds_per_step must be a finite number of seconds >= 0, got '1' (str)",
        ),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        write_tensorboard(make_curve(3), tmp_path, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


def test_curve_must_be_a_loss_curve(tmp_path: Path) -> None:
    with pytest.raises(SynthLossError, match=r"^curve must be a LossCurve"):
        write_tensorboard([1.0, 2.0], tmp_path)  # type: ignore[arg-type]
