"""Failure-mode events: each event's values and ground truth, composition, noise, bad input."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from pytest_synthloss import (
    Divergence,
    LossCurve,
    Noise,
    Profile,
    SynthLossError,
    available_profiles,
    get_profile,
    make_curve,
    synthetic_loss,
    synthetic_losses,
)
from pytest_synthloss.core import model
from pytest_synthloss.core.model import (
    NOISE_BLOCK,
    final_loss,
    noise_at,
    range_losses,
    trend_losses,
)
from pytest_synthloss.core.sparklines import sparkline
from pytest_synthloss.core.validation import LOSS_CEILING, MAX_STEP

STABLE_20 = [synthetic_loss(s, "stable") for s in range(1, 21)]


# -- built-ins ----------------------------------------------------------------------------


def test_builtins_listed_in_order_with_descriptions() -> None:
    assert available_profiles()[:8] == (
        "stable",
        "spiky",
        "nan",
        "inf",
        "diverging",
        "plateau",
        "noisy",
        "noisy-spiky",
    )
    for name in available_profiles()[:8]:
        assert get_profile(name).description


def test_nan_profile() -> None:
    curve = make_curve(20, "nan")
    values = curve.losses.tolist()
    assert math.isnan(values[11])
    assert values[:11] + values[12:] == STABLE_20[:11] + STABLE_20[12:]
    assert math.isnan(synthetic_loss(12, "nan"))
    assert curve.nonfinite_steps == get_profile("nan").nonfinite_steps == (12,)
    assert curve.spike_steps == ()
    assert curve.floor_step == 18
    assert make_curve(11, "nan").nonfinite_steps == ()
    assert repr(curve) == "<LossCurve nan steps 1..20 final=1.05 floor@18 ███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁>"


def test_inf_profile_and_negative_inf() -> None:
    assert synthetic_loss(12, "inf") == math.inf
    assert make_curve(20, "inf").nonfinite_steps == (12,)
    profile = Profile("neg", nonfinite={3: -math.inf})
    assert synthetic_losses([2, 3, 4], profile).tolist() == [2.11, -math.inf, 1.97]


def test_diverging_profile() -> None:
    anchor = synthetic_loss(9, "stable")
    assert anchor == 1.6199999999999999
    values = make_curve(20, "diverging").losses.tolist()
    assert values[:9] == STABLE_20[:9]
    assert values[9] == anchor * 1.2 == 1.9439999999999997
    assert values[10] == anchor * (1.2 * 1.2)
    assert values[11] == anchor * (1.2 * (1.2 * 1.2))
    assert all(b > a for a, b in itertools.pairwise(values[8:]))  # rising for good from 10
    assert values[19] == 12.036735605145598  # 1.62 * 1.2**11
    curve = make_curve(20, "diverging")
    assert curve.divergence_step == get_profile("diverging").divergence_step == 10
    assert curve.floor_step is None
    assert get_profile("diverging").floor_step is None
    assert curve.nonfinite_steps == ()


def test_divergence_ground_truth_in_resumed_and_short_runs() -> None:
    assert make_curve(9, "diverging").divergence_step is None
    assert make_curve(5, "diverging", start_step=10).divergence_step == 10
    assert make_curve(5, "diverging", start_step=30).divergence_step == 30
    assert make_curve(5, "stable").divergence_step is None


def test_divergence_saturates_at_the_ceiling_and_stays_finite() -> None:
    assert synthetic_loss(10**6, "diverging") == LOSS_CEILING == 1e38
    assert synthetic_loss(MAX_STEP, "diverging") == 1e38
    assert np.isfinite(make_curve(5000, "diverging").losses).all()
    huge = Profile("huge", divergence=Divergence(1, 1e300, "linear"))
    assert synthetic_losses([1, 2, MAX_STEP], huge).tolist() == [1e38, 1e38, 1e38]


def test_linear_divergence_and_onset_at_step_one() -> None:
    linear = Profile("lin", divergence=Divergence(start_step=5, rate=0.5, mode="linear"))
    anchor = synthetic_loss(4, "stable")
    assert synthetic_losses([4, 5, 6, 7], linear).tolist() == [
        anchor,
        anchor + 0.5 * 1,
        anchor + 0.5 * 2,
        anchor + 0.5 * 3,
    ]
    from_one = Profile("one", divergence=Divergence(start_step=1, rate=1.0))
    assert synthetic_losses([1, 2, 3], from_one).tolist() == [4.5, 9.0, 18.0]  # start 2.25


def test_plateau_profile() -> None:
    values = make_curve(20, "plateau").losses.tolist()
    assert values[:5] == STABLE_20[:5]
    assert values[5:12] == [STABLE_20[5]] * 7 == [1.83] * 7
    assert values[12:] == STABLE_20[12:]
    curve = make_curve(20, "plateau")
    assert curve.plateau_windows == get_profile("plateau").plateau_windows == ((6, 12),)
    assert curve.floor_step == 18
    assert make_curve(5, "plateau", start_step=10).plateau_windows == ((10, 12),)
    assert make_curve(5, "plateau", start_step=4).plateau_windows == ((6, 8),)
    assert make_curve(5, "plateau").plateau_windows == ()
    assert make_curve(5, "plateau", start_step=13).plateau_windows == ()


@pytest.mark.parametrize(
    ("plateaus", "floor_step"),
    [(((15, 20),), 21), (((18, 25),), 18), (((3, 5), (17, 17)), 18), (((16, 17),), 18)],
)
def test_a_plateau_across_the_floor_postpones_the_floor_step(
    plateaus: tuple[tuple[int, int], ...], floor_step: int
) -> None:
    profile = Profile("p", plateaus=plateaus)
    assert profile.floor_step == floor_step
    values = synthetic_losses(np.arange(1, 40), profile)
    assert (values[floor_step - 1 :] == 1.05).all()
    assert values[floor_step - 2] > 1.05
    assert np.array_equal(range_losses(profile, 1, 39), values)


def test_noisy_profile_is_pinned() -> None:
    assert NOISE_BLOCK == 4096
    # The noise contract: any change to these values is a breaking change.
    assert noise_at(0, 1) == 1.4436909546981256
    assert noise_at(0, 2) == -0.8959459763857414
    assert noise_at(0, NOISE_BLOCK) == -0.2513344729225735
    assert noise_at(0, NOISE_BLOCK + 1) == 0.8050894723742356
    assert noise_at(0, 10**9) == -1.68265408938067
    assert noise_at(0, MAX_STEP) == -1.0877018466686859
    assert noise_at(2**128 - 1, 7) == -1.6914634639187127
    assert synthetic_losses([1, 2, 10**9], "noisy").tolist() == [
        2.2429449256248386,
        2.0721910797965215,
        1.014664264123006,
    ]
    assert synthetic_losses([1, 2, 3, 4, 5, 6], "noisy-spiky").tolist() == [
        2.2429449256248386,
        2.0721910797965215,
        2.070026991343223,
        9.7,
        9.5,
        1.8358906979966096,
    ]


def test_noise_scheme_is_the_documented_one() -> None:
    block = 3
    sequence = np.random.SeedSequence(42, spawn_key=(block,))
    expected = np.random.Generator(np.random.PCG64(sequence)).standard_normal(NOISE_BLOCK)
    first = block * NOISE_BLOCK + 1
    assert noise_at(42, first) == expected[0]
    assert noise_at(42, first + 1000) == expected[1000]
    assert np.random.SeedSequence(42).spawn(4)[3].spawn_key == (3,)


def test_noise_formulas() -> None:
    mult = Profile("m", noise=Noise(sigma=0.1, seed=5))
    add = Profile("a", noise=Noise(sigma=0.1, seed=5, mode="additive"))
    for step in (1, 7, 30):
        z = noise_at(5, step)
        base = synthetic_loss(step, "stable")
        assert synthetic_loss(step, mult) == base * (1.0 + 0.1 * z)
        assert synthetic_loss(step, add) == base + 0.1 * z
    silent = Profile("s", noise=Noise(sigma=0.0, seed=5))
    assert make_curve(30, silent).losses.tolist() == make_curve(30, "stable").losses.tolist()


def test_noisy_ground_truth_is_the_trend() -> None:
    curve = make_curve(40, "noisy")
    assert curve.spike_steps == curve.nonfinite_steps == ()
    assert curve.plateau_windows == ()
    assert curve.divergence_step is None
    assert curve.floor_step == 18
    assert curve.final_loss == synthetic_loss(40, "noisy") == final_loss(get_profile("noisy"), 40)
    assert np.array_equal(trend_losses(np.arange(1, 41), "noisy"), make_curve(40).losses)
    ratio = curve.losses / make_curve(40).losses
    assert ratio.min() > 0.94
    assert ratio.max() < 1.06  # 2% noise: no step is anywhere near a spike
    assert make_curve(20, "noisy-spiky").spike_events == ((4, 5),)


def test_noise_is_clipped_at_zero_never_negative_zero() -> None:
    profile = Profile("z", start=0.0, decay=0.0, floor=0.0, noise=Noise(1.0, 1, "additive"))
    values = synthetic_losses(np.arange(1, 1001), profile)
    assert (values >= 0).all()
    assert not np.signbit(values).any()
    assert (values == 0.0).sum() > 400  # about half the draws are negative


def test_different_seeds_give_different_noise() -> None:
    a = synthetic_losses(np.arange(1, 100), Profile("a", noise=Noise(0.02, 0)))
    b = synthetic_losses(np.arange(1, 100), Profile("b", noise=Noise(0.02, 1)))
    assert not np.array_equal(a, b)
    assert np.array_equal(a, synthetic_losses(np.arange(1, 100), "noisy"))


def test_noise_never_touches_global_rng_state() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()  # type: ignore[index]
    model._noise_block.cache_clear()
    make_curve(100, "noisy").losses.tolist()
    synthetic_loss(10**12, "noisy")
    assert np.array_equal(np.random.get_state()[1], before)  # type: ignore[index]


def test_random_access_draws_only_the_block_needed() -> None:
    model._noise_block.cache_clear()
    assert synthetic_losses([10**9], "noisy").tolist() == [1.014664264123006]
    assert model._noise_block.cache_info().misses == 1
    assert synthetic_loss(10**9 + 1, "noisy") == synthetic_losses([10**9 + 1], "noisy")[0]
    assert model._noise_block.cache_info().misses == 1  # same block, from the cache


def test_noise_is_identical_in_a_fresh_process() -> None:
    code = (
        "import numpy as np; np.random.seed(99)\n"
        "from pytest_synthloss import synthetic_losses\n"
        "print(synthetic_losses([5, 70000, 10**15], 'noisy-spiky').tolist())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    expected = synthetic_losses([5, 70000, 10**15], "noisy-spiky").tolist()
    assert result.stdout == f"{expected}\n"


# -- composition --------------------------------------------------------------------------

EVERYTHING = Profile(
    "everything",
    spikes={3: 7.0, 25: 0.5},
    nonfinite={4: math.nan, 30: math.inf},
    plateaus=((6, 8), (10, 12)),
    divergence=Divergence(start_step=20, rate=0.1, mode="linear"),
    noise=Noise(sigma=0.05, seed=9, mode="additive"),
)


def test_events_compose_in_the_documented_order() -> None:
    p = EVERYTHING
    values = synthetic_losses(np.arange(1, 41), p)
    assert values[2] == 7.0  # spike replaces
    assert values[24] == 0.5  # a spike inside the divergence still replaces
    assert math.isnan(values[3])
    assert values[29] == math.inf
    for step in (6, 7, 8):  # the plateau holds step 6's baseline, then noise is added
        assert values[step - 1] == p.baseline(6) + 0.05 * noise_at(9, step)
    anchor = p.baseline(19)
    for step in (20, 21, 35):
        assert values[step - 1] == anchor + 0.1 * (step - 19) + 0.05 * noise_at(9, step)
    assert p.spike_steps == (3, 25)
    assert p.nonfinite_steps == (4, 30)
    assert p.plateau_windows == ((6, 8), (10, 12))
    assert p.divergence_step == 20
    assert p.floor_step == 18  # the trend is at the floor from 18 until it diverges at 20


def test_everything_curve_ground_truth() -> None:
    curve = make_curve(30, EVERYTHING, start_step=7)
    assert curve.spike_steps == (25,)
    assert curve.nonfinite_steps == (30,)
    assert curve.plateau_windows == ((7, 8), (10, 12))
    assert curve.divergence_step == 20
    assert curve.final_loss == synthetic_loss(36, EVERYTHING)


def test_divergence_after_the_floor_keeps_the_floor_step() -> None:
    late = Profile("late", divergence=Divergence(start_step=30, rate=0.1))
    assert late.floor_step == 18
    assert synthetic_loss(29, late) == 1.05
    assert synthetic_loss(30, late) == 1.05 * 1.1
    assert make_curve(20, late).floor_step == 18
    at_floor = Profile("at", divergence=Divergence(start_step=18, rate=0.1))
    assert at_floor.floor_step is None


# -- value semantics ----------------------------------------------------------------------


def test_profiles_with_events_compare_and_hash_by_value() -> None:
    a = Profile("x", nonfinite={3: float("nan")}, plateaus=[[5, 6]], noise=Noise(0.1, 2))  # type: ignore[arg-type]
    b = Profile("x", nonfinite={3: np.float64("nan")}, plateaus=((5, 6),), noise=Noise(0.1, 2))
    assert a == b
    assert hash(a) == hash(b)
    assert a.plateaus == ((5, 6),)
    assert a != Profile("x", nonfinite={3: math.inf}, plateaus=((5, 6),), noise=Noise(0.1, 2))
    assert make_curve(10, a) == make_curve(10, b)
    assert repr(a) == (
        "Profile(name='x', start=2.25, decay=0.07, floor=1.05, spikes={}, nonfinite={3: nan}, "
        "plateaus=((5, 6),), noise=Noise(sigma=0.1, seed=2, mode='multiplicative'))"
    )
    with pytest.raises(TypeError):
        a.nonfinite[4] = math.nan  # type: ignore[index]
    assert Divergence(3, 1).rate == 1.0
    assert isinstance(Noise(0, np.int64(3)).seed, int)


# -- previews ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "profile",
    [
        "spiky",
        "nan",
        "plateau",
        Profile("slow", decay=1e-5, plateaus=((20_000, 40_000),), spikes={50_000: 3.0}),
        Profile("div", decay=1e-5, divergence=Divergence(60_000, 1e-4, "linear")),
        Profile("exp", decay=1e-5, divergence=Divergence(30_000, 1e-4), nonfinite={5: math.nan}),
    ],
)
def test_long_curve_previews_match_the_exact_sparkline(profile: Profile | str) -> None:
    curve = make_curve(100_000, profile)
    assert isinstance(curve, LossCurve)
    marks = (4, 50_000)
    exact = sparkline(curve.losses, width=40, marks=[m - 1 for m in marks])
    assert curve.preview(40, marks=marks) == exact


def test_long_noisy_preview_shows_the_trend() -> None:
    curve = make_curve(10**9, "noisy")
    assert repr(curve).startswith("<LossCurve noisy steps 1..1000000000 final=1.015 floor@18 █▁")


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"spikes": {4: 9.0}, "nonfinite": {4: math.nan}},
            "profile 'p': step 4 is both a spike and a non-finite step; a step takes one override",
        ),
        (
            {"nonfinite": {4: 3.0}},
            "profile 'p': non-finite loss at step 4 must be nan, inf or -inf, got 3.0",
        ),
        (
            {"nonfinite": {4: "nan"}},
            "profile 'p': non-finite loss at step 4 must be nan, inf or -inf, got 'nan'",
        ),
        (
            {"nonfinite": {0: math.nan}},
            "profile 'p': non-finite step must be an integer >= 1, got 0",
        ),
        (
            {"nonfinite": [4]},
            "profile 'p': nonfinite must be a mapping {step: nan | inf | -inf}, got [4]",
        ),
        (
            {"plateaus": ((12, 6),)},
            "profile 'p': plateau (12, 6) ends before it starts; "
            "a window is (first, last) with first <= last",
        ),
        (
            {"plateaus": ((0, 6),)},
            "profile 'p': plateau first step must be an integer >= 1, got 0",
        ),
        (
            {"plateaus": ((2, 2.5),)},
            "profile 'p': plateau last step must be an integer >= 1, got 2.5 (float)",
        ),
        (
            {"plateaus": ((6, 12), (10, 14))},
            "profile 'p': plateaus (6, 12) and (10, 14) overlap; plateau windows must be disjoint",
        ),
        (
            {"plateaus": ((6, 12), (12, 14))},
            "profile 'p': plateaus (6, 12) and (12, 14) overlap; plateau windows must be disjoint",
        ),
        (
            {"plateaus": (5,)},
            "profile 'p': a plateau must be a (first, last) pair of steps, got 5",
        ),
        (
            {"plateaus": ((1, 2, 3),)},
            "profile 'p': a plateau must be a (first, last) pair of steps, got (1, 2, 3)",
        ),
        (
            {"plateaus": "6-12"},
            "profile 'p': plateaus must be a sequence of (first, last) windows, got '6-12'",
        ),
        (
            {"plateaus": ((3, 6),), "spikes": {4: 9.7}},
            "profile 'p': plateau (3, 6) contains spike step 4; "
            "spikes and non-finite steps must lie outside plateau windows",
        ),
        (
            {"plateaus": ((3, 6),), "nonfinite": {6: math.inf}},
            "profile 'p': plateau (3, 6) contains non-finite step 6; "
            "spikes and non-finite steps must lie outside plateau windows",
        ),
        (
            {"plateaus": ((6, 12),), "divergence": Divergence(10, 0.2)},
            "profile 'p': plateau (6, 12) reaches the divergence from step 10; "
            "a plateau must end before the divergence starts",
        ),
        (
            {"divergence": (10, 0.2)},
            "profile 'p': divergence must be a Divergence or None, got (10, 0.2)",
        ),
        ({"noise": 0.02}, "profile 'p': noise must be a Noise or None, got 0.02"),
    ],
)
def test_contradictory_or_bad_events(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Profile("p", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0.2), "divergence start_step must be an integer >= 1, got 0"),
        ((10.0, 0.2), "divergence start_step must be an integer >= 1, got 10.0 (float)"),
        ((10, 0), "divergence rate must be a finite number > 0, got 0"),
        ((10, -0.1), "divergence rate must be a finite number > 0, got -0.1"),
        ((10, math.inf), "divergence rate must be a finite number > 0, got inf"),
        ((10, True), "divergence rate must be a finite number > 0, got True (bool)"),
        (
            (10, 0.2, "quadratic"),
            "divergence mode must be 'exponential' or 'linear', got 'quadratic'",
        ),
    ],
)
def test_bad_divergence(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Divergence(*args)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-0.1, 0), "noise sigma must be a finite number >= 0, got -0.1"),
        ((math.nan, 0), "noise sigma must be a finite number >= 0, got nan"),
        (("0.1", 0), "noise sigma must be a finite number >= 0, got '0.1' (str)"),
        ((0.1, 1.5), "noise seed must be an integer in [0, 2**128), got 1.5 (float)"),
        ((0.1, True), "noise seed must be an integer in [0, 2**128), got True (bool)"),
        ((0.1, "7"), "noise seed must be an integer in [0, 2**128), got '7' (str)"),
        ((0.1, None), "noise seed must be an integer in [0, 2**128), got None (NoneType)"),
        ((0.1, -1), "noise seed must be an integer in [0, 2**128), got -1"),
        ((0.1, 2**128), f"noise seed must be an integer in [0, 2**128), got {2**128}"),
        (
            (0.1, 0, "gaussian"),
            "noise mode must be 'multiplicative' or 'additive', got 'gaussian'",
        ),
    ],
)
def test_bad_noise(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Noise(*args)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_noise_at_bad_input() -> None:
    with pytest.raises(SynthLossError) as info:
        noise_at(-1, 5)
    assert str(info.value) == "noise seed must be an integer in [0, 2**128), got -1"
    with pytest.raises(SynthLossError) as info:
        noise_at(0, 0)
    assert str(info.value) == "step must be an integer >= 1, got 0"
