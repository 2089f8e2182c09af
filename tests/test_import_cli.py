"""``synthloss import`` (a log into our JSONL + labels) and ``synthloss plot`` of recorded logs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss.cli.main import main
from pytest_synthloss.emulation.corpus import corpus_path
from pytest_synthloss.emulation.importers import load_log
from pytest_synthloss.emulation.logreader import read_log


def _same_curve(a: object, b: object) -> None:
    for field in ("steps", "events", "repeated_steps"):
        left, right = getattr(a, field), getattr(b, field)
        assert (left.tolist() if field == "steps" else left) == (
            right.tolist() if field == "steps" else right
        )
    assert np.array_equal(getattr(a, "losses"), getattr(b, "losses"), equal_nan=True)  # noqa: B009


@pytest.mark.parametrize(
    "name",
    [
        "generated/llm_pretrain_trouble.csv",
        "generated/slow_divergence_metrics.csv",
        "torchtitan/qwen3_moe_cuda.txt",
    ],
)
def test_import_normalizes_to_our_jsonl_with_its_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    source = corpus_path(name)
    out = tmp_path / "incident.jsonl"
    assert main(["import", str(source), "-o", str(out)]) == 0
    original = load_log(source)
    stdout = capsys.readouterr().out.splitlines()
    count = len(original.labels)  # type: ignore[attr-defined]
    noun = "label" if count == 1 else "labels"
    assert stdout[-1] == f"wrote {out} and {out}.labels.json ({count} {noun})"
    parsed = read_log(out)  # our own reader reads it, as any JSONL log
    assert parsed.steps.tolist() == original.steps.tolist()
    assert np.array_equal(parsed.losses, original.losses, equal_nan=True)
    _same_curve(load_log(out), original)  # with the labels file next to it: the same curve


def test_import_reports_what_it_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = corpus_path("generated/slow_divergence_metrics.csv")
    out = tmp_path / "div.jsonl"
    assert main(["import", str(source), "-o", str(out)]) == 0
    assert capsys.readouterr() == (
        f"read 1000 values of 'train_loss' by 'step' from {source} (lightning, 10 records "
        "without it skipped, steps shifted by 1)\n"
        f"wrote {out} and {out}.labels.json (2 labels)\n",
        "",
    )
    labels = json.loads(Path(f"{out}.labels.json").read_text())
    assert [(x["kind"], x["start"], x["end"]) for x in labels["labels"]] == [
        ("warmup", 1, 50),
        ("divergence", 500, 1000),
    ]
    assert labels["labels"][1]["note"] == "the loss rises for good from here"
    assert labels["source"] == str(source)
    first = json.loads(out.read_text().splitlines()[0])
    assert first == {
        "step": 1,
        "loss": 5.5520661962067095,
        "profile": "slow_divergence_metrics",
        "lr": None,
        "batch_size": None,
    }


def test_import_counts_one_skipped_record_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "run.csv"
    log.write_text("step,loss,eval_loss\n1,2.0,\n2,,1.5\n3,1.75,\n")
    out = tmp_path / "out.jsonl"
    assert main(["import", str(log), "-o", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"read 2 values of 'loss' by 'step' from {log} (table-csv, 1 record without it skipped)"
    )


def test_import_counts_one_value_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "run.csv"
    log.write_text("step,loss\n3,2.0\n")
    assert main(["import", str(log), "-o", str(tmp_path / "out.jsonl")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"read 1 value of 'loss' by 'step' from {log} (table-csv)"
    )


def test_import_keeps_repeats_and_non_finite_values(tmp_path: Path) -> None:
    log = tmp_path / "run.csv"
    log.write_text("step,loss\n1,2.0\n2,nan\n3,1.5\n2,inf\n3,1.25\n4,-inf\n")
    out = tmp_path / "out.jsonl"
    (tmp_path / "none.labels.json").write_text("[]")
    assert (
        main(["import", str(log), "--labels", str(tmp_path / "none.labels.json"), "-o", str(out)])
        == 0
    )
    lines = [json.loads(line)["loss"] for line in out.read_text().splitlines()]
    assert lines == [2.0, "NaN", 1.5, "Infinity", 1.25, "-Infinity"]
    curve = load_log(out)
    assert curve.repeated_steps == (2, 3)  # type: ignore[attr-defined]
    assert curve.losses[1:].tolist()[1:] == [1.25, -math.inf]
    assert [(e.first, e.last, e.values) for e in curve.events] == [
        (2, 2, ("inf",)),
        (4, 4, ("-inf",)),
    ]


_FORMATS = (
    "text, jsonl, csv, tensorboard, trainer-state, lightning, table-csv, table-jsonl, step-value, "
    "mlflow, wandb"
)


def _images() -> str:
    from matplotlib.backend_bases import FigureCanvasBase

    return ", ".join(sorted(FigureCanvasBase.get_supported_filetypes()))  # png, svg, pdf...


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["import", "{tmp}/missing.csv", "-o", "{tmp}/o.jsonl"],
            "cannot read log '{tmp}/missing.csv': No such file or directory",
        ),
        (
            ["import", "{tmp}/log.csv", "-o", "{tmp}/o.csv"],
            "the output must be a .jsonl file, got '{tmp}/o.csv'",
        ),
        (
            ["import", "{tmp}/log.csv", "--value", "acc", "-o", "{tmp}/o.jsonl"],
            "log '{tmp}/log.csv': no value column 'acc'; columns found: 'step', 'loss'",
        ),
        (
            ["import", "{tmp}/log.csv", "--format", "neptune", "-o", "{tmp}/o.jsonl"],
            f"argument --format: unknown log format 'neptune'; known formats: {_FORMATS}",
        ),
        (
            ["import", "{tmp}/log.csv", "--step-offset", "-1", "-o", "{tmp}/o.jsonl"],
            "argument --step-offset: must be an integer >= 0, got '-1'",
        ),
        (
            ["import", "{tmp}/log.csv", "-o", "{tmp}/nodir/o.jsonl"],
            "cannot write log '{tmp}/nodir/o.jsonl': No such file or directory",
        ),
        (
            ["plot", "{tmp}/log.csv", "--profile", "spiky", "-o", "{tmp}/c.png"],
            "--profile draws a profile; it does not go with a LOG",
        ),
        (
            ["plot", "--value", "loss", "-o", "{tmp}/c.png"],
            "--value applies to a recorded LOG; none was given",
        ),
        (
            ["plot", "{tmp}/log.csv", "-o", "{tmp}/c.xyz"],
            "cannot write an image as '.xyz' ('{tmp}/c.xyz'); the extensions matplotlib "
            "writes: {images}",
        ),
    ],
)
def test_cli_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    pytest.importorskip("matplotlib", reason="the plot cases need the [plot] extra (matplotlib)")
    (tmp_path / "log.csv").write_text("step,loss\n1,2.0\n2,1.0\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(args) == 2
    command = args[0]
    assert capsys.readouterr() == (
        "",
        f"synthloss {command}: error: "
        f"{message.replace('{tmp}', str(tmp_path)).replace('{images}', _images())}\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_a_log_from_step_0_with_step_offset_0_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "metrics.csv"
    log.write_text("step,loss\n0,2.0\n1,1.0\n")
    assert main(["import", str(log), "--step-offset", "0", "-o", str(tmp_path / "o.jsonl")]) == 2
    assert capsys.readouterr() == (
        "",
        f"synthloss import: error: log {str(log)!r}: the log has step 0 and a curve's steps "
        "start at 1; pass step_offset=1 (--step-offset 1 on the command line), or leave it "
        "out, to shift every step and label by 1\n",
    )


def test_a_failed_write_exits_1_and_keeps_the_previous_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full to fail a write")
    (tmp_path / "log.csv").write_text("step,loss\n1,2.0\n")
    out = tmp_path / "o.jsonl"
    out.write_text("previous\n")
    os.symlink("/dev/full", f"{out}.labels.json")  # the labels file's write fails: disk full
    assert main(["import", str(tmp_path / "log.csv"), "-o", str(out)]) == 1
    assert capsys.readouterr() == (
        "",
        f"synthloss import: error: cannot write log '{out}': No space left on device\n",
    )
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "log.csv",
        "o.jsonl",
        "o.jsonl.labels.json",
    ]


def test_plot_draws_a_recorded_log_with_its_events_in_the_extensions_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib", reason="the plot test needs the [plot] extra (matplotlib)")
    source = corpus_path("generated/llm_pretrain_trouble.csv")
    svg = tmp_path / "trouble.svg"
    assert main(["plot", str(source), "-o", str(svg)]) == 0
    assert capsys.readouterr() == (f"wrote {svg}\n", "")
    assert svg.read_text().startswith("<?xml")
    assert "<svg" in svg.read_text()
    from matplotlib.figure import Figure

    from pytest_synthloss.exports.plotting import plot_curve

    ax = plot_curve(load_log(source), Figure().subplots())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "loss",
        "spikes (steps 300-340, 450-480, 600-601)",  # one range per event
        "warmup (steps 1-50)",
        "nonfinite (step 800)",
    ]
    assert ax.get_title() == "synthloss: llm_pretrain_trouble, steps 1..1000"
    pdf = tmp_path / "trouble.pdf"
    assert main(["plot", "--profile", "spiky", "--steps", "40", "-o", str(pdf)]) == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
