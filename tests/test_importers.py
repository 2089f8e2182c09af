"""read_recorded: our formats through read_log, CSV/JSONL tables, trainer_state.json, detection."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss import SynthLossError, make_curve, write_log
from pytest_synthloss.emulation.importers import detect_format, read_recorded, run_name


def _csv(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
def test_our_formats_go_through_read_log(tmp_path: Path, fmt: str) -> None:
    curve = make_curve(30, "spiky", start_step=5)
    path = tmp_path / f"run.{fmt}"
    write_log(curve, path, fmt)
    log = read_recorded(path)
    assert log.format == fmt
    assert log.steps.tolist() == list(range(5, 35))
    expected = [round(v, 2) for v in curve.losses.tolist()] if fmt == "text" else curve.losses
    assert log.values.tolist() == list(expected)
    assert (log.step_column, log.value_column, log.skipped) == ("step", "loss", 0)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_timed_log_of_synthloss_train_goes_through_read_log(tmp_path: Path, fmt: str) -> None:
    from pytest_synthloss.cli.main import main

    path = tmp_path / f"run.{fmt}"
    assert (
        main(["train", "--steps", "6", "--profile", "spiky", "--format", fmt, "-o", str(path)]) == 0
    )
    assert (
        path.read_text()
        .splitlines()[0]
        .startswith(
            "step,loss,profile,lr,batch_size,time,final_step" if fmt == "csv" else '{"step": 1'
        )
    )
    log = read_recorded(path)
    assert (log.format, log.steps.tolist()) == (fmt, [1, 2, 3, 4, 5, 6])
    assert log.values.tolist() == make_curve(6, "spiky").losses.tolist()


def test_our_format_keeps_read_logs_errors(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"step": 1, "loss": 2.0, "profile": "x"}\n{"step": 0, "loss": 1.0}\n')
    with pytest.raises(SynthLossError, match=r"^line 2: step must be an integer >= 1, got 0 in"):
        read_recorded(path)


def test_our_format_refuses_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    write_log(make_curve(3), path, "csv")
    with pytest.raises(SynthLossError, match=r"our csv log holds its loss by step; value='x'"):
        read_recorded(path, value="x")


def test_wandb_chart_export_columns(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "wandb_export.csv",
        [
            ["Step", "brisk-sun-7 - train/loss", "brisk-sun-7 - train/loss__MIN",
             "brisk-sun-7 - train/loss__MAX"],
            [0, 2.5, 2.5, 2.5],
            [50, 1.25, 1.25, 1.25],
            [100, "NaN", "NaN", "NaN"],
        ],
    )  # fmt: skip
    log = read_recorded(path)
    assert log.format == "table-csv"
    assert (log.step_column, log.value_column) == ("Step", "brisk-sun-7 - train/loss")
    assert log.steps.tolist() == [0, 50, 100]
    assert log.values[:2].tolist() == [2.5, 1.25]
    assert math.isnan(log.values[2])


def test_wandb_history_rows_of_other_metrics_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    rows = [
        {"_step": 0, "_runtime": 1.5, "train/loss": 2.0},
        {"_step": 1, "_runtime": 2.5, "eval/loss": 1.9},
        {"_step": 2, "_runtime": 3.5, "train/loss": None},
        {"_step": 3, "_runtime": 4.5, "train/loss": 1.5},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    log = read_recorded(path)
    assert log.format == "table-jsonl"
    assert (log.step_column, log.value_column) == ("_step", "train/loss")
    assert log.steps.tolist() == [0, 3]
    assert log.values.tolist() == [2.0, 1.5]
    assert log.skipped == 2
    assert log.columns == ("_step", "_runtime", "train/loss", "eval/loss")


def test_mlflow_metric_history_picks_its_key(tmp_path: Path) -> None:
    rows: list[list[object]] = [["key", "value", "timestamp", "step"]]
    rows += [["loss", 2.0 - s / 10, 1700000000000 + s, s] for s in range(1, 4)]
    rows += [["accuracy", 0.5, 1700000000009, 3]]
    path = _csv(tmp_path / "metrics.csv", rows)
    log = read_recorded(path, value="loss")
    assert (log.value_column, log.steps.tolist(), log.skipped) == ("loss", [1, 2, 3], 1)
    assert log.values.tolist() == [1.9, 1.8, 1.7]
    default = read_recorded(path)  # the key 'loss', never a mix of keys
    assert (default.value_column, default.values.tolist()) == ("loss", [1.9, 1.8, 1.7])
    only_acc = _csv(tmp_path / "acc.csv", [rows[0], rows[-1]])
    assert read_recorded(only_acc).value_column == "accuracy"  # the only key
    several = _csv(tmp_path / "several.csv", [rows[0], rows[-1], ["lr", 0.1, 1700000000009, 3]])
    with pytest.raises(SynthLossError) as info:
        read_recorded(several)
    assert str(info.value) == (
        f"log {str(several)!r}: no usable key column (tried loss, train/loss, train_loss, "
        "train_loss_step, training_loss, train/loss_step); columns found: 'accuracy', 'lr'; "
        "pass value="
    )
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text(
        "".join(json.dumps(dict(zip(rows[0], row, strict=True))) + "\n" for row in rows[1:])
    )
    assert read_recorded(jsonl).values.tolist() == [1.9, 1.8, 1.7]
    with pytest.raises(SynthLossError, match=r"no row has key 'lr' \(column 'key'\)$"):
        read_recorded(path, value="lr")


def test_no_usable_column_lists_the_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path / "odd.csv", [["when", "score"], [1, 2.0]])
    with pytest.raises(SynthLossError) as info:
        read_recorded(path)
    assert str(info.value) == (
        f"log {str(path)!r}: no usable step column (tried step, Step, _step, global_step, "
        "trainer/global_step, iteration); columns found: 'when', 'score'; pass step="
    )
    with pytest.raises(
        SynthLossError,
        match=r"no usable value column .*columns found: 'when', 'score'; pass value=$",
    ):
        read_recorded(path, step="when")
    with pytest.raises(
        SynthLossError, match=r"no value column 'loss'; columns found: 'when', 'score'$"
    ):
        read_recorded(path, step="when", value="loss")
    log = read_recorded(path, step="when", value="score")
    assert (log.steps.tolist(), log.values.tolist()) == ([1], [2.0])


def test_bad_cells_name_line_and_column(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bad.csv", [["step", "loss"], [1, 2.0], [2, "fast"]])
    with pytest.raises(SynthLossError) as info:
        read_recorded(path)
    assert str(info.value) == (
        f"log {str(path)!r}: line 3, column 'loss': value must be a number (or NaN, inf, -inf), "
        "got 'fast'"
    )
    path = _csv(tmp_path / "bad_step.csv", [["step", "loss"], [1.5, 2.0]])
    with pytest.raises(
        SynthLossError, match=r"line 2, column 'step': step must be an integer >= 0, got '1.5'$"
    ):
        read_recorded(path)
    path = _csv(tmp_path / "short.csv", [["step", "loss"], [1]])
    with pytest.raises(SynthLossError, match=r"line 2: expected 2 fields \(the header's\), got 1$"):
        read_recorded(path)


def test_trainer_state_skips_eval_and_summary_entries(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    history = [
        {"loss": 2.5, "grad_norm": 1.0, "learning_rate": 1e-4, "epoch": 0.5, "step": 10},
        {"eval_loss": 2.2, "eval_runtime": 0.1, "epoch": 0.5, "step": 10},
        {"loss": 2.125, "epoch": 1.0, "step": 20},
        {"train_loss": 2.3, "train_runtime": 1.0, "epoch": 1.0, "step": 20},
    ]
    path.write_text(json.dumps({"global_step": 20, "log_history": history}, indent=2))
    log = read_recorded(path)
    assert (log.format, log.steps.tolist(), log.values.tolist(), log.skipped) == (
        "trainer-state", [10, 20], [2.5, 2.125], 2
    )  # fmt: skip
    evals = read_recorded(path, value="eval_loss")
    assert (evals.steps.tolist(), evals.values.tolist(), evals.skipped) == ([10], [2.2], 3)
    with pytest.raises(
        SynthLossError,
        match=r"no log_history entry has the key 'acc'; keys found: 'loss', 'grad_norm'",
    ):
        read_recorded(path, value="acc")


def test_detection(tmp_path: Path) -> None:
    cases = {
        "a.txt": "Step 1: loss=2.00\n",
        "b.log": '{"step": 1, "loss": 2.0, "profile": "p"}\n',
        "c.log": '{"_step": 1, "loss": 2.0}\n',
        "d.log": "step,loss,profile,lr,batch_size\n1,2.0,p,,\n",
        "e.log": "epoch,step,train_loss\n0,0,2.0\n",
        "f.log": "Step,value\n1,2.0\n",
        "g.json": "{}",
        "h.log": '{\n  "log_history": []\n}\n',
        "events.out.tfevents.1.host": "",
        "i.txt": "1 8.048324584960938\n",
        "loss": "1700000000000 8.048324584960938 0\n",
    }
    found = {}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        found[name] = detect_format(str(tmp_path / name))
    assert list(found.values()) == [
        "text", "jsonl", "table-jsonl", "csv", "lightning", "table-csv", "trainer-state",
        "trainer-state", "tensorboard", "step-value", "mlflow",
    ]  # fmt: skip
    (tmp_path / "empty.log").write_bytes(b"")
    with pytest.raises(SynthLossError) as info:
        detect_format(str(tmp_path / "empty.log"))
    assert str(info.value) == (
        f"cannot tell the format of log {str(tmp_path / 'empty.log')!r}: it is empty or not "
        "text; pass format= (one of text, jsonl, csv, tensorboard, trainer-state, lightning, "
        "table-csv, table-jsonl, step-value, mlflow, wandb)"
    )
    with pytest.raises(
        SynthLossError, match=r"^unknown log format 'neptune'; known formats: text, jsonl"
    ):
        read_recorded(tmp_path / "a.txt", format="neptune")
    (tmp_path / "sub").mkdir()
    with pytest.raises(SynthLossError, match=r"a directory without TensorBoard event files"):
        read_recorded(tmp_path / "sub")


def test_run_name_is_the_stem() -> None:
    assert [run_name(p) for p in ("logs/run.csv", "trainer_state.json", "tb/run1/")] == [
        "run", "trainer_state", "run1"
    ]  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**12),
            st.floats(allow_nan=False, allow_infinity=True, width=64),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_python_csv_round_trips_exactly(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int, float]]
) -> None:
    path = tmp_path_factory.mktemp("csv") / "log.csv"
    _csv(path, [["step", "train/loss"], *[[s, repr(v)] for s, v in rows]])
    log = read_recorded(path)
    assert log.steps.tolist() == [s for s, _ in rows]
    assert np.array_equal(log.values, np.array([v for _, v in rows]))
