"""The W&B recipe (forward_wandb.py), checked against real W&B offline run files.

Also records what W&B does with the steps a restarted run logs again when they are logged
with ``step=``: it drops them, and only says so on stderr. Skipped when wandb is missing
(``pip install wandb``; CI installs it with the ``stacks`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_synthloss import TrainingRun

wandb = pytest.importorskip("wandb", reason="wandb not installed: pip install wandb")
from forward_wandb import (  # noqa: E402
    forward_to_wandb,
    forward_with_step,
    logged_pairs,
    read_wandb_history,
)


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """W&B offline, with every file it writes under ``tmp_path``."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    yield tmp_path
    wandb.teardown()  # the recipe stops W&B's service already; a failed test may not have


def restarted_run(directory: Path) -> list[tuple[int, float]]:
    """A real ``synthloss train`` run that restarts after step 8 from step 6."""
    with TrainingRun(directory / "run.log", steps=12, profile="spiky", restart=(8, 3)) as run:
        assert run.wait() == 0
    return list(run.read())


def test_the_recipe_keeps_every_line_of_a_restarted_run(offline: Path) -> None:
    lines = restarted_run(offline)
    assert [step for step, _ in lines] == [1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 8, 9, 10, 11, 12]
    path = forward_to_wandb(lines, offline)
    assert path.name.endswith(".wandb")
    assert logged_pairs(path) == lines
    rows = read_wandb_history(path)
    assert [row["_step"] for row in rows] == list(range(15))  # W&B's own counter


def test_logging_with_step_drops_the_repeated_steps(
    offline: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    lines = restarted_run(offline)
    path = forward_with_step(lines, offline)
    kept = logged_pairs(path, step="_step")
    assert [step for step, _ in kept] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert kept == [pair for index, pair in enumerate(lines) if index not in (8, 9, 10)]
    # no exception, no Python warning: a line on stderr per dropped step, nothing more; the
    # second step 8 is no lower than the current step, so it goes into step 8's row again
    err = capfd.readouterr().err
    assert err.count("WARNING Tried to log to step") == 2
    for step in (6, 7):
        assert (
            f"WARNING Tried to log to step {step} that is less than the current step 8. Steps "
            "must be monotonically increasing, so this data will be ignored."
        ) in err


def test_under_wandb_silent_the_drop_is_silent(
    offline: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    lines = restarted_run(offline)
    path = forward_with_step(lines, offline)
    assert len(logged_pairs(path, step="_step")) == 12  # of 15 lines
    assert "Tried to log" not in capfd.readouterr().err
