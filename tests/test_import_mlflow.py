"""MLflow's file store (``mlruns/<exp>/<run>/metrics/<key>``) read back exactly by real MLflow.

A run logged with ``mlflow.log_metric`` into a ``file:`` tracking store is read by
``load_log`` from the run's directory, its ``metrics`` directory or one metric's file, and
compared with MLflow's own ``MlflowClient().get_metric_history``. Needs mlflow (the
``stacks`` extra installs ``mlflow-skinny``); skipped with the reason without it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.emulation.importers import detect_format, load_log, read_recorded

#: A NaN at step 12 (logged at MLflow step 11: MLflow counts from 0).
CURVE = make_curve(20, "nan")


def _log_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, object]:
    mlflow = pytest.importorskip("mlflow", reason="needs mlflow (the stacks extra)")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it opt-in
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"file:{tmp_path / 'mlruns'}")
    with mlflow.start_run() as run:
        for step, loss in CURVE:
            mlflow.log_metric("train/loss", loss, step=step - 1)
            mlflow.log_metric("lr", 1e-3, step=step - 1)
        mlflow.log_metric("train/loss", 0.25, step=19)  # a repeated last step
    history = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "train/loss")
    mlflow.set_tracking_uri("")
    return tmp_path / "mlruns" / "0" / run.info.run_id, history


def _message(path: Path, **options: str) -> str:
    with pytest.raises(SynthLossError) as info:
        read_recorded(path, **options)
    return str(info.value)


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


def test_an_mlflow_run_round_trips_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, history = _log_run(tmp_path, monkeypatch)
    expected_steps = [m.step for m in history]  # type: ignore[attr-defined]
    expected_values = [m.value for m in history]  # type: ignore[attr-defined]
    for where in (run, run / "metrics", run / "metrics" / "train" / "loss"):
        assert detect_format(str(where)) == "mlflow"
        log = read_recorded(where)
        assert (log.format, log.step_column, log.value_column) == ("mlflow", "step", "train/loss")
        assert log.steps.tolist() == expected_steps == [*range(20), 19]
        assert _same(log.values.tolist(), expected_values)
    assert _same(read_recorded(run).values.tolist()[:20], CURVE.losses.tolist())
    assert read_recorded(run).columns == ("lr", "train/loss")
    assert read_recorded(run, value="lr").values.tolist() == [1e-3] * 20
    curve = load_log(run)  # steps shifted by 1: the curve's steps are the profile's
    assert curve.steps.tolist() == CURVE.steps.tolist()
    assert curve.repeated_steps == (20,)  # type: ignore[attr-defined]
    assert curve.loss_at(20) == 0.25  # a repeated step keeps its last value
    assert [(e.kind, e.first, e.values) for e in curve.events] == [("nonfinite", 12, ("nan",))]


def test_mlflow_errors_name_the_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _history = _log_run(tmp_path, monkeypatch)
    assert _message(run, value="acc") == (
        f"log {str(run)!r}: no metric column 'acc'; columns found: 'lr', 'train/loss'"
    )
    metric = run / "metrics" / "lr"
    assert _message(metric, value="lr") == (
        f"log {str(metric)!r}: an MLflow metric file holds one metric; value='lr' applies to a "
        "run directory"
    )
    assert _message(run, step="epoch") == (
        f"log {str(run)!r}: an MLflow metric's step is its line's third field; step='epoch' "
        "does not apply"
    )
    with metric.open("a") as handle:
        handle.write("1700000000000 fast 20\n1700000000000 0.1 20 extra\n")
    assert _message(metric) == (
        f"log {str(metric)!r}: line 21, field VALUE: value must be a number (or NaN, inf, "
        "-inf), got 'fast'"
    )
    metric.write_text("1700000000000 0.1 0\n1700000000000 0.1 20 extra\n")
    assert _message(metric) == (
        f"log {str(metric)!r}: line 2: expected 3 fields (TIMESTAMP VALUE STEP), got 4: "
        "'1700000000000 0.1 20 extra'"
    )


def test_a_metric_file_of_mlflow_before_1_0_has_no_step(tmp_path: Path) -> None:
    metric = tmp_path / "metrics" / "loss"
    metric.parent.mkdir()
    metric.write_text("1500000000000 2.5 0\n1500000000001 2.25\n")  # a step-less line: step 0
    log = read_recorded(metric)
    assert (log.steps.tolist(), log.values.tolist()) == ([0, 0], [2.5, 2.25])
    assert read_recorded(tmp_path).value_column == "loss"  # the only metric of the run
    empty = tmp_path / "empty"
    (empty / "metrics").mkdir(parents=True)
    with pytest.raises(SynthLossError, match=r"^log '.*empty': the run has no metrics$"):
        read_recorded(empty)
