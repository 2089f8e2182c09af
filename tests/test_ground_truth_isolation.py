"""Issue 11, observations 5-9: isolation, live runs, pickling, float32, per-profile sharing.

One regression test (or group) per numbered observation of the issue, named
``test_obsN_*``; 1-4 are in ``test_ground_truth.py``.
"""

from __future__ import annotations

import copy
import ctypes
import math
import multiprocessing
import operator
import pickle
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import (
    Divergence,
    Faults,
    Noise,
    Profile,
    SynthLossError,
    TrainingRun,
    make_curve,
    register_profile,
    score_alerts,
)
from pytest_synthloss.core.builtins import BUILTINS
from pytest_synthloss.core.registry import unregister_profile

NAMES = tuple(p.name for p in BUILTINS)


# -- 5. isolation -------------------------------------------------------------------------


def _scribble(arr: np.ndarray) -> None:
    """Write into an array's memory behind numpy's back, as torch.from_numpy(...).add_ does."""
    ctypes.memset(arr.ctypes.data, 0, arr.nbytes)


@pytest.mark.parametrize(
    ("name", "start_step", "other"),
    [("spiky", 1, "spiky"), ("stable", 30, "plateau"), ("nan", 1, "nan")],
)
def test_obs5_no_curve_can_change_another(name: str, start_step: int, other: str) -> None:
    expected = make_curve(20, other, start_step=start_step).losses.tobytes()
    curve = make_curve(20, name, start_step=start_step)
    with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
        curve.losses.setflags(write=True)
    with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
        curve.steps.setflags(write=True)
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(curve.losses)[0] = 99.0
    _scribble(curve.losses)  # what torch would do
    _scribble(curve.steps)
    assert make_curve(20, other, start_step=start_step).losses.tobytes() == expected
    assert make_curve(20, name, start_step=start_step).steps[0] == start_step


def test_obs5_pytest_fixtures_are_isolated_in_any_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import ctypes

        def test_a_writes(synthloss_curve):
            ctypes.memset(synthloss_curve.losses.ctypes.data, 0, synthloss_curve.losses.nbytes)

        def test_b_reads(synthloss_curve, synthloss_factory):
            assert synthloss_curve.losses[3] == 9.7
            assert synthloss_factory().losses[3] == 9.7

        def test_c_writes_again(synthloss_stream):
            losses = synthloss_stream.curve.losses
            ctypes.memset(losses.ctypes.data, 0, losses.nbytes)

        def test_d_reads(synthloss_stream):
            assert [e.loss for e in synthloss_stream][3] == 9.7
        """
    )
    result = pytester.runpytest("--synthloss-profile", "spiky")
    result.assert_outcomes(passed=4)


def test_obs5_torch_writes_stay_in_their_own_curve() -> None:
    torch = pytest.importorskip("torch")
    curve = make_curve(20, "spiky")
    with pytest.warns(UserWarning, match="not writable"):
        torch.from_numpy(curve.losses).add_(1)
    assert make_curve(20, "spiky").losses[3] == 9.7


# -- 6. custom profiles in live runs ------------------------------------------------------


def test_obs6_registered_and_bare_profiles_run_live(tmp_path: Path) -> None:
    register_profile(Profile("late-spike", spikes={8: 9.0}))
    try:
        with TrainingRun(tmp_path / "run.log", steps=10, profile="late-spike") as run:
            assert run.wait() == 0, run.stderr()
            assert run.read().losses.tolist()[7] == 9.0
    finally:
        unregister_profile("late-spike")
    bare = Profile("bare", spikes={3: 7.0}, faults=Faults(crash=(6, 3)))
    with TrainingRun(tmp_path / "bare.log", steps=10, profile=bare) as run:
        assert run.wait() == 3 == run.faults.exit_code
        assert run.profile == "bare"
        assert run.read().losses.tolist()[2] == 7.0


def test_obs6_a_profile_named_like_a_builtin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SynthLossError) as info:
        TrainingRun(tmp_path / "run.log", steps=5, profile=Profile("stable", floor=1.0))
    assert str(info.value).endswith(
        "differs from the built-in profile 'stable'; give it another name"
    )


def test_obs6_synthloss_run_follows_the_selection_and_hook_profiles(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        from pytest_synthloss import Profile

        def pytest_synthloss_profiles():
            return [Profile("late-spike", spikes={8: 9.0})]
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from pytest_synthloss import Profile

        def test_default(synthloss_run, synthloss_curve):
            run = synthloss_run(sleep_seconds=0.001, format="jsonl")
            assert run.wait() == 0, run.stderr()
            assert run.profile == synthloss_curve.profile.name
            assert run.read().losses.tolist() == synthloss_curve.losses.tolist()

        @pytest.mark.synthloss(profile=Profile("adhoc", spikes={2: 8.0}), steps=4)
        def test_marker_object(synthloss_run, synthloss_curve):
            assert synthloss_curve.spike_steps == (2,)
            run = synthloss_run(format="jsonl")
            assert run.wait() == 0, run.stderr()
            assert run.read().losses.tolist() == synthloss_curve.losses.tolist()
        """
    )
    result = pytester.runpytest(
        "--synthloss-profile", "late-spike,spiky", "--synthloss-steps", "9", "-v"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_default?late-spike? PASSED*",
            "*test_default?spiky? PASSED*",
            "*test_marker_object PASSED*",
        ],
        consecutive=False,
    )


