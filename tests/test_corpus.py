"""The labelled corpus: what it holds, that each log loads with its labels, and its sources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.emulation.corpus import CORPUS_DIR, corpus_logs, corpus_path
from pytest_synthloss.emulation.importers import load_log, read_recorded

ROOT = Path(__file__).resolve().parent.parent


def test_the_corpus_is_small_and_every_file_has_its_source() -> None:
    files = [p for p in CORPUS_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 200_000
    assert corpus_logs() == (
        "generated/llm_pretrain_trouble.csv",
        "generated/slow_divergence_metrics.csv",
        "torchtitan/llama3_cuda.txt",
        "torchtitan/qwen3_moe_cuda.txt",
    )
    readme = (CORPUS_DIR / "README.md").read_text()
    for name in corpus_logs():
        assert f"`{name}`" in readme
        assert (CORPUS_DIR / f"{name}.labels.json").is_file()
    assert (CORPUS_DIR / "torchtitan" / "LICENSE").read_text().startswith("BSD 3-Clause License")
    with pytest.raises(SynthLossError, match=r"^no corpus log 'x'; the corpus holds: generated/"):
        corpus_path("x")


def test_the_torchtitan_files_read_as_torchtitan_reads_them() -> None:
    for name in ("torchtitan/llama3_cuda.txt", "torchtitan/qwen3_moe_cuda.txt"):
        expected: dict[int, float] = {}
        with open(corpus_path(name)) as handle:  # scripts/loss_compare.py read_losses_from_file
            for line in handle:
                step, loss = line.strip().split()
                expected[int(step)] = float(loss)
        log = read_recorded(corpus_path(name))
        assert log.format == "step-value"
        assert dict(zip(log.steps.tolist(), log.values.tolist(), strict=True)) == expected
        assert len(expected) == 100
        curve = load_log(corpus_path(name))
        assert curve.events == ()  # healthy runs: nothing a monitor should alert on
        assert curve.steps.tolist() == list(range(1, 101))


def test_the_generated_files_are_what_make_corpus_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "examples/make_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    make_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_corpus)
    for name, text in make_corpus.corpus_files().items():
        assert (CORPUS_DIR / "generated" / name).read_text(encoding="utf-8") == text, name


def test_the_generated_runs_carry_their_profiles_ground_truth() -> None:
    trouble = load_log(corpus_path("generated/llm_pretrain_trouble.csv"))
    truth = make_curve(None, "llm-pretrain-trouble")
    assert trouble.steps.tolist() == truth.steps.tolist()
    assert trouble.losses.tobytes() == truth.losses.tobytes()
    assert [(e.kind, e.first, e.last) for e in trouble.events] == [
        (e.kind, e.first, e.last) for e in truth.events
    ]
    assert trouble.spike_steps == truth.spike_steps
    assert trouble.nonfinite_steps == (800,)
    diverging = load_log(corpus_path("generated/slow_divergence_metrics.csv"))
    assert diverging.steps.tolist() == list(range(1, 1001))  # Lightning's step 0 is step 1
    assert diverging.divergence_step == 500 == make_curve(None, "slow-divergence").divergence_step
