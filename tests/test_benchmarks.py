"""The benchmark harness runs and reports every figure (structure only, never speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"

#: Every figure of issues 6 and 17, by id. Removing one from the harness must fail this test.
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
    "vs_naive.power_cosine_noise",
    "collect.plain",
    "collect.parametrized.raw",
    "collect.parametrized.per_profile",
    "collect.parametrized.per_item",
    "rule.running-min.full",
    "rule.running-min.pandas",
    "rule.running-mean.full",
    "rule.running-mean.pandas",
    "rule.ema.full",
    "rule.ema.pandas",
    "rule.zscore.full",
    "rule.zscore.pandas",
    "rule.lightning.full",
    "rule.lightning.pandas",
    "rule.metaseq.full",
    "rule.metaseq.pandas",
    "rule.megatron.full",
    "rule.megatron.pandas",
    "rule.olmo-skip-step.full",
    "rule.olmo-skip-step.pandas",
    "rule.olmo-stability.full",
    "rule.olmo-stability.pandas",
    "rule.llm-foundry.full",
    "rule.llm-foundry.pandas",
    "engine.diverging",
    "engine.noisy",
    "linear.assert_spikes_at.1e3",
    "linear.score_alerts.1e6",
    "linear.assert_alerts_match.1e6",
    "fail.assert_all_finite",
    "fail.assert_no_spikes",
    "fail.assert_spikes_at",
    "fail.assert_monotonic_decreasing",
    "fail.assert_curve_equal",
    "log.read.csv",
    "log.read.text",
    "log.read.jsonl",
    "log.write.jsonl",
    "fixture.synthloss_curve.one",
    "fixture.synthloss_curve.all",
    "fixture.synthloss_run",
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
