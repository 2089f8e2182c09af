"""Differential test: our loss-scale ground truth against the real ``torch.amp.GradScaler``.

A tiny model trains on CPU under a real GradScaler. At the steps our schedule says
overflow, its gradients are forced to inf after the backward pass; ``scaler.step`` must
then skip the update (the parameter stays bit for bit) and ``scaler.update`` back off.
The scale GradScaler runs each step with must equal our ``loss_scale`` signal, step for
step. Run with ``-s`` to see the counts.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss import make_curve
from pytest_synthloss.core.builtins import BUILTINS
from pytest_synthloss.core.loss_scale import LossScale, loss_scales

torch = pytest.importorskip(
    "torch", reason="torch is not installed (CI installs its CPU wheel: .ci/run)"
)

#: The built-in profiles whose runs overflow in fp16.
OVERFLOWING = [
    p
    for p in BUILTINS
    if p.signals is not None and p.signals.loss_scale is not None and p.signals.overflow_steps
]


def grad_scaler_scales(scale: LossScale, last: int) -> tuple[list[float], list[bool]]:
    """The scale a real GradScaler runs each of steps ``1..last`` with, and which updated."""
    weight = torch.nn.Parameter(torch.ones(4))
    optimizer = torch.optim.SGD([weight], lr=0.01)
    scaler = torch.amp.GradScaler(
        "cpu",
        init_scale=scale.init_scale,
        growth_factor=scale.growth_factor,
        backoff_factor=scale.backoff_factor,
        growth_interval=scale.growth_interval,
    )
    overflows = set(scale.overflows)
    scales, updated = [], []
    for step in range(1, last + 1):
        optimizer.zero_grad()
        loss = (weight * weight).sum()
        scaler.scale(loss).backward()
        if step in overflows:
            assert weight.grad is not None
            weight.grad.fill_(float("inf"))  # the fp16 overflow of this step
        before = weight.detach().clone()
        scales.append(scaler.get_scale())
        scaler.step(optimizer)
        scaler.update()
        updated.append(not torch.equal(before, weight.detach()))
    return scales, updated


def _compare(scale: LossScale, last: int) -> int:
    """Assert GradScaler and our ground truth agree on steps 1..last; return the steps."""
    ours = loss_scales(scale, np.arange(1, last + 1, dtype=np.int64)).tolist()
    theirs, updated = grad_scaler_scales(scale, last)
    mismatches = [(s, o, t) for s, (o, t) in enumerate(zip(ours, theirs, strict=True), 1) if o != t]
    assert mismatches == [], f"{scale}: (step, ours, GradScaler) {mismatches[:5]}"
    skipped = [s for s, moved in enumerate(updated, 1) if not moved]
    assert skipped == [s for s in scale.overflows if s <= last]
    return last


def test_the_builtin_overflow_runs_match_grad_scaler(capsys: pytest.CaptureFixture[str]) -> None:
    assert [p.name for p in OVERFLOWING] == ["fp16-overflow"]
    steps = 0
    for profile in OVERFLOWING:
        assert profile.signals is not None
        scale = profile.signals.loss_scale
        assert scale is not None
        assert scale.hysteresis == 1  # GradScaler has none; hysteresis is DeepSpeed's
        curve = make_curve(profile=profile)
        theirs, _ = grad_scaler_scales(scale, curve.last_step)
        assert curve.signals["loss_scale"].tolist() == theirs
        steps += _compare(scale, curve.last_step)
    with capsys.disabled():
        print(
            f"\nGradScaler differential, built-ins: {len(OVERFLOWING)} runs, {steps} steps, "
            "0 mismatches"
        )


def test_seeded_random_schedules_match_grad_scaler(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(15)
    steps = 0
    schedules = 40
    for _ in range(schedules):
        last = rng.randint(1, 300)
        count = rng.randint(0, min(last, 30))
        scale = LossScale(
            overflows=tuple(rng.sample(range(1, last + 1), count)),
            init_scale=2.0 ** rng.randint(-20, 24),
            growth_factor=2.0 ** rng.randint(1, 3),
            backoff_factor=2.0 ** -rng.randint(1, 3),
            growth_interval=rng.randint(1, 25),
        )
        steps += _compare(scale, last)
    with capsys.disabled():
        print(
            f"\nGradScaler differential, seeded: {schedules} schedules, {steps} steps, 0 mismatches"
        )


def test_the_float32_limits_match_grad_scaler() -> None:
    _compare(LossScale(init_scale=2.0**120, growth_interval=1), 12)  # growth stops at 2**127
    _compare(LossScale(overflows=tuple(range(1, 9)), init_scale=2.0**-144), 10)  # down to 0.0


@settings(max_examples=25, deadline=None)
@given(
    last=st.integers(1, 200),
    data=st.data(),
    interval=st.integers(1, 20),
    init=st.integers(-10, 30),
)
def test_hypothesis_schedules_match_grad_scaler(
    last: int, data: st.DataObject, interval: int, init: int
) -> None:
    overflows = data.draw(st.lists(st.integers(1, last), unique=True, max_size=25))
    _compare(
        LossScale(overflows=tuple(overflows), init_scale=2.0**init, growth_interval=interval),
        last,
    )
