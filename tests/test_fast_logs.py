"""read_log's bulk fast path (emulation/fast_logs.py) gives exactly what the careful path gives.

A path is read in bulk when every line has the writers' shape; the same lines passed as an
iterable always take the careful per-line path. Both must agree bit for bit (or raise the
same message), on the writers' logs and on near-misses the fast grammar must refuse.
"""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss import make_curve, read_log, write_log
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.emulation.fast_csv import _end_with, csv_bulk
from pytest_synthloss.emulation.fast_logs import read_whole
from pytest_synthloss.emulation.logreader import _Parser

_TRICKY = [0.0, -0.0, 1e-320, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308, 1e22]
_FLOATS = st.one_of(
    st.sampled_from(_TRICKY), st.floats(allow_nan=False, allow_infinity=False, width=64)
)
#: Tokens float() takes but the careful grammar may not: the fast path must never differ.
_TEXT_ODD = ["nan", "NaN", "inf", "-inf", "+inf", "INF", "1e400", "-0", "5.", "1.e5", "+.5"]
_TEXT_ODD += ["-.5", " 1.5", "1_0", "0x1p3", "infinity", "-nan", "1e-320", "1E5", "nan(1)"]
_JSON_ODD = ['"NaN"', "NaN", '"Infinity"', "-Infinity", '"-Infinity"', "-0", "01", "1E5"]
_JSON_ODD += [".5", "+1", '"1.5"', "1e400", "-0.0", "1" * 320, "-01.5", "-NaN", "true"]
_STEP_ODD = ["0", "05", "+5", "1e3", "99999999999999999999", " 5", "5.0", ""]


def _token(fmt: str, value: float, style: int) -> str:
    if fmt == "jsonl":
        if math.isnan(value):
            return '"NaN"'
        if math.isinf(value):
            return '"Infinity"' if value > 0 else '"-Infinity"'
        return repr(value)
    if fmt == "text" and style % 2 and math.isfinite(value):
        return f"{value:.2f}"
    return repr(value) if math.isfinite(value) else str(value)


def _line(fmt: str, step: str, loss: str) -> str:
    if fmt == "csv":
        return f"{step},{loss},noisy,0.001,\n"
    if fmt == "text":
        return f"Step {step}: loss={loss}\n"
    return f'{{"step": {step}, "loss": {loss}, "profile": "noisy", "lr": null, "batch_size": 8}}\n'


def _head(fmt: str, count: int) -> list[str]:
    if fmt == "csv":
        return ["step,loss,profile,lr,batch_size\n"]
    if fmt == "text":
        return [
            f"# synthloss run: profile=noisy steps={count} start_step=1 lr=0.001 batch_size=8\n"
        ]
    return []


def _both(tmp: Path, lines: list[str], skip: bool = False) -> tuple[object, object]:
    """read_log on the file (fast path when it fits) and on the lines (careful path)."""
    path = tmp / "log.txt"
    path.write_bytes("".join(lines).encode("utf-8"))
    results: list[object] = []
    for source in (path, io.StringIO("".join(lines), newline="")):
        try:
            results.append(read_log(source, skip_malformed=skip))
        except SynthLossError as exc:
            results.append(str(exc))
    return results[0], results[1]


def _bits(values: np.ndarray) -> list[bytes]:
    return [struct.pack("<d", v) for v in values.tolist()]


