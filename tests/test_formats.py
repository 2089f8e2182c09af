"""Log formats: exact lines, exact round trips, format detection and parser errors."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import LossCurve, SynthLossError, make_curve, read_log, write_log
from pytest_synthloss.core.curve import RunConfig
from pytest_synthloss.emulation.logwriter import LogWriter
from pytest_synthloss.emulation.parsed_log import ParsedLog


def _log(curve: LossCurve, fmt: str) -> list[str]:
    buffer = io.StringIO()
    write_log(curve, buffer, fmt)
    return buffer.getvalue().splitlines(keepends=True)


def test_text_lines_are_the_specs() -> None:
    assert _log(make_curve(6, "spiky"), "text") == [
        "# synthloss run: profile=spiky steps=6 start_step=1 lr=None batch_size=None\n",
        "Step 1: loss=2.18\n",
        "Step 2: loss=2.11\n",
        "Step 3: loss=2.04\n",
        "Step 4: loss=9.70\n",
        "Step 5: loss=9.50\n",
        "Step 6: loss=1.83\n",
    ]


def test_jsonl_lines() -> None:
    assert _log(make_curve(2), "jsonl") == [
        '{"step": 1, "loss": 2.18, "profile": "stable", "lr": null, "batch_size": null}\n',
        '{"step": 2, "loss": 2.11, "profile": "stable", "lr": null, "batch_size": null}\n',
    ]
    lines = _log(make_curve(1, start_step=10, lr=3e-4, batch_size=32), "jsonl")
    assert lines == [
        '{"step": 10, "loss": 1.5499999999999998, "profile": "stable", "lr": 0.0003, '
        '"batch_size": 32}\n'
    ]


def test_csv_lines() -> None:
    assert _log(make_curve(2, "spiky", start_step=4, lr=0.1, batch_size=8), "csv") == [
        "step,loss,profile,lr,batch_size\n",
        "4,9.7,spiky,0.1,8\n",
        "5,9.5,spiky,0.1,8\n",
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize(
    "curve",
    [
        make_curve(40, "spiky"),
        make_curve(25, "stable", start_step=3, lr=3e-4, batch_size=32),
        make_curve(5, "spiky", lr=1e-300),
    ],
)
def test_jsonl_and_csv_round_trip_exactly(curve: LossCurve, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"run.{fmt}"
    write_log(curve, path, fmt)
    parsed = read_log(path)
    assert parsed.format == fmt
    assert parsed.steps.tolist() == curve.steps.tolist()
    assert parsed.losses.tobytes() == curve.losses.tobytes()  # bit for bit
    assert (parsed.profile, parsed.lr, parsed.batch_size) == (
        curve.profile.name,
        curve.lr,
        curve.batch_size,
    )
    assert parsed.to_curve() == curve
    from_lines = read_log(path.read_text().splitlines())
    assert from_lines.losses.tobytes() == parsed.losses.tobytes()


def test_text_round_trip_keeps_two_decimals_and_the_config() -> None:
    curve = make_curve(20, "spiky", lr=3e-4, batch_size=32)
    parsed = read_log(_log(curve, "text"))
    assert parsed.format == "text"
    assert parsed.steps.tolist() == list(range(1, 21))
    assert parsed.losses.tolist() == [round(x, 2) for x in curve.losses.tolist()]
    assert parsed.losses[9] == 1.55  # the exact loss is 1.5499999999999998
    assert (parsed.profile, parsed.lr, parsed.batch_size) == ("spiky", 3e-4, 32)
    assert parsed.to_curve() == curve


def test_text_without_header_and_with_crlf() -> None:
    parsed = read_log(["Step 1: loss=2.18\r\n", "\n", "Step 2: loss=2.11\r\n"])
    assert parsed.steps.tolist() == [1, 2]
    assert parsed.losses.tolist() == [2.18, 2.11]
    assert parsed.profile is None
    assert parsed.lr is None
    with pytest.raises(SynthLossError, match="does not name its profile"):
        parsed.to_curve()


def test_parsed_log_is_curve_like_and_read_only() -> None:
    parsed = read_log(_log(make_curve(5, "spiky"), "jsonl"))
    assert isinstance(parsed, ParsedLog)
    assert len(parsed) == 5
    assert list(parsed)[3] == (4, 9.7)
    assert parsed.last_step == 5
    assert parsed.final_loss == 9.5
    with pytest.raises(ValueError, match="read-only"):
        parsed.losses[0] = 0.0
    empty = read_log([])
    assert (len(empty), empty.format, empty.last_step, empty.final_loss) == (0, None, None, None)
    assert read_log([], "csv").format == "csv"


def test_to_curve_needs_consecutive_steps() -> None:
    header = "# synthloss run: profile=stable steps=3 start_step=1 lr=None batch_size=None"
    parsed = read_log([header, "Step 1: loss=2.18", "Step 3: loss=2.04"])
    with pytest.raises(
        SynthLossError,
        match=r"^the logged steps are not consecutive: step 3 at position 1, expected 2$",
    ):
        parsed.to_curve()


@pytest.mark.parametrize(
    ("lines", "fmt", "message"),
    [
        (
            ["Step 1: loss=2.18", "Epoch 1 done"],
            None,
            "line 2: not a 'Step N: loss=X.XX' line in text log: 'Epoch 1 done'",
        ),
        (
            ["Step 1: loss=2.18", "Step 2: loss=abc"],
            None,
            "line 2: loss must be a number, got 'abc' in text log: 'Step 2: loss=abc'",
        ),
        (
            ["Step 0: loss=2.18"],
            "text",
            "line 1: step must be an integer >= 1, got '0' in text log: 'Step 0: loss=2.18'",
        ),
        (
            ['{"step": 1, "loss": 2.18}', '{"step": 2, "loss": 2.1'],
            None,
            "line 2: invalid JSON (Expecting ',' delimiter) in jsonl log: "
            '\'{"step": 2, "loss": 2.1\'',
        ),
        (
            ['{"step": 1}'],
            "jsonl",
            "line 1: missing key 'loss' in jsonl log: '{\"step\": 1}'",
        ),
        (
            ['{"step": true, "loss": 1.0}'],
            "jsonl",
            "line 1: step must be an integer >= 1, got True in jsonl log: "
            '\'{"step": true, "loss": 1.0}\'',
        ),
        (
            ["[1, 2]"],
            "jsonl",
            "line 1: not a JSON object in jsonl log: '[1, 2]'",
        ),
        (
            [
                '{"step": 1, "loss": 2.18, "profile": "stable"}',
                "",
                '{"step": 2, "loss": 2.11, "profile": "spiky"}',
            ],
            None,
            "line 3: profile 'spiky' differs from 'stable' on line 1 in jsonl log: "
            '\'{"step": 2, "loss": 2.11, "profile": "spiky"}\'',
        ),
        (
            ["step,loss", "1,2.18"],
            "csv",
            "line 1: expected the header 'step,loss,profile,lr,batch_size' or "
            "'step,loss,profile,lr,batch_size,time,final_step' in csv log: 'step,loss'",
        ),
        (
            ["step,loss,profile,lr,batch_size", "1,2.18,stable"],
            None,
            "line 2: expected 5 fields, got 3 in csv log: '1,2.18,stable'",
        ),
        (
            ["step,loss,profile,lr,batch_size", "1,2.18,stable,,0"],
            None,
            "line 2: batch_size must be an integer >= 1, got '0' in csv log: '1,2.18,stable,,0'",
        ),
        (
            ["Step 1: loss=2.18"],
            "jsonl",
            "line 1: invalid JSON (Expecting value) in jsonl log: 'Step 1: loss=2.18'",
        ),
    ],
)
def test_malformed_lines_name_line_number_and_content(
    lines: list[str], fmt: str | None, message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        read_log(lines, fmt)
    assert str(info.value) == message


def test_malformed_lines_are_skipped_only_on_request() -> None:
    lines = ["Step 1: loss=2.18", "Step 2: loss=", "noise", "Step 3: loss=2.04"]
    with pytest.raises(SynthLossError, match=r"^line 2: "):
        read_log(lines)
    parsed = read_log(lines, skip_malformed=True)
    assert parsed.steps.tolist() == [1, 3]
    assert parsed.skipped == ((2, "Step 2: loss="), (3, "noise"))


def test_undetectable_format_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SynthLossError) as info:
        read_log(["", "epoch=1 loss=2.0"])
    assert str(info.value) == (
        "line 2: cannot tell the log format (text, jsonl or csv) from 'epoch=1 loss=2.0'; "
        "pass format="
    )
    with pytest.raises(SynthLossError) as info:
        read_log([], "xml")
    assert str(info.value) == "unknown log format 'xml'; known formats: text, jsonl, csv"
    with pytest.raises(SynthLossError, match=r"^cannot read log '.*missing\.log': No such file"):
        read_log(tmp_path / "missing.log")
    with pytest.raises(SynthLossError, match="takes a path or an iterable of lines, got 42"):
        read_log(42)  # type: ignore[arg-type]
    with pytest.raises(SynthLossError, match=r"^line 1: expected a string, got 1"):
        read_log([1])  # type: ignore[list-item]
    with pytest.raises(SynthLossError, match="unknown log format 'xml'"):
        write_log(make_curve(3), io.StringIO(), "xml")


def test_writer_writes_whole_lines_once_per_call() -> None:
    class Recorder(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[str] = []
            self.flushes = 0

        def write(self, text: str) -> int:
            self.writes.append(text)
            return super().write(text)

        def flush(self) -> None:
            self.flushes += 1

    stream = Recorder()
    writer = LogWriter(stream, "jsonl", RunConfig("stable", 3))
    writer.write_header()  # JSONL has no header: nothing written
    writer.write([1], [2.18])
    writer.write([2, 3], [2.11, 2.04])
    assert len(stream.writes) == 2
    assert all(text.endswith("\n") for text in stream.writes)
    assert stream.writes[1].count("\n") == 2
    assert stream.flushes == 2


def test_profile_names_with_line_breaks_cannot_be_logged() -> None:
    with pytest.raises(SynthLossError, match=r"profile name 'a\\nb' contains a line break"):
        LogWriter(io.StringIO(), "text", RunConfig("a\nb", 3))


def test_csv_quotes_odd_profile_names() -> None:
    config = RunConfig('my "run"', 1)
    buffer = io.StringIO()
    LogWriter(buffer, "csv", config).write([1], [2.18])
    assert buffer.getvalue() == '1,2.18,"my ""run""",,\n'
    parsed = read_log(["step,loss,profile,lr,batch_size", buffer.getvalue()])
    assert parsed.profile == 'my "run"'
    assert np.array_equal(parsed.losses, [2.18])


