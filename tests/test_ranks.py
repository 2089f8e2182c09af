"""Multi-rank runs: the all-reduced loss, rank-local events, their ground truth, the plugin."""

from __future__ import annotations

import hashlib
import math
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss import Profile, SynthLossError, make_curve, synthetic_loss, synthetic_losses
from pytest_synthloss.core.builtins import RANKS_4
from pytest_synthloss.core.events import Divergence, Event, Noise
from pytest_synthloss.core.ranks import (
    Ranks,
    RankTruth,
    rank_curves,
    rank_profile,
    rank_seed,
    rank_truth,
)
from pytest_synthloss.core.sweeps import sweep

SMALL = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
#: sha256 of the float64 bytes of the first 5000 reduced losses of ranks-4.
RANKS_4_5000 = "7e97a5b7cff18543e62dc1b74b50e579749efb67d199f2c7c172621f7b2419ee"


def test_the_builtin_reduces_four_ranks_by_their_mean_in_rank_order() -> None:
    curve = make_curve(None, "ranks-4")
    ranks = [rank.losses for rank in rank_curves(curve)]
    assert [r.tolist()[7] for r in ranks] == [
        1.7036155810357794,
        1.7108143009657522,
        1.678556921936588,
        40.0,
    ]
    expected = (((ranks[0] + ranks[1]) + ranks[2]) + ranks[3]) / 4
    assert np.array_equal(curve.losses, expected, equal_nan=True)
    assert curve.losses[7] == 11.27324670098453
    assert math.isnan(curve.losses[13])
    assert not math.isnan(ranks[0][13])
    assert curve.events == (
        Event("spike", 8, 8, peak=11.27324670098453),
        Event("nonfinite", 14, 14, values=("nan",)),
    )
    assert (curve.spike_steps, curve.nonfinite_steps, curve.floor_step) == ((8,), (14,), 18)
    assert [rank.profile.name for rank in rank_curves(curve)] == [
        f"ranks-4/rank-{r}" for r in range(4)
    ]
    assert rank_curves(curve)[3].spike_steps == (8,)
    assert rank_curves(curve)[1].nonfinite_steps == (14,)


def test_rank_truth_gives_each_ranks_flags_and_the_all_reduced_decision() -> None:
    truth = rank_truth(make_curve(None, "ranks-4"))
    assert truth == RankTruth(4, ((), (14,), (), (8,)), (8, 14), (14,))
    assert [truth.missed_by(r) for r in range(4)] == [(8, 14), (8,), (8, 14), (14,)]
    assert rank_truth(make_curve(5, "ranks-4", start_step=9)) == RankTruth(
        4, ((), (), (), ()), (), ()
    )
    with pytest.raises(SynthLossError, match=r"^profile 'stable' has no ranks"):
        rank_truth(make_curve(5))


def test_rank_noise_is_a_pure_function_of_seed_step_and_rank() -> None:
    assert rank_seed(7, 3) == 7 * 2**32 + 3
    rank = rank_profile(RANKS_4, 2)
    assert rank.noise is not None
    assert rank.noise.seed == 2
    one = synthetic_loss(123_456, rank)
    assert synthetic_losses(np.array([5, 123_456]), rank)[1] == one
    curve = make_curve(300_000, "ranks-4", start_step=123)
    chunks = np.concatenate([c.losses for c in curve.iter_chunks(65_536)])
    assert np.array_equal(chunks, curve.losses, equal_nan=True)
    digest = hashlib.sha256(make_curve(5000, "ranks-4").losses.tobytes()).hexdigest()
    assert digest == RANKS_4_5000


def test_infinities_of_opposite_sign_on_two_ranks_reduce_to_nan() -> None:
    prof = Profile("opposed", ranks=Ranks(3, nonfinite={0: {2: math.inf}, 2: {2: -math.inf}}))
    assert math.isnan(synthetic_loss(2, prof))
    assert make_curve(3, prof).events == (Event("nonfinite", 2, 2, values=("nan",)),)
    one = Profile("one-inf", ranks=Ranks(2, nonfinite={1: {3: math.inf}}, sigma=0.0))
    assert synthetic_loss(3, one) == math.inf
    assert one.nonfinite_steps == (3,)
    assert synthetic_loss(2, one) == synthetic_loss(2, "stable")


