"""Each importer reads back, exactly, a log written by the tool that normally writes it.

TensorBoard (torch's SummaryWriter and tensorboard's own writer), Lightning's CSVLogger and
the Hugging Face Trainer's TrainerState.save_to_json. A missing tool skips with its reason.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.emulation.importers import detect_format, load_log, read_recorded

#: spiky: a spike at steps 4-5 and 1.5499999999999998 at step 10; nan: a NaN at step 12.
CURVE = make_curve(20, "spiky")
NAN_CURVE = make_curve(20, "nan")


def _float32(values: np.ndarray) -> list[float]:
    widened: list[float] = values.astype(np.float32).astype(np.float64).tolist()
    return widened


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


def test_torch_summary_writer_round_trips_as_float32(tmp_path: Path) -> None:
    tensorboard = pytest.importorskip(
        "torch.utils.tensorboard", reason="needs torch and tensorboard"
    )
    writer = tensorboard.SummaryWriter(str(tmp_path / "run"))
    for step, loss in NAN_CURVE:
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("lr", 1e-3, step)
    writer.close()
    assert detect_format(str(tmp_path / "run")) == "tensorboard"
    log = read_recorded(tmp_path / "run")
    assert (log.format, log.value_column, log.columns) == (
        "tensorboard",
        "train/loss",
        ("train/loss", "lr"),
    )
    assert log.steps.tolist() == NAN_CURVE.steps.tolist()
    assert _same(log.values.tolist(), _float32(NAN_CURVE.losses))
    curve = load_log(tmp_path / "run")  # the NaN at step 12 is labelled by the curve itself
    assert [(e.kind, e.first, e.values) for e in curve.events] == [("nonfinite", 12, ("nan",))]
    assert curve.profile.name == "run"
    lrs = read_recorded(tmp_path / "run", value="lr")
    assert lrs.values.tolist() == [float(np.float32(1e-3))] * 20
    with pytest.raises(
        SynthLossError, match=r"no scalar tag column 'acc'; columns found: 'train/loss', 'lr'$"
    ):
        read_recorded(tmp_path / "run", value="acc")


def test_tensorboards_own_writer_round_trips_as_float32(tmp_path: Path) -> None:
    summary = pytest.importorskip("tensorboard.summary", reason="needs the tensorboard extra")
    writer = summary.Writer(str(tmp_path / "tb"))
    for step, loss in CURVE:
        writer.add_scalar("loss", loss, step)
    writer.close()
    events = sorted((tmp_path / "tb").iterdir())
    log = read_recorded(events[0])  # the file itself, not its directory
    assert (log.format, log.value_column) == ("tensorboard", "loss")
    assert log.steps.tolist() == CURVE.steps.tolist()
    assert log.values.tolist() == _float32(CURVE.losses)
    assert log.values[9] == 1.5499999523162842 != CURVE.losses[9]


def test_a_restarted_tensorboard_run_keeps_every_value(tmp_path: Path) -> None:
    summary = pytest.importorskip("tensorboard.summary", reason="needs the tensorboard extra")
    writer = summary.Writer(str(tmp_path / "tb"))
    for step in (1, 2, 3, 4, 3, 4, 5):  # restarted from the step-2 checkpoint
        writer.add_scalar("loss", float(step) / 2, step)
    writer.close()
    log = read_recorded(tmp_path / "tb")
    assert log.steps.tolist() == [1, 2, 3, 4, 3, 4, 5]


def test_a_file_that_is_no_event_file_read_as_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    log = tmp_path / "run.csv"
    log.write_text("step,loss\n1,2.0\n")
    with pytest.raises(SynthLossError) as info:
        read_recorded(log, format="tensorboard")
    assert str(info.value) == (
        f"log {str(log)!r}: no TensorBoard scalars in it; expected event files "
        "(events.out.tfevents.*) holding add_scalar or tf.summary.scalar values"
    )


def test_lightning_csvlogger_metrics_csv_round_trips(tmp_path: Path) -> None:
    loggers = pytest.importorskip("lightning.pytorch.loggers", reason="needs lightning")
    logger = loggers.CSVLogger(str(tmp_path), name="exp", version=0)
    for step, loss in CURVE:  # the trainer's global step counts from 0
        logger.log_metrics({"train_loss": loss, "epoch": 0}, step=step - 1)
        if step % 5 == 0:  # a validation metric on its own row, as Lightning logs it
            logger.log_metrics({"val_loss": loss + 0.25, "epoch": 0}, step=step - 1)
    logger.save()
    logger.finalize("success")
    path = Path(logger.log_dir) / "metrics.csv"
    assert path.read_text().splitlines()[0] == "epoch,step,train_loss,val_loss"
    log = read_recorded(path)
    assert (log.format, log.step_column, log.value_column, log.skipped) == (
        "lightning",
        "step",
        "train_loss",
        4,
    )
    assert log.steps.tolist() == list(range(20))
    assert log.values.tolist() == CURVE.losses.tolist()
    curve = load_log(path)  # from step 0 in the log, from step 1 in the curve
    assert curve.steps.tolist() == CURVE.steps.tolist()
    assert curve.losses.tolist() == CURVE.losses.tolist()
    val = read_recorded(path, value="val_loss")
    assert (val.steps.tolist(), val.skipped) == ([4, 9, 14, 19], 20)


def test_hf_trainer_state_round_trips(tmp_path: Path) -> None:
    trainer = pytest.importorskip("transformers.trainer_callback", reason="needs transformers")
    history: list[dict[str, float]] = []
    for step, loss in CURVE:
        history.append(
            {
                "epoch": step / 20,
                "grad_norm": 1.0,
                "learning_rate": 1e-4,
                "loss": loss,
                "step": step,
            }
        )
        if step % 10 == 0:
            history.append(
                {"epoch": step / 20, "eval_loss": loss, "eval_runtime": 0.5, "step": step}
            )
    history.append(
        {"epoch": 1.0, "step": 20, "total_flos": 0.0, "train_loss": 2.0, "train_runtime": 9.0}
    )
    state = trainer.TrainerState(global_step=20, max_steps=20, log_history=history)
    state.save_to_json(str(tmp_path / "trainer_state.json"))
    log = read_recorded(tmp_path / "trainer_state.json")
    assert (log.format, log.skipped) == ("trainer-state", 3)
    assert log.steps.tolist() == CURVE.steps.tolist()
    assert log.values.tolist() == CURVE.losses.tolist()
    labelled = load_log(
        tmp_path / "trainer_state.json", labels=[{"kind": "spike", "start": 4, "end": 5}]
    )
    assert labelled.events == CURVE.events  # the spike, with its peak read from the values
    evals = read_recorded(tmp_path / "trainer_state.json", value="eval_loss")
    assert (evals.steps.tolist(), evals.values.tolist()) == (
        [10, 20],
        [CURVE.loss_at(10), CURVE.loss_at(20)],
    )
