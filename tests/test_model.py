"""The loss model against the spec: tables, validation run, scalar == vectorized."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_synthloss import (
    Divergence,
    Noise,
    Profile,
    SynthLossError,
    available_profiles,
    make_curve,
    synthetic_loss,
    synthetic_losses,
)
from pytest_synthloss.core.model import _BLOCK as BLOCK
from pytest_synthloss.core.model import NOISE_BLOCK, range_losses
from pytest_synthloss.core.validation import MAX_STEP

#: The built-in profiles, as error messages list them.
KNOWN = ", ".join(available_profiles())


def spec_synthetic_loss(step: int, profile: str) -> float:
    """The spec's function, verbatim."""
    baseline = max(1.05, 2.25 - (0.07 * step))
    if profile == "spiky":
        if step == 4:
            return 9.7
        if step == 5:
            return 9.5
    return baseline


# The spec's "Step-by-Step Baseline Values" table (two decimals, as printed there).
SPEC_TABLE = {1: 2.18, 2: 2.11, 3: 2.04, 4: 1.97, 5: 1.90, 10: 1.55, 15: 1.20, 17: 1.06, 18: 1.05}


@pytest.mark.parametrize(("step", "expected"), sorted(SPEC_TABLE.items()))
def test_spec_baseline_table(step: int, expected: float) -> None:
    value = synthetic_loss(step, "stable")
    assert value == spec_synthetic_loss(step, "stable")
    assert round(value, 2) == expected


@pytest.mark.parametrize("step", [18, 19, 50, 10**6, 10**12])
def test_floor_from_step_18(step: int) -> None:
    assert synthetic_loss(step) == 1.05
    assert synthetic_loss(step, "spiky") == 1.05


def test_spec_values_that_print_rounded() -> None:
    # The table rounds: step 10 and 17 are not exactly 1.55 and 1.06 in IEEE-754.
    assert synthetic_loss(10) == 2.25 - 0.07 * 10 == 1.5499999999999998
    assert synthetic_loss(17) == 1.0599999999999998


def test_spiky_profile_spikes() -> None:
    assert synthetic_loss(4, "spiky") == 9.7
    assert synthetic_loss(5, "spiky") == 9.5
    assert synthetic_loss(3, "spiky") == synthetic_loss(3, "stable")
    assert synthetic_loss(6, "spiky") == synthetic_loss(6, "stable")


def test_spec_validation_run() -> None:
    # python train_gpt2.py --steps 5 --sleep-seconds 0.1 --profile stable
    curve = make_curve(5, "stable")
    lines = [f"Step {step}: loss={loss:.2f}" for step, loss in curve]
    assert lines == [
        "Step 1: loss=2.18",
        "Step 2: loss=2.11",
        "Step 3: loss=2.04",
        "Step 4: loss=1.97",
        "Step 5: loss=1.90",
    ]


@pytest.mark.parametrize("profile", ["stable", "spiky"])
def test_vectorized_equals_scalar_for_a_million_steps(profile: str) -> None:
    steps = np.arange(1, 10**6 + 1)
    expected = np.array([spec_synthetic_loss(int(s), profile) for s in steps])
    assert expected.dtype == np.float64
    assert np.array_equal(synthetic_losses(steps, profile), expected)
    assert np.array_equal(range_losses(make_curve(1, profile).profile, 1, 10**6), expected)
    assert np.array_equal(make_curve(10**6, profile).losses, expected)


def test_vectorized_keeps_shape_and_dtype() -> None:
    steps = np.array([[1, 4], [5, 18]])
    out = synthetic_losses(steps, "spiky")
    assert out.shape == (2, 2)
    assert out.dtype == np.float64
    assert out.tolist() == [[2.18, 9.7], [9.5, 1.05]]
    assert synthetic_losses(4, "spiky").shape == ()
    assert float(synthetic_losses(4, "spiky")) == 9.7
    assert synthetic_losses([], "stable").shape == (0,)
    assert synthetic_losses(np.array([3], dtype=np.uint8)).tolist() == [2.04]