# -- 7. pickling ------------------------------------------------------------------------------


def _values() -> list[object]:
    curves = [make_curve(20, p) for p in BUILTINS] + [make_curve(7, "diverging", start_step=15)]
    odd = Profile(
        "odd",
        spikes={3: 5.0},
        nonfinite={5: math.nan, 6: -math.inf},
        divergence=Divergence(30, 0.1, "linear"),
        plateaus=((10, 12),),
        noise=Noise(0.01, 3),
        faults=Faults(stall=(2, 0.5), drop=(4,)),
    )
    score = score_alerts([4, 5, 9], make_curve(20, "spiky"))
    return [*curves, *BUILTINS, odd, make_curve(40, odd), *make_curve(40, odd).events, score]


def test_obs7_values_pickle_and_deepcopy_to_equal_objects() -> None:
    for value in _values():
        assert pickle.loads(pickle.dumps(value)) == value, value
        assert copy.deepcopy(value) == value, value
        assert copy.copy(value) == value


def test_obs7_unpickled_curves_keep_their_guarantees() -> None:
    curve = pickle.loads(pickle.dumps(make_curve(20, "nan")))
    assert curve.events == make_curve(20, "nan").events
    assert curve.losses.tobytes() == make_curve(20, "nan").losses.tobytes()
    with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
        curve.losses.setflags(write=True)


def test_obs7_a_process_pool_maps_over_curves() -> None:
    curves = [make_curve(20, p) for p in BUILTINS]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        finals = pool.map(operator.attrgetter("final_loss"), curves)
        back = pool.map(copy.copy, curves)
    assert finals == [c.final_loss for c in curves]
    assert back == curves


# -- 8. float32 truth -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_obs8_finite_in_float64_means_finite_in_float32(name: str) -> None:
    losses = make_curve(10**4, name).losses
    assert (np.isfinite(losses.astype(np.float32)) == np.isfinite(losses)).all()


def test_obs8_divergence_is_capped_below_the_float32_maximum() -> None:
    curve = make_curve(600, "diverging")
    assert curve.losses.max() == 1e38 < np.finfo(np.float32).max
    assert curve.nonfinite_steps == ()
    with pytest.raises(SynthLossError) as info:
        Profile("huge", spikes={3: 1e39})
    assert str(info.value) == (
        "profile 'huge': spike loss at step 3 must be a finite number from 0 to 1e+38 "
        "(LOSS_CEILING: every finite loss is finite in float32 too), got 1e+39"
    )
    assert make_curve(3, "spiky").losses.tolist() == [2.18, 2.11, 2.04]  # the spec's


# -- 9. per-profile sharing -----------------------------------------------------------------

SHARED_SUITE = """
import pytest

CALLS = []


@pytest.fixture(scope="module")
def trained(synthloss_shared_curve):
    CALLS.append(synthloss_shared_curve.profile.name)
    return synthloss_shared_curve.final_loss


def test_final(trained, synthloss_curve):
    assert trained == synthloss_curve.final_loss


def test_profile(trained, synthloss_profile, synthloss_shared_profile):
    assert synthloss_profile is synthloss_shared_profile


class TestClassScope:
    @pytest.fixture(scope="class")
    def per_class(self, synthloss_shared_profile):
        CALLS.append("class:" + synthloss_shared_profile.name)
        return synthloss_shared_profile.name

    def test_one(self, per_class, synthloss_profile_name):
        assert per_class == synthloss_profile_name

    def test_two(self, per_class, trained):
        assert per_class


def test_each_profile_trained_once():
    trained = [c for c in CALLS if not c.startswith("class:")]
    assert len(trained) == len(set(trained)) >= 1
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_obs9_a_module_fixture_computes_once_per_profile(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makepyfile(test_shared=SHARED_SUITE)
    result = pytester.runpytest("--synthloss-profile", "stable,spiky,nan", *workers)
    result.assert_outcomes(passed=4 * 3 + 1)
    assert "ScopeMismatch" not in result.stdout.str()


def test_obs9_a_test_marker_that_splits_the_module_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_split="""
        import pytest

        @pytest.mark.synthloss(profile="spiky")
        def test_x(synthloss_shared_curve):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            "*test_split.py::test_x uses synthloss_shared_profile, which its module shares: "
            "its synthloss marker selects profile=spiky steps=20, but the module selects "
            "profile=stable steps=20;*"
        ]
    )
