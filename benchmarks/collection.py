"""Collection figures: ``pytest --collect-only -q`` on generated suites, in subprocesses.

Each suite lives in a temporary directory with an empty ``pytest.ini`` (so no project
configuration leaks in). Plugin autoloading is off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``)
and ours is loaded with ``-p pytest_synthloss.plugin.hooks``: other installed plugins (hypothesis
alone adds ~0.6 s to pytest's start) would otherwise dilute the ratio. Both sides of a ratio
run interleaved, after one untimed warm-up each (which writes the rewritten bytecode), and
the best wall time counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import MISS, UNAVAILABLE, Row, Settings, case

_COLLECT = ("-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider")
_PLUGIN = ("-p", "pytest_synthloss.plugin.hooks")
#: The baseline of ``collect.plain``: an empty plugin module, loaded the same way.
_EMPTY = "synthloss_bench_empty_plugin"
_COLLECTED = re.compile(r"(\d+) tests? collected")
#: Collects in-process, then says whether numpy got imported.
_NUMPY_PROBE = (
    "import sys, pytest; pytest.main(sys.argv[1:]); print('numpy' in sys.modules, file=sys.stderr)"
)


def write_suite(root: Path, tests: int, args: str = "") -> None:
    """``tests`` trivial test functions taking ``args``, 100 to a file, under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    for first in range(0, tests, 100):
        body = "".join(
            f"def test_{i}({args}):\n    pass\n\n\n" for i in range(first, min(first + 100, tests))
        )
        (root / f"test_gen_{first // 100:03d}.py").write_text(body)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONDEVMODE", None)
    # As on a user's machine, bytecode is cached: with PYTHONDONTWRITEBYTECODE (set on some
    # CI images) every start would recompile and re-rewrite our modules, while pytest's own
    # come precompiled, which measures the image, not the plugin.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def collect(root: Path, extra: Sequence[str]) -> tuple[float, int, str, str]:
    """Run one collection: ``(wall seconds, exit code, stdout, stderr)``."""
    command = [sys.executable, *_COLLECT, *extra]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=root, env=_env(), capture_output=True, text=True, check=False
    )
    return time.perf_counter() - start, done.returncode, done.stdout, done.stderr


def numpy_loaded(root: Path, extra: Sequence[str]) -> bool:
    """Whether collecting the suite with ``extra`` arguments imports numpy."""
    command = [sys.executable, "-c", _NUMPY_PROBE, *_COLLECT[2:], *extra]
    done = subprocess.run(
        command, cwd=root, env=_env(), capture_output=True, text=True, check=False
    )
    return done.stderr.strip().endswith("True")


def collected(stdout: str) -> int:
    """The number in pytest's ``N tests collected`` line (0 if absent)."""
    found = _COLLECTED.search(stdout)
    return int(found.group(1)) if found else 0


def best_runs(runs: Sequence[tuple[Path, Sequence[str]]], repeats: int, warm: bool) -> list[float]:
    """Best collection time of each ``(suite, arguments)``, interleaved, order rotating."""
    if warm:
        for root, extra in runs:
            collect(root, extra)
    best = [float("inf")] * len(runs)
    for round_ in range(repeats):
        shift = round_ % len(runs)
        for index in [*range(shift, len(runs)), *range(shift)]:
            root, extra = runs[index]
            best[index] = min(best[index], collect(root, extra)[0])
    return best


