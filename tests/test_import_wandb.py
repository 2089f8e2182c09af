"""A W&B run file (``run-<id>.wandb``) written by real W&B in offline mode, read back exactly.

Needs wandb (the ``wandb`` extra; CI installs it with the ``stacks`` extra); skipped with the
reason without it. No account or network: ``mode="offline"``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.emulation.importers import detect_format, load_log, read_recorded

#: A NaN at step 12.
CURVE = make_curve(20, "nan")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One offline run: train/loss and lr at every step, eval/loss every 5 steps."""
    wandb = pytest.importorskip("wandb", reason="needs wandb (the wandb extra)")
    directory = tmp_path_factory.mktemp("wb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_SILENT", "true")
        patch.setenv("WANDB_MODE", "offline")
        run = wandb.init(project="synthloss", dir=str(directory), mode="offline")
        for step, loss in CURVE:
            run.log({"train/loss": loss, "lr": 1e-3})
            if step % 5 == 0:
                run.log({"eval/loss": 1.0})
        run.finish()
        wandb.teardown()  # the file is written in the background: wait until it is whole
    (found,) = directory.glob(f"wandb/offline-run-*-{run.id}")
    return found


def test_a_wandb_run_file_reads_back_exactly(run_dir: Path) -> None:
    (run_file,) = run_dir.glob("run-*.wandb")
    for where in (run_dir, run_file):
        assert detect_format(str(where)) == "wandb"
        log = read_recorded(where)
        assert (log.format, log.step_column, log.value_column) == ("wandb", "_step", "train/loss")
        assert log.skipped == 4  # the eval rows
        values = log.values.tolist()
        assert len(values) == 20
        assert all(
            a == b or (math.isnan(a) and math.isnan(b))
            for a, b in zip(values, CURVE.losses.tolist(), strict=True)
        )
    # W&B's _step counts log calls from 0: an eval row takes a step of its own
    assert read_recorded(run_dir).steps.tolist()[:7] == [0, 1, 2, 3, 4, 6, 7]
    curve = load_log(run_dir)  # shifted by 1; the NaN labelled by the curve itself
    assert [(e.kind, e.first, e.values) for e in curve.events] == [("nonfinite", 14, ("nan",))]
    evals = read_recorded(run_dir, value="eval/loss")
    assert (evals.values.tolist(), evals.steps.tolist()) == ([1.0] * 4, [5, 11, 17, 23])


def test_wandb_errors_name_the_file(run_dir: Path, tmp_path: Path) -> None:
    (run_file,) = run_dir.glob("run-*.wandb")
    with pytest.raises(SynthLossError) as info:
        read_recorded(run_dir, value="acc")
    prefix = f"log {str(run_file)!r}: no value column 'acc'; columns found: "
    assert str(info.value).startswith(prefix)
    found = str(info.value)[len(prefix) :].split(", ")  # in the order W&B wrote the keys
    assert sorted(found) == [
        "'_runtime'",
        "'_step'",
        "'_timestamp'",
        "'eval/loss'",
        "'lr'",
        "'train/loss'",
    ]
    broken = tmp_path / "run-x.wandb"
    broken.write_bytes(run_file.read_bytes()[:200] + b"\xff" * 40)
    with pytest.raises(SynthLossError, match=r"^log '.*run-x.wandb': a damaged record at byte "):
        read_recorded(broken)
    other = tmp_path / "other.wandb"
    other.write_text("step,loss\n1,2.0\n")
    with pytest.raises(SynthLossError) as info:
        read_recorded(other)
    assert str(info.value) == f"log {str(other)!r}: not a W&B run file (it starts b'step,lo')"
