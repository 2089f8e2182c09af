"""torch's own ``ReduceLROnPlateau``, tested against ``lr_plateau_cuts(curve, ...)``.

A spike is a bad epoch and the best is the all-time best, so the recovery after a spike can
still cut the LR. Skipped, with the reason shown, without torch.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch", reason="needs torch (the CPU wheel)")

import torch

from pytest_synthloss import LossCurve
from pytest_synthloss.checks.oracles import lr_plateau_cuts


@pytest.mark.parametrize(
    "params",
    [{}, {"patience": 2, "cooldown": 1, "factor": 0.5}, {"threshold": 0.05, "min_lr": 2e-4}],
)
def test_lr_is_cut_where_the_oracle_says(
    synthloss_curve: LossCurve, params: dict[str, Any]
) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **params)
    cuts = []
    for step, loss in synthloss_curve:
        before = optimizer.param_groups[0]["lr"]
        scheduler.step(loss)
        if optimizer.param_groups[0]["lr"] < before:
            cuts.append(step)
    assert tuple(cuts) == lr_plateau_cuts(synthloss_curve, **params)