# -- bad files and huge logs -------------------------------------------------------------


def test_a_non_utf8_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(b"Step 1: loss=2.18\nStep 2: loss=\xff2.11\n")
    with pytest.raises(SynthLossError) as info:
        read_log(path)
    assert str(info.value) == (
        "line 2: not UTF-8 text (byte 0xff at character 14); logs are read as UTF-8"
    )


def test_deeply_nested_json_is_a_malformed_line() -> None:
    # In a child process: on CPython 3.11.7 the RecursionError inside json leaves the AST
    # recursion state off (gh-106905, fixed in 3.11.8), and a later ast.parse in the same
    # process (pytest's own traceback rendering) fails with a SystemError.
    import subprocess
    import sys

    code = """
import pytest_synthloss as p
line = '{"step": ' + "[" * 100_000
try:
    p.read_log(["", line], "jsonl")
except p.SynthLossError as exc:
    print(exc)
print(p.read_log([line], skip_malformed=True).skipped == ((1, line),))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    line = '{"step": ' + "[" * 100_000
    assert done.stdout.splitlines() == [
        f"line 2: invalid JSON (nested too deeply) in jsonl log: {line[:200]!r}... "
        "(100009 characters)",
        "True",
    ]


def test_steps_of_too_many_digits_are_malformed() -> None:
    with pytest.raises(SynthLossError, match=r"^line 1: step must be an integer >= 1, got '1111"):
        read_log(["Step " + "1" * 5000 + ": loss=1.05"])
    with pytest.raises(SynthLossError, match=r"^line 1: invalid JSON \(Exceeds the limit"):
        read_log(['{"step": ' + "1" * 5000 + ', "loss": 1}'])
    with pytest.raises(SynthLossError, match=r"^line 1: step must be an integer >= 1, got '01'"):
        read_log(["Step 01: loss=1.05"])  # the writers never pad a step


def test_missing_steps_refuses_a_huge_gap() -> None:
    log = read_log(["Step 1: loss=2.18", "Step 9223372036854775807: loss=1.05"])
    assert log.gaps == ((2, 9223372036854775806),)
    assert log.missing_count == 9223372036854775805
    with pytest.raises(SynthLossError) as info:
        log.missing_steps  # noqa: B018
    assert str(info.value) == (
        "the log misses 9223372036854775805 steps, more than missing_steps lists (1000000); "
        "use .gaps, the (first, last) windows of missing steps"
    )
    small = read_log(["Step 1: loss=2.18", "Step 1000002: loss=1.05"])
    assert len(small.missing_steps) == 1_000_000


def test_write_log_checks_everything_before_creating_a_file(tmp_path: Path) -> None:
    curve = make_curve(5)
    cases: list[tuple[Callable[[], None], str]] = [
        (
            lambda: write_log(curve, "/nonexistent/w.log", "text"),
            "cannot write log '/nonexistent/w.log': No such file or directory",
        ),
        (
            lambda: write_log([1.0], tmp_path / "w2.log", "text"),  # type: ignore[arg-type]
            "write_log() takes a LossCurve, got [1.0]",
        ),
        (
            lambda: write_log(curve, tmp_path / "w3.log", "xml"),
            "unknown log format 'xml'; known formats: text, jsonl, csv",
        ),
        (
            lambda: write_log(curve, 42, "text"),  # type: ignore[arg-type]
            "write_log() writes to a path or an open text stream, got 42",
        ),
    ]
    for call, message in cases:
        with pytest.raises(SynthLossError) as info:
            call()
        assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_write_log_to_a_full_device() -> None:
    with pytest.raises(SynthLossError) as info:
        write_log(make_curve(5), "/dev/full", "text")
    assert str(info.value) == "cannot write log '/dev/full': No space left on device"
    assert Path("/dev/full").exists()  # a device is never removed


def test_write_log_removes_a_partly_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = LogWriter.write

    def write_then_fail(
        self: LogWriter,
        steps: list[int],
        losses: list[float],
        time: float | None = None,
        signals: object = None,
    ) -> None:
        real_write(self, steps, losses, time, signals)  # type: ignore[arg-type]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LogWriter, "write", write_then_fail)
    path = tmp_path / "run.jsonl"
    with pytest.raises(SynthLossError) as info:
        write_log(make_curve(5), path)
    assert str(info.value) == f"cannot write log '{path}': No space left on device"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("profile", ["nan", "inf"])
def test_every_jsonl_line_is_strict_json_and_reads_back_exactly(profile: str) -> None:
    import io
    import json

    curve = make_curve(14, profile)
    buffer = io.StringIO()
    write_log(curve, buffer, "jsonl")
    lines = buffer.getvalue().splitlines()

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    records = [json.loads(line, parse_constant=refuse) for line in lines]
    assert records[11]["loss"] == {"nan": "NaN", "inf": "Infinity"}[profile]
    back = read_log(lines)
    assert back.steps.tolist() == curve.steps.tolist()
    assert np.array_equal(back.losses, curve.losses, equal_nan=True)
    # the bare NaN of older logs (and of json.dumps' default) still reads
    old = read_log(['{"step": 1, "loss": NaN}', '{"step": 2, "loss": -Infinity}'])
    assert np.isnan(old.losses[0])
    assert old.losses[1] == -np.inf


def test_a_string_loss_other_than_the_three_names_is_malformed() -> None:
    with pytest.raises(SynthLossError) as info:
        read_log(['{"step": 1, "loss": "nan"}'])
    assert str(info.value) == (
        'line 1: loss must be a number or "NaN", "Infinity" or "-Infinity", got \'nan\' '
        """in jsonl log: '{"step": 1, "loss": "nan"}'"""
    )