def _same(fast: object, careful: object) -> None:
    if isinstance(careful, str):
        assert fast == careful
        return
    assert not isinstance(fast, str), fast
    assert fast.steps.tolist() == careful.steps.tolist()  # type: ignore[attr-defined]
    assert fast.steps.dtype == careful.steps.dtype == np.int64  # type: ignore[attr-defined]
    for name in ("repeated_steps", "gaps", "resumes", "skipped", "format"):
        assert getattr(fast, name) == getattr(careful, name), name
    assert (fast.profile, fast.lr, fast.batch_size) == (  # type: ignore[attr-defined]
        careful.profile,  # type: ignore[attr-defined]
        careful.lr,  # type: ignore[attr-defined]
        careful.batch_size,  # type: ignore[attr-defined]
    )
    assert fast.planned_last_step == careful.planned_last_step  # type: ignore[attr-defined]
    assert _bits(fast.losses) == _bits(careful.losses)  # type: ignore[attr-defined]
    assert fast.losses.flags.writeable is careful.losses.flags.writeable is False  # type: ignore[attr-defined]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(["csv", "text", "jsonl"]),
    values=st.lists(
        st.one_of(_FLOATS, st.sampled_from([math.nan, math.inf, -math.inf])),
        min_size=1,
        max_size=12,
    ),
    style=st.integers(0, 3),
    odd=st.one_of(st.none(), st.tuples(st.integers(0, 11), st.booleans(), st.integers(0, 100))),
    skip=st.booleans(),
)
def test_the_fast_path_equals_the_careful_path(
    tmp_path: Path,
    fmt: str,
    values: list[float],
    style: int,
    odd: tuple[int, bool, int] | None,
    skip: bool,
) -> None:
    steps = [str(i + 1) for i in range(len(values))]
    losses = [_token(fmt, value, style) for value in values]
    if odd is not None:  # one near-miss token: a step or a loss the grammar must weigh
        index, in_step, pick = odd
        index %= len(values)
        if in_step:
            steps[index] = _STEP_ODD[pick % len(_STEP_ODD)]
        else:
            pool = _JSON_ODD if fmt == "jsonl" else _TEXT_ODD
            losses[index] = pool[pick % len(pool)]
    lines = _head(fmt, len(values)) + [_line(fmt, s, x) for s, x in zip(steps, losses, strict=True)]
    fast, careful = _both(tmp_path, lines, skip)
    _same(fast, careful)
    if odd is None:  # the writers' shape: read in bulk
        assert read_whole(str(tmp_path / "log.txt"), _Parser(None, skip)) is not None


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(["csv", "text", "jsonl"]),
    count=st.integers(1, 8),
    where=st.integers(0, 20),
    edit=st.sampled_from(
        ["drop", "blank", "crlf", "comment", "double", "cut", "space", "swap", "utf8"]
    ),
)
def test_broken_lines_read_by_the_fast_path_fail_as_the_careful_path_does(
    tmp_path: Path, fmt: str, count: int, where: int, edit: str
) -> None:
    lines = _head(fmt, count) + [_line(fmt, str(i + 1), repr(0.5 + i)) for i in range(count)]
    at = where % len(lines)
    line = lines[at]
    lines[at] = {
        "drop": line.replace(",", "", 1).replace(": loss=", " loss="),
        "blank": "\n" + line,
        "crlf": line.replace("\n", "\r\n"),
        "comment": "# a note\n" + line,
        "double": line[:-1] + line,
        "cut": line[: len(line) // 2] + "\n",
        "space": line.replace("\n", " \n"),
        "swap": line.replace("noisy", "other"),
        "utf8": line.replace("noisy", "n\u00f6isy"),
    }[edit]
    fast, careful = _both(tmp_path, lines)
    _same(fast, careful)


def test_a_writers_log_is_read_in_bulk_exactly(tmp_path: Path) -> None:
    curve = make_curve(300, "spiky")
    for fmt in ("csv", "text", "jsonl"):
        path = tmp_path / f"run.{fmt}"
        write_log(curve, path, fmt)
        bulk = read_whole(str(path), _Parser(None, False))
        assert bulk is not None, fmt
        with open(path, encoding="utf-8") as handle:
            careful = read_log(list(handle))
        _same(bulk, careful)
        assert bulk.steps.tolist() == list(range(1, 301))


def test_timed_and_nonstandard_logs_are_left_to_the_careful_path(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    path.write_text("step,loss,profile,lr,batch_size,time,final_step\n1,0.5,p,,,0.1,3\n")
    assert read_whole(str(path), _Parser(None, False)) is None
    assert read_log(path).times.tolist() == [0.1]  # type: ignore[union-attr]
    path.write_text("step,loss,profile,lr,batch_size\n1,0.5,p,,\n1,0.25,p,,\n")
    assert read_whole(str(path), _Parser(None, False)) is not None
    assert read_log(path).resumes == ((1, 1),)


_CSV_LOSS_ODD = [*_TEXT_ODD, "", "1e", "e5", ".", "1.5.5", "--1", "+-1", "1,5", '"1.5"', "#1"]
_CSV_LOSS_ODD += ["1e+", "nosy", "1s", "y", " nan", "Inf", "+nan", "1" * 401, "0." + "1" * 399]
_CSV_SUFFIXES = [",noisy,0.001,", ",noisy,,", ",my run #2,,", ",,,", ",a b,1e-3,8"]


@pytest.mark.parametrize("chunk", [7, 1 << 18])  # lines across the scan's chunks, or not
@pytest.mark.parametrize("suffix", _CSV_SUFFIXES)
@pytest.mark.parametrize("token", _CSV_LOSS_ODD + [f"step:{s}" for s in _STEP_ODD])
def test_csv_near_misses_read_as_the_careful_path_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, suffix: str, chunk: int
) -> None:
    monkeypatch.setattr("pytest_synthloss.emulation.fast_csv._CHUNK", chunk)
    lines = ["step,loss,profile,lr,batch_size\n"]
    lines += [f"{i},{0.5 + i!r}{suffix}\n" for i in range(1, 6)]
    step, loss = (token[5:], "0.25") if token.startswith("step:") else ("3", token)
    lines[3] = f"{step},{loss}{suffix}\n"
    fast, careful = _both(tmp_path, lines)
    _same(fast, careful)


@pytest.mark.parametrize("chunk", [7, 1 << 18])
@pytest.mark.parametrize("suffix", _CSV_SUFFIXES)
def test_csv_logs_of_every_suffix_are_read_in_bulk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, chunk: int
) -> None:
    monkeypatch.setattr("pytest_synthloss.emulation.fast_csv._CHUNK", chunk)
    path = tmp_path / "run.csv"
    values = [0.5, math.nan, math.inf, -math.inf, 1e-320, -0.0, 1.7976931348623157e308]
    body = "".join(f"{i + 1},{v!r}{suffix}\n" for i, v in enumerate(values))
    path.write_text("step,loss,profile,lr,batch_size\n" + body)
    head = len("step,loss,profile,lr,batch_size\n")
    bulk = csv_bulk(str(path), path.read_bytes(), head, suffix.encode())
    assert bulk is not None
    assert bulk[0].tolist() == list(range(1, len(values) + 1))
    assert bulk[0].dtype == np.int64
    assert _bits(bulk[1]) == _bits(np.array(values))


