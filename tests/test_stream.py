"""LossStream and the clocks: timing, delays, one-shot iteration, bad input."""

from __future__ import annotations

import math

import pytest

from pytest_synthloss import FakeClock, LossStream, SynthLossError, make_curve
from pytest_synthloss.core.factory import CurveFactory
from pytest_synthloss.core.stream import Clock, StreamStep, SystemClock


def test_steps_arrive_one_interval_apart_on_a_fake_clock() -> None:
    curve = make_curve(5, "spiky", start_step=3)
    stream = LossStream(curve, interval=60.0, clock=FakeClock(start=1000.0))
    assert len(stream) == 5
    events = list(stream)
    assert events == [
        StreamStep(3, 2.04, 1060.0),
        StreamStep(4, 9.7, 1120.0),
        StreamStep(5, 9.5, 1180.0),
        StreamStep(6, 1.83, 1240.0),
        StreamStep(7, curve.loss_at(7), 1300.0),
    ]
    assert len(stream) == 0
    assert list(stream) == []  # one-shot, like a training loop
    assert isinstance(stream.clock, FakeClock)
    assert stream.clock.sleeps == [60.0] * 5


def test_default_stream_is_one_second_per_step_on_a_fake_clock() -> None:
    stream = LossStream(make_curve(3))
    assert [e.time for e in stream] == [1.0, 2.0, 3.0]
    assert (
        repr(stream)
        == "<LossStream stable steps 1..3 interval=1.0 at 3/3 clock=FakeClock(time=3.0)>"
    )


def test_delays_stall_a_step() -> None:
    stream = LossStream(make_curve(4), interval=2.0, delays={3: 100})
    assert [e.time for e in stream] == [2.0, 4.0, 106.0, 108.0]


def test_fake_clock() -> None:
    clock = FakeClock()
    assert isinstance(clock, Clock)
    clock.advance(1.5)
    clock.sleep(0)
    assert clock.time() == clock.monotonic() == 1.5
    assert clock.sleeps == [0.0]


def test_system_clock_really_waits() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock)
    before = clock.time()
    clock.sleep(0.001)
    assert clock.time() >= before + 0.001
    stream = LossStream(make_curve(2), interval=0.0, clock=clock)
    assert [e.step for e in stream] == [1, 2]


def test_factory() -> None:
    factory = CurveFactory("spiky", 20)
    assert factory() == make_curve(20, "spiky")
    assert factory("stable", steps=40, start_step=10) == make_curve(40, "stable", start_step=10)
    assert factory(lr=0.1).config.lr == 0.1
    assert repr(factory) == "CurveFactory(profile='spiky', steps=20)"
    assert (factory.profile.name, factory.steps) == ("spiky", 20)


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (
            lambda: LossStream(make_curve(3), interval=-1),
            "interval must be a finite number of seconds >= 0, got -1",
        ),
        (
            lambda: LossStream(make_curve(3), interval=math.inf),
            "interval must be a finite number of seconds >= 0, got inf",
        ),
        (
            lambda: LossStream(make_curve(3), clock=object()),  # type: ignore[arg-type]
            "clock must have time() and sleep() methods, got <object object at",
        ),
        (
            lambda: LossStream(make_curve(3), delays={4: 1.0}),
            "delays step 4 is outside the run (steps 1..3)",
        ),
        (
            lambda: LossStream(make_curve(3), delays={2: "1"}),  # type: ignore[dict-item]
            "delays[2] must be a finite number of seconds >= 0, got '1'",
        ),
        (
            lambda: FakeClock().sleep(-0.5),
            "FakeClock.sleep() seconds must be a finite number of seconds >= 0, got -0.5",
        ),
        (lambda: FakeClock(math.nan), "FakeClock start must be a finite number, got nan"),
        (lambda: CurveFactory("spiky", 0), "steps must be an integer >= 1, got 0"),
    ],
)
def test_bad_input(call: object, text: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        call()  # type: ignore[operator]
    assert str(excinfo.value).startswith(text)


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (
            lambda: LossStream(make_curve(3), delays=[1]),  # type: ignore[arg-type]
            "delays must be a mapping {step: extra seconds >= 0}, got [1] (list)",
        ),
        (
            lambda: LossStream(make_curve(20), interval=1e308),
            "interval=1e+308 over 20 steps plus delays lasts more than the largest finite "
            "time (1.7976931348623157e+308 seconds)",
        ),
        (
            lambda: LossStream(make_curve(2), interval=1e308, delays={2: 1e308}),
            "interval=1e+308 over 2 steps plus delays lasts more than the largest finite "
            "time (1.7976931348623157e+308 seconds)",
        ),
        (
            lambda: LossStream(make_curve(3), interval=10**400),
            "interval must be a finite number of seconds >= 0, got an integer of 401 digits",
        ),
        (
            lambda: FakeClock(10**400),
            "FakeClock start must be a finite number, got an integer of 401 digits",
        ),
        (
            lambda: FakeClock(1.7e308).advance(1e307),
            "FakeClock time 1.7e+308 + 1e+307 seconds is past the largest finite time "
            "(1.7976931348623157e+308)",
        ),
    ],
)
def test_times_stay_finite_and_delays_are_a_mapping(call: object, text: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        call()  # type: ignore[operator]
    assert str(excinfo.value) == text


def test_a_fake_clock_that_would_overflow_keeps_its_time() -> None:
    clock = FakeClock(1.7e308)
    stream = LossStream(make_curve(2), interval=1e307, clock=clock)
    with pytest.raises(SynthLossError, match=r"^FakeClock time 1\.7e\+308 \+ 1e\+307 seconds"):
        next(stream)
    assert (clock.time(), clock.sleeps) == (1.7e308, [])
    # An interval that keeps 20 steps finite is accepted.
    last = list(LossStream(make_curve(20), interval=8e306))[-1]
    assert last[:2] == (20, make_curve(20).final_loss)
    assert math.isclose(last.time, 1.6e308, rel_tol=1e-12)
