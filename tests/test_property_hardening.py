"""Issue 12, property-based: random bytes and lines to read_log, random argv to the CLI.

Properties: read_log returns a ParsedLog or raises SynthLossError, nothing else; every
``synthloss`` subcommand ends with a documented exit code, never a traceback (an
exception out of ``main``), and leaves no partial or temporary file. Bounded examples:
a few seconds in all.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pytest_synthloss import SynthLossError, read_log  # noqa: E402
from pytest_synthloss.cli.main import main  # noqa: E402
from pytest_synthloss.emulation.parsed_log import ParsedLog  # noqa: E402

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

LOG_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [
                b"# synthloss run: profile=stable steps=3 start_step=1 lr=None batch_size=None\n",
                b"Step 1: loss=2.18\n",
                b"Step 2: loss=nan\n",
                b'{"step": 1, "loss": 2.5}\n',
                b'{"step": 1, "loss": 1e999}\n',
                b"step,loss,profile,lr,batch_size\n",
                b"3,1.5,stable,,\n",
                b"\xff\xfe\n",
                b"\r\n",
                b"Step 99999999999999999999: loss=1\n",
            ]
        ),
        max_size=8,
    ).map(b"".join),
)


@QUICK
@given(data=LOG_BYTES, fmt=st.sampled_from([None, "text", "jsonl", "csv"]), skip=st.booleans())
def test_read_log_of_random_bytes_parses_or_refuses(
    data: bytes, fmt: str | None, skip: bool
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "random.log"
        path.write_bytes(data)
        try:
            log = read_log(path, fmt, skip_malformed=skip)
        except SynthLossError as exc:
            message = str(exc)
            log = None
        else:
            message = ""
        assert "\n" not in message
        assert log is None or isinstance(log, ParsedLog)


@QUICK
@given(lines=st.lists(st.text(max_size=60), max_size=6), skip=st.booleans())
def test_read_log_of_random_lines_parses_or_refuses(lines: list[str], skip: bool) -> None:
    try:
        log = read_log(lines, skip_malformed=skip)
    except SynthLossError:
        pass
    else:
        assert isinstance(log, ParsedLog)


TOKENS = st.sampled_from(
    [
        "--steps",
        "--sleep-seconds",
        "--profile",
        "--lr",
        "--batch-size",
        "--start-step",
        "--format",
        "-o",
        "--progress",
        "--no-progress",
        "--stall",
        "--restart",
        "--drop",
        "--crash",
        "--top",
        "--profiles",
        "-v",
        "--help",
        "0",
        "1",
        "3",
        "-3",
        "x",
        "\u0665",
        "1e3",
        "99999999999999999999",
        "",
        "nan",
        "inf",
        "spiky",
        "stable",
        "all",
        "none",
        "jsonl",
        "csv",
        "text",
        "2:0.01",
        "3:1",
        "2..3",
        "1,2",
        "0.001",
        "OUT",
        "DIR",
    ]
)
COMMANDS = st.sampled_from(["train", "curve", "profiles", "sweep", "plot"])
DOCUMENTED = {0, 1, 2, 130, 141, 143} | set(range(3, 256))  # 3..255: a declared crash


@QUICK
@given(command=COMMANDS, tokens=st.lists(TOKENS, max_size=8))
def test_random_command_lines_end_cleanly(command: str, tokens: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        out = str(Path(directory) / "out.file")
        argv = [command, *(out if t == "OUT" else directory if t == "DIR" else t for t in tokens)]
        documented = DOCUMENTED if "--crash" in argv else {0, 1, 2, 130, 141, 143}
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(argv)  # any exception here is the traceback a user would see
        assert code in documented
        if code == 2:
            assert len(stderr.getvalue().splitlines()) == 1
            assert stderr.getvalue().startswith(("synthloss", "usage"))
        left = sorted(p.name for p in Path(directory).iterdir())
        assert not [name for name in left if name.endswith(".synthloss-tmp")]
        if code not in (0, 130, 143) and code < 3:
            assert left == []  # a failed command leaves no output file
