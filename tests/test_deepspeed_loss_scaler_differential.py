"""Differential test: ``LossScale(scaler="deepspeed")`` against DeepSpeed's own
``DynamicLossScaler`` (``deepspeed.runtime.fp16.loss_scaler``), step for step.

The real scaler is driven with our overflow schedule (``update_scale(overflow)`` once per
step, ``delayed_shift=hysteresis``, ``consecutive_hysteresis=False``,
``raise_error_at_min_scale=False``) and the scale it runs each step with must equal our
ground truth. DeepSpeed's logging asks for the process's rank, which needs an initialised
process group; the tests answer 0 for it, and nothing else is replaced. Run with ``-s``
to see the counts.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss.core.loss_scale import LossScale, loss_scales

pytest.importorskip("torch", reason="DeepSpeed needs torch (CI installs its CPU wheel: .ci/run)")
loss_scaler = pytest.importorskip(
    "deepspeed.runtime.fp16.loss_scaler",
    reason="deepspeed is not installed (the stacks extra installs it)",
)


@pytest.fixture(autouse=True)
def _rank_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loss_scaler.dist, "get_rank", lambda: 0)


def deepspeed_scales(scale: LossScale, last: int) -> list[float]:
    """The scale DeepSpeed's DynamicLossScaler runs each of steps ``1..last`` with."""
    scaler = loss_scaler.DynamicLossScaler(
        init_scale=scale.init_scale,
        scale_window=scale.growth_interval,
        min_scale=scale.min_scale,
        delayed_shift=scale.hysteresis,
        consecutive_hysteresis=False,
        raise_error_at_min_scale=False,
    )
    overflows = set(scale.overflows)
    scales = []
    for step in range(1, last + 1):
        scales.append(float(scaler.cur_scale))
        scaler.update_scale(step in overflows)
    return scales


def _compare(scale: LossScale, last: int) -> int:
    ours = loss_scales(scale, np.arange(1, last + 1, dtype=np.int64)).tolist()
    theirs = deepspeed_scales(scale, last)
    mismatches = [(s, o, t) for s, (o, t) in enumerate(zip(ours, theirs, strict=True), 1) if o != t]
    assert mismatches == [], f"{scale}: (step, ours, DeepSpeed) {mismatches[:5]}"
    return last


def test_seeded_random_schedules_match_deepspeed(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(15)
    schedules, steps = 200, 0
    for _ in range(schedules):
        last = rng.randint(1, 300)
        init = rng.randint(-10, 32)
        scale = LossScale(
            overflows=tuple(rng.sample(range(1, last + 1), rng.randint(0, min(last, 40)))),
            init_scale=2.0**init,
            growth_interval=rng.randint(1, 25),
            hysteresis=rng.randint(1, 4),
            scaler="deepspeed",
            min_scale=2.0 ** rng.randint(init - 12, init),
        )
        steps += _compare(scale, last)
    with capsys.disabled():
        print(
            f"\nDeepSpeed loss-scaler differential, seeded: {schedules} schedules, {steps} steps, "
            "0 mismatches"
        )


@settings(max_examples=40, deadline=None)
@given(
    last=st.integers(1, 250),
    data=st.data(),
    interval=st.integers(1, 20),
    hysteresis=st.integers(1, 5),
    init=st.integers(-20, 40),
)
def test_hypothesis_schedules_match_deepspeed(
    last: int, data: st.DataObject, interval: int, hysteresis: int, init: int
) -> None:
    overflows = data.draw(st.lists(st.integers(1, last), unique=True, max_size=30))
    floor = data.draw(st.integers(init - 30, init))
    scale = LossScale(
        overflows=tuple(overflows),
        init_scale=2.0**init,
        growth_interval=interval,
        hysteresis=hysteresis,
        scaler="deepspeed",
        min_scale=2.0**floor,
    )
    _compare(scale, last)
