"""Linked signals in every sink: JSONL/CSV columns read back exactly, a real ``synthloss
train``, Prometheus gauges and TensorBoard tags."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import FakeClock, SynthLossError, make_curve, read_log, write_log
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.core.signals import SIGNAL_NAMES
from pytest_synthloss.emulation.emulator import StopSignals, emulate
from pytest_synthloss.emulation.logwriter import LogWriter

FP16 = "fp16-overflow"


def _exact(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_write_log_round_trips_every_signal_exactly(fmt: str) -> None:
    curve = make_curve(profile=FP16)
    buffer = io.StringIO()
    write_log(curve, buffer, fmt)
    log = read_log(buffer.getvalue().splitlines())
    assert list(log.signals) == list(SIGNAL_NAMES)
    for name in SIGNAL_NAMES:
        assert _exact(log.signals[name], curve.signals[name]), name
    assert _exact(log.losses, curve.losses)
    assert np.isinf(log.signals["grad_norm"][:5]).all()  # the overflowing first steps


def test_every_jsonl_line_with_signals_is_strict_json() -> None:
    buffer = io.StringIO()
    write_log(make_curve(profile=FP16), buffer, "jsonl")

    def refuse(name: str) -> None:
        raise ValueError(name)

    records = [json.loads(line, parse_constant=refuse) for line in buffer.getvalue().splitlines()]
    assert records[0] == {
        "step": 1,
        "loss": 5.78515625,
        "profile": FP16,
        "lr": None,
        "batch_size": None,
        "grad_norm": "Infinity",
        "learning_rate": 5.999999999999999e-06,
        "loss_scale": 65536.0,
        "step_time": 30.0,
    }
    assert records[5]["loss_scale"] == 2048.0  # five overflows: 2**16 halved five times


def test_a_live_run_with_faults_logs_each_lines_signals() -> None:
    curve = make_curve(profile=FP16)
    clock = FakeClock()
    buffer = io.StringIO()
    writer = LogWriter(buffer, "csv", curve.config, timed=True, signals=True)
    seen: list[tuple[int, float, dict[str, float]]] = []
    with StopSignals(sleep=clock.sleep) as stop:
        emulate(
            curve,
            writer,
            sleep_seconds=0.125,
            clock=clock.time,
            stop=stop,
            faults=Faults(restart=(215, 5), crash=220),
            observer=lambda step, loss, signals: seen.append((step, loss, signals)),
        )
    log = read_log(buffer.getvalue().splitlines())
    assert log.steps.tolist() == [*range(1, 216), *range(211, 221)]
    assert log.missing_tail == (221, 1000)
    assert log.times is not None
    assert log.times[-1] == 225 * 0.125
    for name in SIGNAL_NAMES:
        assert _exact(log.signals[name], curve.signals[name][log.steps - 1]), name
    once = log.deduplicated()
    assert _exact(once.signals["loss_scale"], curve.signals["loss_scale"][:220])
    assert len(seen) == 225
    assert seen[212] == (213, curve.losses[212], {n: curve.signals[n][212] for n in SIGNAL_NAMES})


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_synthloss_train_logs_all_signals_and_read_log_round_trips_them(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"run.{fmt}"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest_synthloss", "train", f"--profile={FP16}"),
            *(f"--format={fmt}", f"--output={path}", "--no-progress"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    log = read_log(path)
    curve = make_curve(profile=FP16)
    assert log.steps.tolist() == list(range(1, 1001))
    assert log.planned_last_step == 1000
    assert log.missing_tail is None
    assert _exact(log.losses, curve.losses)
    for name in SIGNAL_NAMES:
        assert _exact(log.signals[name], curve.signals[name]), name
    assert log.to_curve() == curve


def test_logs_without_signals_read_as_before() -> None:
    log = read_log(['{"step": 1, "loss": 2.5}', '{"step": 2, "loss": 2.4}'])
    assert dict(log.signals) == {}
    buffer = io.StringIO()
    write_log(make_curve(3, "spiky"), buffer, "csv")
    assert buffer.getvalue().splitlines()[0] == "step,loss,profile,lr,batch_size"


_ROW = '"grad_norm": 1.5, "learning_rate": 0.001, "loss_scale": 1024.0, "step_time": 0.5'


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"step": 1, "loss": 2.5, ' + _ROW + "}", '{"step": 2, "loss": 2.4}'],
            "line 2: no signals (grad_norm, learning_rate, loss_scale, step_time), but line 1 "
            'has them in jsonl log: \'{"step": 2, "loss": 2.4}\'',
        ),
        (
            ['{"step": 1, "loss": 2.5}', '{"step": 2, "loss": 2.4, ' + _ROW + "}"],
            "line 2: signals (grad_norm, learning_rate, loss_scale, step_time), but line 1 has "
            'none in jsonl log: \'{"step": 2, "loss": 2.4, ' + _ROW + "}'",
        ),
        (
            ['{"step": 1, "loss": 2.5, "grad_norm": 1.5}'],
            "line 1: missing key 'learning_rate' (the line has 'grad_norm') in jsonl log: "
            '\'{"step": 1, "loss": 2.5, "grad_norm": 1.5}\'',
        ),
        (
            ['{"step": 1, "loss": 2.5, ' + _ROW.replace("1024.0", '"big"') + "}"],
            'line 1: loss_scale must be a number or "NaN", "Infinity" or "-Infinity", got '
            '\'big\' in jsonl log: \'{"step": 1, "loss": 2.5, '
            + _ROW.replace("1024.0", '"big"')
            + "}'",
        ),
        (
            [
                "step,loss,profile,lr,batch_size,grad_norm,learning_rate,loss_scale,step_time",
                "1,2.5,x,,,1.5,0.001,many,0.5",
            ],
            "line 2: loss_scale must be a number, got 'many' in csv log: "
            "'1,2.5,x,,,1.5,0.001,many,0.5'",
        ),
        (
            [
                "step,loss,profile,lr,batch_size,grad_norm,learning_rate,loss_scale,step_time",
                "1,2.5,x,,",
            ],
            "line 2: expected 9 fields, got 5 in csv log: '1,2.5,x,,'",
        ),
    ],
)
def test_bad_signal_fields_name_their_line(lines: list[str], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        read_log(lines)
    assert str(info.value) == message


def test_prometheus_serves_each_signal_as_a_gauge() -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra")
    from pytest_synthloss.exports.prometheus import serve_loss_gauge

    curve = make_curve(profile=FP16)
    with serve_loss_gauge(0, labels={"run": "r1"}) as gauge:
        index = 212  # step 213: an overflow
        gauge.set(
            213, float(curve.losses[index]), {n: curve.signals[n][index] for n in SIGNAL_NAMES}
        )
        with urllib.request.urlopen(gauge.url, timeout=10) as response:
            text = response.read().decode()
        with pytest.raises(SynthLossError, match=r"^unknown signal 'grad'; known signals: "):
            gauge.set(1, 1.0, {"grad": 1.0})
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert samples == [
        f'train_loss{{run="r1"}} {float(curve.losses[index])!r}',
        'train_loss_step{run="r1"} 213.0',
        'train_grad_norm{run="r1"} +Inf',
        f'train_learning_rate{{run="r1"}} {float(curve.signals["learning_rate"][index])!r}',
        'train_loss_scale{run="r1"} 4096.0',  # halved after the overflow at 212
        f'train_step_time{{run="r1"}} {float(curve.signals["step_time"][index])!r}',
    ]


def test_tensorboard_writes_a_tag_per_signal(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    from tensorboard.backend.event_processing import event_accumulator

    from pytest_synthloss.exports.tensorboard import write_tensorboard

    curve = make_curve(300, FP16)
    write_tensorboard(curve, tmp_path)
    acc = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == sorted(
        ["train/loss", *(f"train/{name}" for name in SIGNAL_NAMES)]
    )
    for name in SIGNAL_NAMES:
        values = np.array([s.value for s in acc.Scalars(f"train/{name}")])
        assert _exact(values, curve.signals[name].astype(np.float32).astype(np.float64)), name
    assert [s.step for s in acc.Scalars("train/loss_scale")] == list(range(1, 301))
