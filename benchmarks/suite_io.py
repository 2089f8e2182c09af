"""Issue 17 figures: reading and writing logs, and the fixtures in a running suite.

Logs: a ``noisy`` curve of ``floor_steps // 10`` steps (10^6 at full size) is written once
per format; ``read_log`` is timed against numpy's own readers of the same file
(``np.loadtxt`` for CSV, ``np.fromregex`` for text) and against a plain ``json.loads`` loop
for JSONL; ``write_log`` JSONL against our own text writer.

Fixtures: generated suites are *run* (not only collected) in subprocesses, as in
``collection.py``: 1000 tests taking ``synthloss_curve`` against the same tests taking a
trivial fixture returning a 20-element array, once with one profile and once under
``--synthloss-profile all`` (the trivial fixture then has as many parameters). The
``synthloss_run`` figure is the time a test spends from starting a 5-step run to its end
(``run.wait()``), against the wall time of ``python -c "import numpy"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from collection import _env, collected
from harness import UNAVAILABLE, Row, Settings, best_of, case, fmt_steps

from pytest_synthloss import make_curve, read_log, write_log

_TEXT_LINE = r"Step (\d+): loss=(\S+)"


def _log_layout(s: Settings) -> list[Row]:
    n = fmt_steps(s.floor_steps // 10)
    return [
        Row("log.read.csv", f"read_log csv, {n} lines vs np.loadtxt", "≤ 1.5"),
        Row("log.read.text", f"read_log text, {n} lines vs np.fromregex", "≤ 1.5"),
        Row("log.read.jsonl", f"read_log jsonl, {n} lines vs a json.loads loop", "≤ 1"),
        Row("log.write.jsonl", f"write_log jsonl, {n} lines vs write_log text", "≤ 2"),
    ]


def json_loop(path: Path) -> list[object]:
    """Every line of a JSONL file through ``json.loads``: the plain baseline."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@case(_log_layout)
def logs(s: Settings, rows: list[Row]) -> None:
    """read_log and write_log against numpy's readers, json.loads and our text writer."""
    n = s.floor_steps // 10
    curve = make_curve(n, "noisy")
    with tempfile.TemporaryDirectory(prefix="synthloss-bench-") as tmp:
        root = Path(tmp)
        paths = {fmt: root / f"run.{fmt}" for fmt in ("csv", "text", "jsonl")}
        for fmt, path in paths.items():
            write_log(curve, path, fmt)
        step_loss = [("step", np.int64), ("loss", np.float64)]
        times = best_of(
            {
                "csv": lambda: read_log(paths["csv"]),
                "loadtxt": lambda: np.loadtxt(
                    paths["csv"], delimiter=",", skiprows=1, usecols=(0, 1)
                ),
                "text": lambda: read_log(paths["text"]),
                "fromregex": lambda: np.fromregex(paths["text"], _TEXT_LINE, step_loss),
                "jsonl": lambda: read_log(paths["jsonl"]),
                "json_loop": lambda: json_loop(paths["jsonl"]),
                "write_jsonl": lambda: write_log(curve, root / "out.jsonl", "jsonl"),
                "write_text": lambda: write_log(curve, root / "out.log", "text"),
            },
            5 if not s.quick else s.repeats,
            s.min_timing,
        )
    pairs = (
        ("csv", "loadtxt", 1.5),
        ("text", "fromregex", 1.5),
        ("jsonl", "json_loop", 1.0),
        ("write_jsonl", "write_text", 2.0),
    )
    for row, (ours, base, goal) in zip(rows, pairs, strict=True):
        row.ours_s, row.baseline_s = times[ours], times[base]
        row.judge(goal)
        row.details["lines"] = n


# -- fixtures in a running suite --------------------------------------------------------------

_RUN = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_synthloss.plugin.hooks")
_TRIVIAL = """import numpy as np
import pytest


@pytest.fixture(params=range({params}))
def trivial(request):
    return np.zeros(20)
"""
_RUN_TEST = """import time


def test_run(synthloss_run):
    start = time.perf_counter()
    run = synthloss_run(steps=5, profile="stable")
    assert run.wait() == 0
    with open("elapsed.txt", "a") as out:
        out.write(f"{{time.perf_counter() - start}}\\n")
"""