def test_csv_steps_are_read_as_integers_exactly(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    big = 2**53 + 1  # not a float64
    path.write_text(f"step,loss,profile,lr,batch_size\n{big},0.5,p,,\n")
    head = len("step,loss,profile,lr,batch_size\n")
    bulk = csv_bulk(str(path), path.read_bytes(), head, b",p,,")
    assert bulk is not None
    assert bulk[0].tolist() == [big]
    assert read_log(path).steps.tolist() == [big]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("loss", ["5.", "1.e5", "2.5", ".5", "1.0e-3"])
def test_csv_dots_are_checked_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, loss: str
) -> None:
    monkeypatch.setattr("pytest_synthloss.emulation.fast_csv._CHUNK", chunk)
    lines = ["step,loss,profile,lr,batch_size\n"]
    lines += [f"{i},{loss if i % 3 == 0 else '0.25'},p,,\n" for i in range(1, 9)]
    fast, careful = _both(tmp_path, lines)
    _same(fast, careful)
    data = (tmp_path / "log.txt").read_bytes()
    head = len(lines[0])
    bulk = csv_bulk(str(tmp_path / "log.txt"), data, head, b",p,,")
    assert (bulk is None) == (loss in ("5.", "1.e5"))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), min_size=1),
    st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")),
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
)
def test_the_line_end_check_is_a_count_of_the_suffix(
    lines: list[bytes], suffix: bytes, head: bytes
) -> None:
    """Eight bytes at a time before each newline, the same answer as counting the suffix
    (lines shorter than it, near the start, differing in any byte, of any suffix length)."""
    data = head + b"\n" + b"".join(line + b"\n" for line in lines)
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))[1:]
    expected = data.count(suffix + b"\n") - head.endswith(suffix) == len(lines)
    assert _end_with(data, ends, suffix) == expected
    exact = head + b"\n" + b"".join(line + suffix + b"\n" for line in lines)
    exact_ends = np.flatnonzero(np.frombuffer(exact, np.uint8) == ord("\n"))[1:]
    assert _end_with(exact, exact_ends, suffix)
