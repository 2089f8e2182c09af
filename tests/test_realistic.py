"""Realistic, shaped profiles: exactness, ground truth, natural lengths and bad input."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from pytest_synthloss import (
    Divergence,
    LossCurve,
    Profile,
    SynthLossError,
    assert_alerts_match,
    available_profiles,
    find_spikes,
    get_profile,
    make_curve,
    synthetic_loss,
    synthetic_losses,
)
from pytest_synthloss.core.builtins import REALISTIC_NAMES, SPEC_LINE
from pytest_synthloss.core.model import range_losses, trend_losses
from pytest_synthloss.core.shapes import (
    WSD,
    Cosine,
    Epochs,
    Exponential,
    PowerLaw,
    Shape,
    Spike,
    StepDecay,
    TrainingNoise,
)

BENIGN = ("warmup", "schedule", "epoch", "divergence")

trends = st.one_of(
    st.none(),
    st.builds(
        PowerLaw,
        E=st.floats(0.5, 3.0),
        A=st.floats(0.1, 10.0),
        alpha=st.floats(0.05, 2.0),
        t0=st.floats(0.5, 50.0),
    ),
    st.builds(Exponential, E=st.floats(0.5, 3.0), A=st.floats(0.1, 10.0), tau0=st.floats(1, 500)),
)
schedules = st.one_of(
    st.none(),
    st.builds(Cosine, first=st.integers(1, 50), last=st.integers(60, 300), final=st.floats(0, 1)),
    st.builds(WSD, decay_start=st.integers(100, 200), decay_steps=st.integers(1, 90)),
    st.builds(StepDecay, steps=st.just((120, 220)), factor=st.floats(0.01, 0.9)),
)
shapes = st.builds(
    Shape,
    trend=trends,
    warmup=st.integers(0, 30),
    schedule=schedules,
    anneal=st.floats(0.0, 0.4),
    epochs=st.one_of(st.none(), st.builds(Epochs, length=st.just(97), drop=st.floats(0, 0.5))),
    noise=st.one_of(
        st.none(),
        st.builds(
            TrainingNoise,
            sigma=st.floats(0, 0.1),
            seed=st.integers(0, 2**64),
            ar=st.floats(0, 0.99),
        ),
    ),
    precision=st.sampled_from([None, "bf16", "fp16"]),
    spikes=st.sampled_from([(), (Spike(40, 9.0, width=2, tail=5, level=1.1),)]),
)


def _profile(shape: Shape, plateau: bool, diverge: bool) -> Profile:
    return Profile(
        "generated",
        shape=shape,
        plateaus=((60, 70),) if plateau else (),
        divergence=Divergence(start_step=260, rate=0.01) if diverge else None,
        nonfinite={250: math.nan},
    )


@settings(max_examples=60, deadline=None)
@given(shapes, st.booleans(), st.booleans(), st.integers(1, 5000))
def test_scalar_equals_vector_bit_for_bit(
    shape: Shape, plateau: bool, diverge: bool, offset: int
) -> None:
    try:
        prof = _profile(shape, plateau, diverge)
    except SynthLossError as exc:  # overlapping events are refused: not a curve
        if "overlap" not in str(exc):
            raise
        reject()
    steps = np.array([1, 2, 39, 40, 41, 47, 60, 65, 71, 250, 259, 260, 300, offset, 4096, 4097])
    vector = synthetic_losses(steps, prof)
    scalar = np.array([synthetic_loss(int(s), prof) for s in steps])
    assert np.array_equal(vector, scalar, equal_nan=True)
    # the same values from a contiguous range, from chunks and in any order
    run = range_losses(prof, 1, 320)
    assert np.array_equal(run[steps[steps <= 320] - 1], scalar[steps <= 320], equal_nan=True)
    shuffled = steps[::-1].copy()
    assert np.array_equal(synthetic_losses(shuffled, prof), scalar[::-1], equal_nan=True)
    curve = make_curve(320, prof)
    chunks = np.concatenate([c.losses for c in curve.iter_chunks(33)])
    assert np.array_equal(chunks, curve.losses, equal_nan=True)


@pytest.mark.parametrize("name", REALISTIC_NAMES)
def test_realistic_builtins_scalar_equals_vector(name: str) -> None:
    curve = make_curve(None, name)
    assert len(curve) == get_profile(name).steps
    scalar = [synthetic_loss(s, name) for s in range(1, len(curve) + 1)]
    assert np.array_equal(curve.losses, np.array(scalar), equal_nan=True)


def test_ar1_noise_is_a_pure_function_of_seed_and_step() -> None:
    prof = Profile(
        "ar",
        shape=Shape(trend=PowerLaw(2.0, 1.0, 0.5), noise=TrainingNoise(0.05, seed=3, ar=0.9)),
    )
    far = 10**12
    assert synthetic_loss(far, prof) == synthetic_losses([far - 1, far], prof)[1]
    # within a block the draws are correlated; the process restarts at each block
    e = synthetic_losses(np.arange(1, 4097), prof) / trend_losses(np.arange(1, 4097), prof) - 1
    assert np.corrcoef(e[:-1], e[1:])[0, 1] > 0.8


def test_stable_and_spiky_are_still_the_spec() -> None:
    for prof in SPEC_LINE[:2]:
        assert prof.shape is None
        assert prof.steps is None
    assert make_curve(None, "stable").losses.tolist()[:5] == [2.18, 2.11, 2.04, 1.97, 1.9]
    assert len(make_curve(None, "spiky")) == 20


def test_benign_events_and_lrs_are_ground_truth() -> None:
    wsd = make_curve(None, "wsd")
    assert [(e.kind, e.first, e.last) for e in wsd.events] == [
        ("warmup", 1, 50),
        ("schedule", 801, 1000),
    ]
    assert wsd.lrs[0] == 1 / 50
    assert wsd.lrs[49] == 1.0
    assert wsd.lrs[-1] == 0.0
    epochs = make_curve(None, "finetune-epochs")
    assert [e.span for e in epochs.events if e.kind == "epoch"] == [(301, 301), (601, 601)]
    trouble = make_curve(None, "llm-pretrain-trouble")
    assert [(e.kind, e.first, e.last, e.peak) for e in trouble.events[1:]] == [
        ("spike", 300, 340, 12.0),
        ("spike", 450, 480, 11.0),
        ("spike", 600, 601, 11.0),
        ("nonfinite", 800, 800, None),
    ]
    assert trouble.losses[299] == 12.0
    assert trouble.losses[600] == 11.0
    assert pickle.loads(pickle.dumps(get_profile("wsd"))) == get_profile("wsd")


def test_asymptotic_trend_reaches_the_floor_within_one_percent() -> None:
    prof = Profile("exp", shape=Shape(trend=Exponential(E=1.0, A=2.0, tau0=10.0)))
    # 1 + 2 * exp(-s / 10) <= 1.01 first at s = ceil(10 * ln(200)) = 53
    assert prof.floor == 1.0
    assert prof.floor_step == 53
    assert make_curve(60, prof).floor_step == 53


@pytest.mark.parametrize("name", available_profiles())
@pytest.mark.parametrize("detector", ["lightning", "default"])
def test_a_correct_spike_detector_on_every_profile_at_its_natural_length(
    name: str, detector: str
) -> None:
    curve = make_curve(None, name)
    found = find_spikes(curve, "lightning") if detector == "lightning" else find_spikes(curve)
    score = assert_alerts_match(found.spike_steps, curve)  # no false alarm, nothing missed
    if all(e.kind in BENIGN for e in curve.events):
        assert score.false_alarms == ()
    expected = [e for e in curve.events if e.kind in ("spike", "nonfinite")]
    assert score.detected_events == tuple(expected)
    assert score.missed_events == ()


def naive_drop_alerts(losses: np.ndarray) -> list[int]:
    """Alert when the loss (mean of 10 steps) is 10% below its level 200 steps earlier."""
    return [
        step
        for step in range(400, losses.size + 1)
        if losses[step - 10 : step].mean() < 0.9 * losses[step - 210 : step - 200].mean()
    ]


def test_a_naive_drop_detector_fails_on_the_wsd_cooldown() -> None:
    curve = make_curve(None, "wsd")
    alerts = naive_drop_alerts(curve.losses)
    assert (alerts[0], alerts[-1], len(alerts)) == (912, 1000, 89)
    with pytest.raises(AssertionError) as info:
        assert_alerts_match(alerts, curve)
    assert str(info.value).splitlines()[2] == (
        "false alarms: 1 / 1 alert groups — steps 912-1000 (loss 2.433, inside schedule at "
        "steps 801-1000)"
    )
    assert assert_alerts_match(alerts, curve, tolerate=("schedule",)).false_alarms == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"shape": Shape(warmup=30), "steps": 30},
            "profile 'bad': warmup 30 is not shorter than the run (steps=30); the warm-up "
            "must end before the last step",
        ),
        (
            {"shape": Shape(schedule=WSD(decay_start=90, decay_steps=20)), "steps": 100},
            "profile 'bad': schedule WSD(decay_start=90, decay_steps=20, final=0.0) ends at "
            "step 109, past the run's last step (steps=100)",
        ),
        (
            {"shape": Shape(warmup=10, spikes=(Spike(5, 9.0),))},
            "profile 'bad': the warmup event (1, 10) and the spike event (5, 5) overlap; "
            "events must be disjoint",
        ),
        (
            {"shape": Shape(spikes=(Spike(5, 9.0, tail=5),)), "nonfinite": {8: math.nan}},
            "profile 'bad': the spike event (5, 10) and the nonfinite event (8, 8) overlap; "
            "events must be disjoint",
        ),
        (
            {"shape": Shape(trend=PowerLaw(1.0, 1.0, 0.5), anneal=1.0)},
            "profile 'bad': anneal 1.0 must be below the trend's floor E=1.0 (the annealed "
            "loss stays positive)",
        ),
        ({"steps": 0}, "profile 'bad': steps must be an integer >= 1 or None, got 0"),
        ({"shape": "wsd"}, "profile 'bad': shape must be a Shape or None, got 'wsd'"),
    ],
)
def test_profile_refuses_shapes_that_make_no_curve(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Profile("bad", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PowerLaw(2.0, 1.0, 0.0), "power law alpha must be a finite number > 0, got 0.0"),
        (lambda: PowerLaw(2.0, 1.0, -1), "power law alpha must be a finite number > 0, got -1"),
        (lambda: Shape(warmup=-5), "shape warmup must be an integer >= 0 (steps), got -5"),
        (lambda: Cosine(10, 5), "cosine last must be >= first (10), got 5"),
        (
            lambda: TrainingNoise(0.1, 1, ar=1.0),
            "training noise ar must be a number from 0 to 1 (< 1), got 1.0",
        ),
        (
            lambda: Shape(precision="fp8"),
            "shape precision must be 'bf16', 'fp16' or None, got 'fp8'",
        ),
        (lambda: Spike(5, 9.0, level=0.5), "spike level must be a number from 1 to 10, got 0.5"),
        (lambda: Epochs(1), "epochs length must be an integer >= 2, got 1"),
    ],
)
def test_shape_parts_refuse_bad_parameters(make: object, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        make()  # type: ignore[operator]
    assert str(info.value) == message


def running_min_alerts(curve: LossCurve) -> list[int]:
    """The README's detector: a non-finite loss, or one >= 3x the best so far."""
    alerts, best = [], math.inf
    for step, loss in curve:
        if not math.isfinite(loss) or loss >= 3 * best:
            alerts.append(step)
        else:
            best = min(best, loss)
    return alerts


@pytest.mark.parametrize("name", REALISTIC_NAMES)
def test_the_readme_detector_at_each_natural_length(name: str) -> None:
    curve = make_curve(None, name)
    score = assert_alerts_match(running_min_alerts(curve), curve)
    assert score.false_alarms == ()
    assert len(score.detected_events) == len(curve.spike_events) + len(curve.nonfinite_steps)