def _suite(root: Path, tests: int, fixture: str, params: int = 1) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(_TRIVIAL.format(params=params))
    for first in range(0, tests, 100):
        body = "".join(
            f"def test_{i}({fixture}):\n    pass\n\n\n"
            for i in range(first, min(first + 100, tests))
        )
        (root / f"test_gen_{first // 100:03d}.py").write_text(body)


def _fixture_layout(s: Settings) -> list[Row]:
    tests = s.suite_tests
    return [
        Row(
            "fixture.synthloss_curve.one",
            f"running {tests} tests using synthloss_curve vs a trivial 20-element fixture",
            "≤ 1.1",
        ),
        Row(
            "fixture.synthloss_curve.all",
            "the same under --synthloss-profile all vs the trivial fixture with as many params",
            "≤ 1.1",
        ),
        Row(
            "fixture.synthloss_run",
            "synthloss_run: start to finish of a 5-step run vs python -c 'import numpy'",
            "≤ 2",
        ),
    ]


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=_env(), capture_output=True, check=True)
    return time.perf_counter() - start


@case(_fixture_layout, needs=("pytest_synthloss.plugin.hooks",))
def fixtures(s: Settings, rows: list[Row]) -> None:
    """Running fixture-using suites against trivial ones; a 5-step run against numpy's import."""
    one, every, run_row = rows
    tests = s.suite_tests
    with tempfile.TemporaryDirectory(prefix="synthloss-bench-") as tmp:
        root = Path(tmp)
        probe = root / "probe"
        _suite(probe, 1, "synthloss_curve")
        done = subprocess.run(
            [sys.executable, *_RUN[:-2], "--collect-only", *_RUN[-2:], "--synthloss-profile=all"],
            cwd=probe,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        profiles = collected(done.stdout)
        if done.returncode != 0 or not profiles:
            for row in rows:
                row.verdict, row.unavailable = UNAVAILABLE, f"pytest exit {done.returncode}"
            return
        suites = {
            "curve": (root / "curve", "synthloss_curve", 1),
            "trivial": (root / "trivial", "trivial", 1),
            "trivial_all": (root / "trivial_all", "trivial", profiles),
        }
        for path, fixture, params in suites.values():
            _suite(path, tests, fixture, params)
        runs = [
            (suites["curve"][0], [*_RUN, "--synthloss-profile", "stable"]),
            (suites["trivial"][0], list(_RUN)),
            (suites["curve"][0], [*_RUN, "--synthloss-profile", "all"]),
            (suites["trivial_all"][0], list(_RUN)),
        ]
        t_one, t_trivial, t_all, t_trivial_all = best_runs_run(runs, s.collect_repeats)
        one.ours_s, one.baseline_s = t_one, t_trivial
        every.ours_s, every.baseline_s = t_all, t_trivial_all
        every.notes = f"{profiles} profiles: {profiles * tests} items each side"
        for row in (one, every):
            row.judge(1.1)
            row.details["tests"] = tests
        run_root = root / "run"
        run_root.mkdir()
        (run_root / "pytest.ini").write_text("[pytest]\n")
        (run_root / "test_run.py").write_text(_RUN_TEST.format())
        numpy_import = min(
            _wall([sys.executable, "-c", "import numpy"]) for _ in range(s.collect_repeats)
        )
        for _ in range(s.collect_repeats):
            subprocess.run(
                [sys.executable, *_RUN], cwd=run_root, env=_env(), capture_output=True, check=True
            )
        elapsed = [float(v) for v in (run_root / "elapsed.txt").read_text().split()]
    run_row.ours_s, run_row.baseline_s = min(elapsed), numpy_import
    run_row.judge(2.0)


def best_runs_run(runs: list[tuple[Path, list[str]]], repeats: int) -> list[float]:
    """Best wall time of running each suite (``python`` + arguments), interleaved, after one
    untimed warm-up each (which writes the rewritten bytecode)."""
    for root, extra in runs:  # and check that each suite passes
        done = subprocess.run(
            [sys.executable, *extra], cwd=root, env=_env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"pytest exit {done.returncode}: {done.stdout[-300:]}")
    best = [float("inf")] * len(runs)
    for round_ in range(repeats):
        shift = round_ % len(runs)
        for index in [*range(shift, len(runs)), *range(shift)]:
            best[index] = min(best[index], _run_suite(*runs[index]))
    return best


def _run_suite(root: Path, extra: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *extra], cwd=root, env=_env(), capture_output=True, check=False)
    return time.perf_counter() - start