def test_python_int_list_and_numpy_int_scalar() -> None:
    assert synthetic_losses([1, 2, 3]).tolist() == [2.18, 2.11, 2.04]
    assert synthetic_loss(np.int64(4), "spiky") == 9.7


custom_profiles = st.builds(
    Profile,
    name=st.just("custom"),
    start=st.floats(0.5, 1e6),
    decay=st.floats(0, 10) | st.just(0.07),
    floor=st.floats(0, 0.5),
    spikes=st.dictionaries(st.integers(1, 10**4), st.floats(0, 1e6), max_size=8),
)


@settings(max_examples=200, deadline=None)
@given(
    profile=custom_profiles,
    steps=hnp.arrays(
        np.int64,
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
        elements=st.integers(1, 2**40),
    ),
)
def test_vectorized_equals_scalar_for_random_profiles_and_shapes(
    profile: Profile, steps: np.ndarray
) -> None:
    out = synthetic_losses(steps, profile)
    assert out.shape == steps.shape
    expected = [synthetic_loss(int(s), profile) for s in steps.ravel()]
    assert out.ravel().tolist() == expected


@settings(max_examples=200, deadline=None)
@given(profile=custom_profiles, start=st.integers(1, 3000), count=st.integers(1, 3000))
def test_range_path_equals_scalar(profile: Profile, start: int, count: int) -> None:
    out = range_losses(profile, start, count)
    assert out.tolist() == [synthetic_loss(s, profile) for s in range(start, start + count)]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit: NaN matches NaN, inf matches inf, 0.0 does not match -0.0."""
    a64 = np.ascontiguousarray(a, dtype=np.float64)
    b64 = np.ascontiguousarray(b, dtype=np.float64)
    return a64.shape == b64.shape and np.array_equal(a64.view(np.uint64), b64.view(np.uint64))


@st.composite
def event_profiles(draw: st.DrawFn) -> Profile:
    """Random valid profiles with every kind of event, each kind present or not."""
    start = draw(st.floats(0.5, 1e6))
    cuts = sorted(draw(st.sets(st.integers(1, 3000), max_size=6)))
    windows = list(zip(cuts[::2], cuts[1::2], strict=False))
    divergence = draw(
        st.none()
        | st.builds(
            Divergence,
            start_step=st.integers(1, 3000) | st.integers(1, MAX_STEP),
            rate=st.floats(1e-9, 3.0) | st.floats(1.0, 1e300),
            mode=st.sampled_from(["exponential", "linear"]),
        )
    )
    if divergence is not None:
        windows = [w for w in windows if w[1] < divergence.start_step]
    held = {s for first, last in windows for s in range(first, last + 1)}
    spike_steps = st.integers(1, 3000) | st.integers(1, MAX_STEP)
    spikes = draw(st.dictionaries(spike_steps, st.floats(0, 1e6), max_size=6))
    nonfinite = draw(
        st.dictionaries(spike_steps, st.sampled_from([math.nan, math.inf, -math.inf]), max_size=4)
    )
    noise = draw(
        st.none()
        | st.builds(
            Noise,
            sigma=st.floats(0, 3.0),
            seed=st.integers(0, 2) | st.just(2**128 - 1),
            mode=st.sampled_from(["multiplicative", "additive"]),
        )
    )
    return Profile(
        "custom",
        start=start,
        decay=draw(st.floats(0, 10) | st.just(0.07)),
        floor=draw(st.floats(0, 0.5)),
        spikes={s: v for s, v in spikes.items() if s not in held},
        nonfinite={s: v for s, v in nonfinite.items() if s not in held and s not in spikes},
        divergence=divergence,
        plateaus=tuple(windows),
        noise=noise,
    )


# Steps near the start, around a noise block boundary and at the very end of the int64
# range: few distinct noise blocks, so examples stay fast, yet every region is covered.
event_steps = (
    st.integers(1, 4000)
    | st.integers(NOISE_BLOCK - 50, NOISE_BLOCK + 50)
    | st.integers(MAX_STEP - 5000, MAX_STEP)
)


@settings(max_examples=200, deadline=None)
@given(
    profile=event_profiles(),
    steps=hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6), elements=event_steps
    ),
)
def test_vectorized_equals_scalar_for_profiles_with_events(
    profile: Profile, steps: np.ndarray
) -> None:
    out = synthetic_losses(steps, profile)
    assert out.shape == steps.shape
    expected = np.array([synthetic_loss(int(s), profile) for s in steps.ravel()], dtype=float)
    assert same_bits(out.ravel(), expected)
    assert np.array_equal(out.ravel(), expected, equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(
    profile=event_profiles(),
    start=st.integers(1, 3000)
    | st.integers(NOISE_BLOCK - 600, NOISE_BLOCK)
    | st.just(MAX_STEP - 1200),
    count=st.integers(1, 1200),
)
def test_range_path_equals_scalar_for_profiles_with_events(
    profile: Profile, start: int, count: int
) -> None:
    out = range_losses(profile, start, count)
    expected = np.array([synthetic_loss(s, profile) for s in range(start, start + count)])
    assert same_bits(out, expected)
    assert same_bits(synthetic_losses(np.arange(start, start + count), profile), expected)


@pytest.mark.parametrize(
    "profile", ["stable", "spiky", "nan", "inf", "diverging", "plateau", "noisy", "noisy-spiky"]
)
def test_builtins_vectorized_equals_scalar_over_two_noise_blocks(profile: str) -> None:
    steps = np.arange(1, 2 * NOISE_BLOCK + 10)
    expected = np.array([synthetic_loss(int(s), profile) for s in steps])
    assert same_bits(synthetic_losses(steps, profile), expected)
    assert same_bits(range_losses(make_curve(1, profile).profile, 1, steps.size), expected)
    assert same_bits(make_curve(steps.size, profile).losses, expected)
    shuffled = np.random.default_rng(7).permutation(steps)
    assert same_bits(synthetic_losses(shuffled, profile), expected[shuffled - 1])


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (0, "step must be an integer >= 1, got 0"),
        (-3, "step must be an integer >= 1, got -3"),
        (2.5, "step must be an integer >= 1, got 2.5 (float)"),
        (2.0, "step must be an integer >= 1, got 2.0 (float)"),
        (True, "step must be an integer >= 1, got True (bool)"),
        (math.nan, "step must be an integer >= 1, got nan (float)"),
        ("3", "step must be an integer >= 1, got '3' (str)"),
        (None, "step must be an integer >= 1, got None (NoneType)"),
    ],
)
def test_scalar_bad_steps(step: object, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        synthetic_loss(step)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([1, 0, 3], "steps must be integers >= 1, got 0 at index 1"),
        ([[1, 2], [-5, 4]], "steps must be integers >= 1, got -5 at index (1, 0)"),
        (
            [1.0, 2.5],
            "steps must be integers >= 1, got 2.5 at index 1 (a float step must be a whole number)",
        ),
        (
            [1, 2.5],
            "steps must be integers >= 1, got 2.5 at index 1 (a float step must be a whole number)",
        ),
        ([1, True], "steps must be integers >= 1, got True (bool) at index 1"),
        (
            [math.nan],
            "steps must be integers >= 1, got nan at index 0 (a float step must be a whole number)",
        ),
        ([1, "2"], "steps must be integers >= 1, got '2' (str) at index 1"),
        ([1, None], "steps must be integers >= 1, got None (NoneType) at index 1"),
        ([[1, 2], [3]], "steps must be integers >= 1, got [1, 2] (list) at index 0"),
        (
            np.array([1.0, 2.5, 0.5]),
            "steps must be integers >= 1, got 2.5 at index 1 (a float step must be a whole number)",
        ),
        (np.array([True]), "steps must be integers >= 1, got True at index 0 (dtype bool)"),
        (np.array(["1"]), "steps must be integers >= 1, got '1' at index 0 (dtype <U1)"),
        (
            np.ma.array([1, 0, 3], mask=[False, True, False]),
            "steps must not be a masked array (the masked values would be used); "
            "pass values.compressed() or values.filled(np.nan)",
        ),
        (np.array([5, 0]), "steps must be integers >= 1, got 0 at index 1"),
        ([1, 2**63], f"steps must be <= {2**63 - 1}, got {2**63} at index 1"),
        (
            np.array([2**64 - 1], dtype=np.uint64),
            f"steps must be <= {2**63 - 1}, got {2**64 - 1} at index 0",
        ),
    ],
)
def test_vector_bad_steps(steps: object, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        synthetic_losses(steps)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_unknown_profile_lists_known_and_suggests() -> None:
    with pytest.raises(SynthLossError) as info:
        synthetic_loss(1, "spikey")
    assert str(info.value) == (
        f"unknown profile 'spikey'; known profiles: {KNOWN} (did you mean 'spiky'?)"
    )
    with pytest.raises(SynthLossError) as info:
        synthetic_losses([1], "zzz")
    assert str(info.value) == f"unknown profile 'zzz'; known profiles: {KNOWN}"


@pytest.mark.parametrize("profile", ["stable", "spiky", "nan", "diverging", "plateau"])
def test_blocked_engine_equals_scalar_across_blocks(profile: str) -> None:
    # Large arrays are computed block by block; blocks wholly past the floor are filled.
    rng = np.random.default_rng(3)
    steps = np.concatenate(
        [np.arange(5 * BLOCK, 6 * BLOCK), rng.integers(1, 30, BLOCK), rng.integers(1, 2**31, 8)]
    ).astype(np.int32 if profile == "plateau" else np.int64, copy=False)
    unique = np.unique(steps)
    table = dict(
        zip(unique.tolist(), [synthetic_loss(int(s), profile) for s in unique], strict=True)
    )
    expected = np.array([table[s] for s in steps.tolist()])
    assert same_bits(synthetic_losses(steps, profile), expected)
    assert same_bits(
        synthetic_losses(steps.reshape(8, -1)[::-1], profile), expected.reshape(8, -1)[::-1]
    )


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            np.r_[np.arange(1, BLOCK + 5), -7, 0],
            f"steps must be integers >= 1, got -7 at index {BLOCK + 4}",
        ),
        (
            np.r_[np.arange(1, 3 * BLOCK, dtype=np.uint64), np.uint64(2**63)],
            f"steps must be <= {2**63 - 1}, got {2**63} at index {3 * BLOCK - 1}",
        ),
    ],
)
def test_blocked_engine_reports_a_bad_step_in_a_later_block(
    steps: np.ndarray, message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        synthetic_losses(steps)
    assert str(info.value) == message


def test_a_step_past_int64_names_the_limit() -> None:
    with pytest.raises(SynthLossError) as info:
        synthetic_loss(10**30)
    assert str(info.value) == (
        f"step must be an integer from 1 to 9223372036854775807, got {10**30}"
    )
    with pytest.raises(SynthLossError) as info:
        make_curve(10**30)
    assert str(info.value) == (
        "steps (the number of steps in the run) must be an integer from 1 to "
        f"9223372036854775807, got {10**30}"
    )


def test_whole_number_float_arrays_are_steps() -> None:
    """Decided in issue 12: a float array of whole numbers is steps (np.arange(1.0, 11.0))."""
    floats = synthetic_losses(np.arange(1.0, 11.0), "spiky")
    assert floats.tolist() == synthetic_losses(np.arange(1, 11), "spiky").tolist()
    assert synthetic_losses(np.array([np.int64(3)], dtype=object)).tolist() == [synthetic_loss(3)]