def _one_line(text: str) -> str:
    """The line of pytest's output that says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["(no output)"])[-1]


# -- plugin load cost -------------------------------------------------------------------------


def _plain_layout(s: Settings) -> list[Row]:
    figure = (
        f"pytest --collect-only -q, {s.suite_tests} plain tests: "
        "with the plugin vs an empty plugin (no other plugins)"
    )
    return [Row("collect.plain", figure, "≤ 1.03, no numpy import")]


@case(_plain_layout, needs=("pytest_synthloss.plugin.hooks",))
def collect_plain(s: Settings, rows: list[Row]) -> None:
    """What the plugin costs a suite that does not use it.

    The baseline loads an empty plugin module with ``-p`` too. With autoloading off,
    ``-p NAME`` first makes pytest search every installed distribution's entry points for
    NAME (about 5 ms here, whatever the plugin); a user's pytest, autoloading, makes that
    search at every start, with or without us. The run with no ``-p`` at all is timed as
    well and reported in the notes.
    """
    row = rows[0]
    with tempfile.TemporaryDirectory(prefix="synthloss-bench-") as tmp:
        root = Path(tmp)
        write_suite(root, s.suite_tests)
        (root / f"{_EMPTY}.py").write_text('"""An empty pytest plugin."""\n')
        repeats = 4 * s.collect_repeats  # the goal is tight (3%): more rounds
        with_plugin, empty, bare = best_runs(
            [(root, _PLUGIN), (root, ["-p", _EMPTY]), (root, [])], repeats, not s.quick
        )
        numpy_by_plugin = numpy_loaded(root, _PLUGIN) and not numpy_loaded(root, [])
    row.ours_s, row.baseline_s = with_plugin, empty
    row.judge(1.03)
    if numpy_by_plugin:
        row.verdict = MISS
    row.notes = "numpy imported by the plugin" if numpy_by_plugin else "numpy not imported"
    row.notes += f"; {with_plugin / bare:.3g}× no -p at all ({bare * 1e3:.0f} ms)"
    row.details.update(tests=s.suite_tests, numpy_imported_by_plugin=numpy_by_plugin, bare_s=bare)


# -- parametrized collection ------------------------------------------------------------------


def _param_layout(s: Settings) -> list[Row]:
    base = f"{s.suite_tests} tests with synthloss_curve"
    return [
        Row(
            "collect.parametrized.raw",
            f"collection, {base}: --synthloss-profile all vs one profile",
            "report (≈ number of profiles)",
        ),
        Row(
            "collect.parametrized.per_profile",
            "the same, per profile (raw ratio / number of profiles in 'all')",
            "≤ 1.1",
        ),
        Row(
            "collect.parametrized.per_item",
            "the same, per collected item (pytest's start, an empty suite, subtracted)",
            "≤ 1.1 (no extra per-test cost)",
        ),
    ]


@case(_param_layout, needs=("pytest_synthloss.plugin.hooks",))
def collect_parametrized(s: Settings, rows: list[Row]) -> None:
    """Collection of fixture-using tests with every profile against one profile."""
    raw, per_profile, per_item = rows
    with tempfile.TemporaryDirectory(prefix="synthloss-bench-") as tmp:
        root = Path(tmp)
        write_suite(root, s.suite_tests, "synthloss_curve")
        one = [*_PLUGIN, "--synthloss-profile", "stable"]
        every = [*_PLUGIN, "--synthloss-profile", "all"]
        checks = [collect(root, one), collect(root, every)]
        for _, code, out, err in checks:
            if code != 0:
                reason = f"pytest exit {code}: {_one_line(err or out)}"
                for row in rows:
                    row.verdict, row.unavailable = UNAVAILABLE, reason
                return
        count_one, count_all = collected(checks[0][2]), collected(checks[1][2])
        if count_one != s.suite_tests or count_all % s.suite_tests:
            raise RuntimeError(f"collected {count_one} and {count_all} tests, not multiples")
        profiles = count_all // s.suite_tests
        empty = root / "empty"
        write_suite(empty, 0)
        t_all, t_one, t_empty = best_runs(
            [(root, every), (root, one), (empty, every)], s.collect_repeats, warm=False
        )
    raw.ours_s, raw.baseline_s = t_all, t_one
    raw.judge(None)
    raw.notes = f"{profiles} profiles: {count_all} vs {count_one} items"
    per_profile.ours_s, per_profile.baseline_s = t_all, t_one * profiles
    per_profile.judge(1.1)
    per_profile.notes = f"raw / {profiles}"
    per_item.ours_s, per_item.baseline_s = t_all - t_empty, (t_one - t_empty) * profiles
    per_item.judge(1.1)
    per_item.notes = f"(all - start) / ({profiles} × (one - start)); start {t_empty:.3f} s"
    for row in rows:
        row.details.update(tests=s.suite_tests, profiles=profiles)
