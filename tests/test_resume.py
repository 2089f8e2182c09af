"""assert_resume_equivalent: plain objects, state_dict-style monitors, and the failure message."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_synthloss import LossAssertionError, SynthLossError, make_curve
from pytest_synthloss.checks.resume import assert_resume_equivalent

SPIKY = make_curve(20, "spiky")


class MinGuard:
    """Plain object: alert when the loss is 3x the best so far."""

    def __init__(self) -> None:
        self.best = math.inf

    def feed(self, step: int, loss: float) -> bool:
        alert = loss >= 3 * self.best
        if not alert:
            self.best = min(self.best, loss)
        return alert


class ModuleGuard(MinGuard):
    """state_dict-style: saves ``best`` only when ``forget`` is off."""

    def __init__(self, forget: bool = False) -> None:
        super().__init__()
        self.forget = forget

    def state_dict(self) -> dict[str, Any]:
        return {} if self.forget else {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best", math.inf)


def feed(monitor: MinGuard, step: int, loss: float) -> bool:
    return monitor.feed(step, loss)


def test_plain_objects_round_trip_their_dict() -> None:
    assert_resume_equivalent(MinGuard, SPIKY, at=range(1, 20), feed=feed)


def test_state_dict_monitors_round_trip_their_state() -> None:
    assert_resume_equivalent(ModuleGuard, SPIKY, at=[3, 4, 10], feed=feed)


def test_a_lost_state_changes_the_decisions() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_resume_equivalent(lambda: ModuleGuard(forget=True), SPIKY, at=4, feed=feed)
    assert str(excinfo.value) == (
        "Resuming after step 4 changed 1 decision(s) (profile 'spiky', steps 1..20)\n"
        "First difference at step 5\n"
        " step  loss  straight  resumed\n"
        "    5  9.5   True      False"
    )


def test_save_and_load_can_be_given() -> None:
    calls: list[str] = []

    def save(monitor: MinGuard) -> float:
        calls.append("save")
        return monitor.best

    def load(monitor: MinGuard, best: float) -> None:
        calls.append("load")
        monitor.best = best

    assert_resume_equivalent(MinGuard, SPIKY, at=[2, 8], feed=feed, save=save, load=load)
    assert calls == ["save", "load", "save", "load"]


def test_errors_of_the_monitor_propagate() -> None:
    def load(monitor: MinGuard, state: object) -> None:
        raise AttributeError("no attribute 'running'")

    with pytest.raises(AttributeError, match="running"):
        assert_resume_equivalent(MinGuard, SPIKY, at=3, feed=feed, load=load)


@pytest.mark.parametrize("at", [20, 0, True, [3, 25], "3"])
def test_resume_points_must_be_steps_before_the_last(at: Any) -> None:
    with pytest.raises(SynthLossError, match=r"^at must be steps of the curve before its last"):
        assert_resume_equivalent(MinGuard, SPIKY, at=at, feed=feed)


def test_resume_points_may_not_be_empty() -> None:
    with pytest.raises(SynthLossError) as info:
        assert_resume_equivalent(MinGuard, SPIKY, at=[], feed=feed)
    assert str(info.value) == (
        "at must name at least one step of the curve before its last (1..19), got none"
    )


def test_a_resume_needs_two_steps() -> None:
    with pytest.raises(SynthLossError, match=r"^a resume needs a curve of at least 2 steps, got 1"):
        assert_resume_equivalent(MinGuard, [1.0], at=1, feed=feed)
