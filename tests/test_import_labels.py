"""Labels: the sidecar file next to a log (JSON, or YAML with PyYAML) and labels from code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_synthloss import SynthLossError
from pytest_synthloss.core.events import Event
from pytest_synthloss.emulation.labels import (
    LABEL_KINDS,
    Label,
    find_sidecar,
    labels_to_json,
    parse_labels,
    read_labels,
)

#: Kinds added after stall (other signals' events), as the message lists them.
_MORE_KINDS = "".join(f", {kind}" for kind in LABEL_KINDS[LABEL_KINDS.index("stall") + 1 :])


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def test_a_sidecar_is_found_next_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / "run.csv"
    log.write_text("step,loss\n")
    assert find_sidecar(log) is None
    _write(tmp_path / "run.csv.labels.json", [])
    assert find_sidecar(log) == f"{log}.labels.json"


def test_yaml_sidecar(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="YAML labels need PyYAML")
    log = tmp_path / "run.csv"
    (tmp_path / "run.csv.labels.yaml").write_text(
        "source: a real run\nlabels:\n  - {kind: spike, start: 4, end: 5}\n"
        "  - kind: incident\n    start: 10\n    note: data loader stalled\n"
    )
    assert find_sidecar(log) == f"{log}.labels.yaml"
    labels, source = read_labels(f"{log}.labels.yaml")
    assert labels == (Label("spike", 4, 5), Label("incident", 10, 10, "data loader stalled"))
    assert source == "a real run"
    (tmp_path / "bad.labels.yaml").write_text("labels:\n  - kind: [spike\n")
    with pytest.raises(SynthLossError, match=r"bad.labels.yaml': invalid YAML \(line 3\)$"):
        read_labels(tmp_path / "bad.labels.yaml")


def test_labels_from_code_and_file_agree(tmp_path: Path) -> None:
    labels = (Label("spike", 4, 5), Label("incident", 7, 9, "node failure"), Label("warmup", 1, 3))
    path = tmp_path / "x.labels.json"
    path.write_text(labels_to_json(labels, source="made here"))
    assert read_labels(path) == (labels, "made here")
    assert json.loads(path.read_text())["labels"][0] == {"kind": "spike", "start": 4, "end": 5}
    from_code = parse_labels(
        [
            {"kind": "spike", "start": 4, "end": 5},
            Event("incident", 7, 9),
            Label("warmup", 1, 3),
        ]
    )
    assert from_code == (Label("spike", 4, 5), Label("incident", 7, 9), Label("warmup", 1, 3))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            [{"kind": "spkie", "start": 3}],
            "label 0: kind 'spkie' is unknown; allowed: spike, nonfinite, divergence, "
            "plateau, warmup, schedule, epoch, incident, stall" + _MORE_KINDS,
        ),
        ([{"kind": "spike"}], "label 0: the field 'start' (the first step) is missing"),
        (
            [{"kind": "spike", "start": 3}, {"kind": "spike", "start": 4, "stop": 5}],
            "label 1: unknown field 'stop'; the fields are kind, start, end (default: start) "
            "and note",
        ),
        (
            [{"kind": "spike", "start": "3"}],
            "label 0: start must be a step (an integer >= 0), got '3'",
        ),
        ([{"kind": "spike", "start": 5, "end": 4}], "label 0: end 4 is before start 5"),
        ([{"kind": "spike", "start": 5, "note": 1}], "label 0: note must be text, got 1"),
        ({"labels": [], "lables": []}, "unknown key 'lables'"),
        ({"source": "x"}, "no 'labels' key"),
        ("spike at 5", "expected a list of labels ({kind, start, end?, note?}), got 'spike at 5'"),
    ],
)
def test_bad_labels_name_the_file_the_label_and_the_field(
    tmp_path: Path, data: object, message: str
) -> None:
    path = _write(tmp_path / "run.csv.labels.json", data)
    with pytest.raises(SynthLossError) as info:
        read_labels(path)
    assert str(info.value).startswith(f"labels file {str(path)!r}: ")
    assert message in str(info.value)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "l.labels.json"
    path.write_text('[\n  {"kind": "spike",\n   "start": 3,}\n]\n')
    with pytest.raises(SynthLossError) as info:
        read_labels(path)
    assert str(info.value) == (
        f"labels file {str(path)!r}: invalid JSON at line 3 "
        "(Expecting property name enclosed in double quotes)"
    )
    with pytest.raises(
        SynthLossError, match=r"^cannot read labels file '.*missing.json': No such file"
    ):
        read_labels(tmp_path / "missing.json")


def test_labels_from_code_errors_have_no_file() -> None:
    with pytest.raises(SynthLossError, match=r"^labels: label 0: kind 'oops' is unknown"):
        parse_labels([{"kind": "oops", "start": 1}])
    with pytest.raises(SynthLossError, match=r"^labels: label 0: expected an object"):
        parse_labels([3])
