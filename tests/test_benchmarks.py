"""The benchmark harness runs and reports every figure (structure only, never speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"

#: Every figure of issue 6, by id. Removing one from the harness must fail this test.
FIGURES = [
    "vs_loop.make_curve.1e3",
    "vs_loop.make_curve.1e6",
    "vs_loop.make_curve.1e7",
    "vs_loop.synthetic_losses.1e3",
    "vs_loop.synthetic_losses.1e6",
    "vs_loop.synthetic_losses.1e7",
    "vs_full.make_curve",
    "vs_full.synthetic_losses",
    "iter_chunks.1e9",
    "assert.assert_no_spikes",
    "assert.assert_reaches_floor",
    "assert.assert_spikes_at",
    "assert.score_alerts",
    "stack.lightning",
    "stack.metaseq",
    "stack.megatron",
    "stack.olmo-skip-step",
    "stack.olmo-stability",
    "stack.llm-foundry",
    "sweep.10000",
    "handout.make_curve_20",
    "collect.plain",
    "collect.parametrized.raw",
    "collect.parametrized.per_profile",
    "collect.parametrized.per_item",
]


def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert set(report["machine"]) == {"nproc", "cpu", "platform", "python", "numpy", "pytest"}
    assert [row["id"] for row in report["figures"]] == FIGURES
    for row in report["figures"]:
        if row["verdict"] == "UNAVAILABLE":
            assert row["unavailable"], row  # a real reason (an ImportError, pytest's error)
            assert row["ratio"] is None
        else:
            assert row["verdict"] in {"PASS", "MISS", "INFO"}, row
            assert row["unavailable"] is None
            assert isinstance(row["ratio"], float), row
            assert math.isfinite(row["ratio"]), row
            if row["id"] != "collect.parametrized.per_item":
                # per_item subtracts pytest's start-up time: at --quick sizes on a loaded
                # machine that difference can be noise of either sign
                assert row["ratio"] > 0, row
        assert f"| {row['figure']} |" in done.stdout  # and it is in the printed table