@SMALL
@given(
    size=st.integers(1, 6),
    sigma=st.sampled_from([0.0, 0.01, 0.3]),
    seed=st.integers(0, 2**64 - 1),
    events=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.integers(1, 40),
            st.sampled_from([5.0, 40.0, math.nan, math.inf, -math.inf]),
        ),
        max_size=5,
    ),
    steps=st.lists(st.integers(1, 60), min_size=1, max_size=30),
    divergence=st.none() | st.integers(2, 50),
)
def test_scalar_and_vector_agree_bit_for_bit(
    size: int,
    sigma: float,
    seed: int,
    events: list[tuple[int, int, float]],
    steps: list[int],
    divergence: int | None,
) -> None:
    spikes: dict[int, dict[int, float]] = {}
    bad: dict[int, dict[int, float]] = {}
    for rank, step, value in events:
        target = spikes if math.isfinite(value) else bad
        if step not in spikes.get(rank % size, {}) and step not in bad.get(rank % size, {}):
            target.setdefault(rank % size, {})[step] = value
    prof = Profile(
        "gen",
        ranks=Ranks(size, spikes, bad, sigma=sigma, seed=seed),
        divergence=None if divergence is None else Divergence(divergence, 0.1),
    )
    vector = synthetic_losses(np.array(steps), prof)
    scalar = [synthetic_loss(s, prof) for s in steps]
    assert vector.tobytes() == np.array(scalar).tobytes()
    curve = make_curve(60, prof)
    assert curve.losses.tobytes() == synthetic_losses(np.arange(1, 61), prof).tobytes()
    expected_bad = sorted({s for steps_ in bad.values() for s in steps_})
    assert curve.nonfinite_steps == tuple(expected_bad)
    assert set(curve.spike_steps) == {s for d in spikes.values() for s in d} - set(expected_bad)
    assert pickle.loads(pickle.dumps(prof)) == prof


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"world_size": 0}, "ranks world_size must be an integer from 1 to 4096, got 0"),
        ({"world_size": 4097}, "ranks world_size must be an integer from 1 to 4096, got 4097"),
        (
            {"world_size": 2, "spikes": {2: {1: 3.0}}},
            "ranks spikes: rank must be an integer from 0 to 1 (world_size - 1), got 2",
        ),
        (
            {"world_size": 2, "spikes": {1: {0: 3.0}}},
            "ranks spikes of rank 1: step must be an integer >= 1, got 0",
        ),
        (
            {"world_size": 2, "spikes": {1: {3: -1.0}}},
            "ranks: spikes of rank 1 at step 3 must be a finite number from 0 to 1e+38, got -1",
        ),
        (
            {"world_size": 2, "nonfinite": {1: {3: 3.0}}},
            "ranks: nonfinite of rank 1 at step 3 must be nan, inf or -inf, got 3.0",
        ),
        (
            {"world_size": 2, "spikes": {1: {3: 3.0}}, "nonfinite": {1: {3: math.nan}}},
            "ranks: step 3 of rank 1 is both a spike and a non-finite step; a step of a rank "
            "takes one override",
        ),
        ({"world_size": 2, "sigma": -1}, "ranks sigma must be a finite number >= 0, got -1"),
        (
            {"world_size": 2, "seed": 2**64},
            f"ranks seed must be an integer from 0 to {2**64 - 1}, got {2**64}",
        ),
        ({"world_size": 2, "spikes": 5}, "ranks spikes must be a mapping {rank: {step: loss}}"),
    ],
)
def test_bad_ranks_are_refused_naming_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Ranks(**kwargs)
    assert str(info.value).startswith(message)


def test_profiles_refuse_ranks_that_contradict_them() -> None:
    with pytest.raises(SynthLossError, match=r"^profile 'x': with ranks, spikes and non-finite"):
        Profile("x", ranks=Ranks(2), spikes={3: 4.0})
    with pytest.raises(SynthLossError, match=r"^profile 'x': ranks need a profile on the spec"):
        Profile("x", ranks=Ranks(2), noise=Noise(0.01, 1))
    with pytest.raises(SynthLossError, match=r"^profile 'x/rank-1': plateau \(5, 9\) contains"):
        Profile("x", ranks=Ranks(2, spikes={1: {7: 5.0}}), plateaus=((5, 9),))
    with pytest.raises(SynthLossError, match=r"^profile 'x': ranks must be a Ranks or None"):
        Profile("x", ranks=4)  # type: ignore[arg-type]
    with pytest.raises(SynthLossError, match=r"^rank must be an integer from 0 to 3"):
        rank_profile(RANKS_4, 4)


def test_a_sweep_counts_the_ranks_events() -> None:
    rows = sweep(["ranks-4"], [7, 8, 20]).rows()
    assert [(r.steps, r.spikes, r.nonfinite) for r in rows] == [(7, 0, 0), (8, 1, 0), (20, 1, 1)]


def test_the_plugin_selects_the_multi_rank_run_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import hashlib
        from pytest_synthloss import make_curve
        from pytest_synthloss.core.ranks import rank_truth

        def test_ranks(synthloss_curve):
            assert synthloss_curve.profile.name == "ranks-4"
            assert rank_truth(synthloss_curve).decision == (8, 14)

        def test_identical_in_every_worker(synthloss_factory):
            curve = synthloss_factory(steps=5000)
            assert hashlib.sha256(curve.losses.tobytes()).hexdigest() == "{RANKS_4_5000}"
        """
    )
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "ranks-4", "-p", "xdist", "-n", "2"
    )
    result.assert_outcomes(passed=2)
