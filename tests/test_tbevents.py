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
    path = write_tensorboard(
        curve, tmp_path / "run", dtype="float64", wall_time=1000.0, seconds_per_step=2.0
    )
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
    write_tensorboard(curve, tmp_path / "spiky", tag="loss", dtype="float64")
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
    write_tensorboard(curve, tmp_path)  # the default: as torch's add_scalar writes
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


def test_by_default_the_run_ends_now(tmp_path: Path) -> None:
    import time

    before = time.time()
    write_tensorboard(make_curve(100), tmp_path, seconds_per_step=60.0)
    after = time.time()
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    times = [s.wall_time for s in acc.Scalars("train/loss")]
    assert before - 1e-3 <= times[-1] <= after + 1e-3  # the last step is now, not 99 h ahead
    assert times[1] - times[0] == 60.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_stock_tensorboard_shows_the_default_export_and_not_the_float64_one(
    tmp_path: Path,
) -> None:
    """The real ``tensorboard --logdir`` (its fast loader, the Rust data server) over HTTP."""
    import json
    import shutil
    import subprocess
    import time
    import urllib.request

    binary = shutil.which("tensorboard")
    if binary is None:
        pytest.skip("the tensorboard command is not installed (the [tensorboard] extra)")
    curve = make_curve(20, "spiky")
    write_tensorboard(curve, tmp_path / "default")
    write_tensorboard(curve, tmp_path / "exact", dtype="float64")
    port = _free_port()
    server = subprocess.Popen(
        [
            binary,
            "--logdir",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast=true",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/data"
    try:
        deadline = time.monotonic() + 60
        runs: list[str] = []
        while time.monotonic() < deadline and sorted(runs) != ["default", "exact"]:
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"{base}/runs", timeout=2) as response:
                    runs = json.load(response)
            except OSError:
                continue
        assert sorted(runs) == ["default", "exact"]

        def scalars(run: str) -> list[list[float]]:
            url = f"{base}/plugin/scalars/scalars?tag=train/loss&run={run}"
            for _ in range(100):  # the data server may still be loading the file
                with urllib.request.urlopen(url, timeout=5) as response:
                    data: list[list[float]] = json.load(response)
                if data or run == "exact":
                    return data
                time.sleep(0.1)
            return data

        shown = scalars("default")
        assert [int(step) for _, step, _ in shown] == curve.steps.tolist()
        assert [value for _, _, value in shown] == (
            curve.losses.astype(np.float32).astype(np.float64).tolist()
        )
        assert scalars("exact") == []  # float64 tensors: invisible in the fast loader
    finally:
        server.terminate()
        server.wait(timeout=10)
