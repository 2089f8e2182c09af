"""A training loop that cuts the learning rate on a loss plateau with torch's
``ReduceLROnPlateau`` and logs every cut (the code under test; needs ``torch``).

The defaults are torch's ``mode="min"``, ``threshold=1e-4``, ``threshold_mode="rel"``,
with a short ``patience=1``, ``factor=0.5`` and ``cooldown=2``, as a fine-tuning run
might use. torch's rule: a loss is *better* when ``loss < best * (1 - threshold)``; any
other loss (a NaN too) is a bad step; the LR is cut when the bad steps number more than
``patience``, after which ``cooldown`` steps ignore bad steps. A spike lasting
``patience + 1`` steps therefore looks like a plateau and cuts the LR.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LRCut:
    """The LR went from ``old_lr`` to ``new_lr`` after the loss of ``step``."""

    step: int
    old_lr: float
    new_lr: float


def train_with_plateau_schedule(
    steps_and_losses: Iterable[tuple[int, float]],
    *,
    lr: float = 0.1,
    factor: float = 0.5,
    patience: int = 1,
    threshold: float = 1e-4,
    cooldown: int = 2,
    min_lr: float = 0.0,
) -> list[LRCut]:
    """Run an SGD loop whose step losses are ``steps_and_losses``; return the LR cuts.

    Each step does the optimizer step, then ``scheduler.step(loss)``, as a training loop
    does after computing the step's loss.
    """
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=factor,
        patience=patience,
        threshold=threshold,
        threshold_mode="rel",
        cooldown=cooldown,
        min_lr=min_lr,
    )
    cuts: list[LRCut] = []
    for step, loss in steps_and_losses:
        optimizer.step()
        before = float(optimizer.param_groups[0]["lr"])
        scheduler.step(loss)
        after = float(optimizer.param_groups[0]["lr"])
        if after != before:
            cuts.append(LRCut(step, before, after))
    return cuts
