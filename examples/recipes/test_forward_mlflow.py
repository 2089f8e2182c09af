"""The MLflow recipe (forward_mlflow.py), checked against a real MLflow file store.

Skipped when MLflow is missing (``pip install mlflow-skinny``; CI installs it with the
``stacks`` extra).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_synthloss import TrainingRun, make_curve

pytest.importorskip("mlflow", reason="mlflow not installed: pip install mlflow-skinny")
from forward_mlflow import forward_to_mlflow
from mlflow.tracking import MlflowClient

START_MS = 1_700_000_000_000


@pytest.fixture(autouse=True)
def file_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow 3.x refuses its file store ("in maintenance mode") without this."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


def test_a_restarted_run_with_a_nan_reads_back_line_for_line(tmp_path: Path) -> None:
    with TrainingRun(
        tmp_path / "run.jsonl", steps=14, profile="nan", format="jsonl", restart=(8, 3), drop=(5,)
    ) as run:
        assert run.wait() == 0
    log = run.read()
    uri = (tmp_path / "mlruns").as_uri()
    run_id = forward_to_mlflow(log, uri, times=log.times, start_ms=START_MS)
    history = MlflowClient(uri).get_metric_history(run_id, "train_loss")
    # every line, in the order logged: 6, 7 and 8 twice (the restart), 5 never (dropped)
    assert [m.step for m in history] == [1, 2, 3, 4, 6, 7, 8, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert [repr(m.value) for m in history] == [repr(loss) for loss in log.losses.tolist()]
    assert repr(history[13].value) == "nan"  # step 12 of the nan profile
    assert log.times is not None
    assert [m.timestamp for m in history] == [
        START_MS + round(t * 1000) for t in log.times.tolist()
    ]


def test_a_curve_reads_back_exactly(tmp_path: Path) -> None:
    curve = make_curve(20, "spiky")
    uri = (tmp_path / "mlruns").as_uri()
    run_id = forward_to_mlflow(curve, uri, metric="loss", experiment="curves")
    client = MlflowClient(uri)
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == list(curve)
    assert history[3].value == 9.7
    assert history[9].value == 1.5499999999999998
    assert client.get_run(run_id).info.status == "FINISHED"
    assert client.get_experiment_by_name("curves") is not None
