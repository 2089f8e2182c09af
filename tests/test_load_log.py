"""load_log: a recorded curve from a log and its labels (sidecar file or code), step offsets."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from pytest_synthloss import LossCurve, SynthLossError, assert_alerts_match, find_spikes
from pytest_synthloss.core.events import Event
from pytest_synthloss.emulation.importers import load_log
from pytest_synthloss.emulation.labels import LABEL_KINDS

#: Kinds added after stall (other signals' events), as the message lists them.
_MORE_KINDS = "".join(f", {kind}" for kind in LABEL_KINDS[LABEL_KINDS.index("stall") + 1 :])


def _csv(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _run(tmp_path: Path) -> Path:
    """A W&B-style export: 20 steps, a spike at 8-9, a NaN at 15, step 12 logged twice."""
    rows: list[list[object]] = [["Step", "run - train/loss"]]
    for step in range(1, 21):
        loss = 3.0 / step**0.5
        if step in (8, 9):
            loss = 9.5
        if step == 15:
            loss = math.nan
        rows.append([step, repr(loss)])
        if step == 12:
            rows.append([12, repr(loss)])
    return _csv(tmp_path / "run.csv", rows)


def _labels(path: Path, labels: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"labels": labels}))
    return path


def test_the_sidecar_labels_become_the_curves_events(tmp_path: Path) -> None:
    log = _run(tmp_path)
    _labels(
        tmp_path / "run.csv.labels.json",
        [{"kind": "spike", "start": 8, "end": 9}, {"kind": "incident", "start": 7, "end": 10}],
    )
    curve = load_log(log)
    assert isinstance(curve, LossCurve)
    assert curve.steps.tolist() == list(range(1, 21))
    assert curve.repeated_steps == (12,)  # type: ignore[attr-defined]
    assert [(e.kind, e.first, e.last) for e in curve.events] == [
        ("incident", 7, 10),
        ("spike", 8, 9),
        ("nonfinite", 15, 15),
    ]
    assert curve.spike_steps == (8, 9)
    assert curve.nonfinite_steps == (15,)
    assert (curve.profile.name, curve.source) == ("run", str(log))  # type: ignore[attr-defined]
    found = find_spikes(curve).spike_steps
    assert found == (8, 9, 15)
    score = assert_alerts_match(list(found), curve, tolerate=("incident",))
    assert [(e.kind, e.first) for e in score.detected_events] == [("spike", 8), ("nonfinite", 15)]


def test_labels_from_code_replace_the_sidecar(tmp_path: Path) -> None:
    log = _run(tmp_path)
    _labels(tmp_path / "run.csv.labels.json", [{"kind": "spike", "start": 8, "end": 9}])
    curve = load_log(log, labels=[Event("incident", 3, 4)], name="mine")
    assert [(e.kind, e.first, e.last) for e in curve.events] == [
        ("incident", 3, 4),
        ("nonfinite", 15, 15),
    ]
    assert curve.profile.name == "mine"
    assert [e.kind for e in load_log(log, labels=[]).events] == ["nonfinite"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (
            [{"kind": "spike", "start": 30}],
            "label 0 (spike at step 30) is outside the recorded steps 1..20",
        ),
        (
            [{"kind": "spike", "start": 8, "end": 9}, {"kind": "plateau", "start": 9, "end": 12}],
            "label 0 (spike at steps 8-9) overlaps label 1 (plateau at steps 9-12): a step "
            "cannot be both spike and plateau",
        ),
        (
            [{"kind": "spike", "start": 15}],
            "label 0 (spike at step 15) overlaps the non-finite losses (nonfinite at step 15 "
            "(nan)), labelled automatically",
        ),
        (
            [{"kind": "glitch", "start": 3}],
            "label 0: kind 'glitch' is unknown; allowed: spike, nonfinite, divergence, "
            "plateau, warmup, schedule, epoch, incident, stall" + _MORE_KINDS,
        ),
    ],
)
def test_bad_labels_name_the_labels_file(
    tmp_path: Path, labels: list[dict[str, object]], message: str
) -> None:
    log = _run(tmp_path)
    sidecar = _labels(tmp_path / "run.csv.labels.json", labels)
    with pytest.raises(SynthLossError) as info:
        load_log(log)
    assert str(info.value).startswith(f"labels file {str(sidecar)!r}: ")
    assert message in str(info.value)


def test_a_log_from_step_0_is_shifted_with_its_labels(tmp_path: Path) -> None:
    rows: list[list[object]] = [["epoch", "step", "train_loss", "val_loss"]]
    rows += [[0, s, 2.0 - s / 10, ""] for s in range(10)]
    rows += [[0, 9, "", 1.0]]
    log = _csv(tmp_path / "metrics.csv", rows)
    _labels(tmp_path / "metrics.csv.labels.json", [{"kind": "incident", "start": 0, "end": 2}])
    curve = load_log(log)
    assert curve.steps.tolist() == list(range(1, 11))
    assert curve.losses.tolist() == [2.0 - s / 10 for s in range(10)]
    assert [(e.kind, e.first, e.last) for e in curve.events] == [("incident", 1, 3)]
    assert load_log(log, step_offset=100).steps.tolist() == list(range(100, 110))
    with pytest.raises(SynthLossError) as info:
        load_log(log, step_offset=0)
    assert str(info.value) == (
        f"log {str(log)!r}: the log has step 0 and a curve's steps start at 1; pass "
        "step_offset=1 (--step-offset 1 on the command line), or leave it out, to shift every "
        "step and label by 1"
    )
    _labels(tmp_path / "metrics.csv.labels.json", [{"kind": "incident", "start": 10}])
    with pytest.raises(SynthLossError) as info:
        load_log(log)
    assert str(info.value).startswith(
        f"labels file '{log}.labels.json' (steps shifted by 1): label 0 (incident at step 11) "
        "is outside the recorded steps 1..10"
    )


def test_a_log_without_values_is_an_error(tmp_path: Path) -> None:
    log = _csv(tmp_path / "metrics.csv", [["step", "loss", "acc"], [1, "", 0.5]])
    with pytest.raises(SynthLossError) as info:
        load_log(log)
    assert str(info.value) == (
        f"log {str(log)!r}: no values of 'loss' (by 'step'); a recorded run needs at least one"
    )
