"""Issue 11: one ground truth (events) that every part agrees on.

One regression test (or group) per numbered observation of the issue, named ``test_obsN_*``.
"""

from __future__ import annotations

import copy
import ctypes
import doctest
import math
import multiprocessing
import operator
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import (
    Divergence,
    Event,
    Faults,
    LossAssertionError,
    Noise,
    Profile,
    SynthLossError,
    TrainingRun,
    assert_alerts_match,
    assert_spikes_at,
    available_profiles,
    best_config,
    find_spikes,
    make_curve,
    register_profile,
    score_alerts,
    sweep,
)
from pytest_synthloss.core.builtins import BUILTINS
from pytest_synthloss.core.registry import unregister_profile

NAMES = tuple(p.name for p in BUILTINS)

#: What the default rule (running-min ratio >= 3.0, nonfinite="spike") flags on each
#: built-in at 20 steps: the documented answers of the rule checks (docs/ground-truth.md).
RULE_ANSWERS = {
    "stable": (),
    "spiky": (4, 5),
    "nan": (12,),
    "inf": (12,),
    "diverging": (16, 17, 18, 19, 20),
    "plateau": (),
    "noisy": (),
    "noisy-spiky": (4, 5),
}


# -- 1. the oracle ----------------------------------------------------------------------


@pytest.mark.parametrize("steps", [20, 60, 300])
@pytest.mark.parametrize("name", NAMES)
def test_obs1_the_oracle_passes_a_rule_based_detector_on_every_builtin(
    name: str, steps: int
) -> None:
    curve = make_curve(steps, name)
    alerts = find_spikes(curve).spike_steps  # NaN/inf flagged, divergence keeps firing
    score = assert_alerts_match(alerts, curve)
    assert score.missed_events == score.late_detections == ()
    assert score.false_alarms == ()


def test_obs1_rule_checks_give_their_documented_answers_on_every_builtin() -> None:
    for name in NAMES:
        curve = make_curve(20, name)
        assert find_spikes(curve).spike_steps == RULE_ANSWERS[name], name
        assert_spikes_at(curve, RULE_ANSWERS[name])
    # NaN/inf: the rule flags them unless told to ignore them; then it agrees with the truth.
    for name in ("nan", "inf"):
        curve = make_curve(20, name)
        assert curve.spike_steps == ()
        assert_spikes_at(curve, curve.spike_steps, nonfinite="ignore")
        with pytest.raises(LossAssertionError, match="Expected: no spikes; found: steps 12\n"):
            assert_spikes_at(curve, curve.spike_steps)


def test_obs1_the_oracle_names_the_event_kinds_in_its_verdict() -> None:
    curve = make_curve(20, "nan")
    with pytest.raises(LossAssertionError) as info:
        assert_alerts_match([], curve)
    assert str(info.value).splitlines()[:2] == [
        "Alerts do not match ground truth (profile 'nan', steps 1..20; expect spike, "
        "nonfinite; tolerate divergence; tolerance 0):",
        "missed events: 1 / 1 — nonfinite at step 12 (nan)",
    ]


# -- 2. the sweep report ----------------------------------------------------------------


def test_obs2_a_nan_run_is_never_the_best_config() -> None:
    best = best_config(sweep(["nan", "stable"], range(10, 14)))
    assert (best.profile, best.steps, best.nonfinite) == ("stable", 13, 0)
    assert "best final loss nan" not in best.report()
    assert "nan (spike steps: none; never spiked; non-finite steps: 12, logged in 2 configs;" in (
        best.report()
    )


def test_obs2_the_floor_is_the_profiles_and_steps_at_least_holds_for_every_length() -> None:
    results = sweep("all", range(1, 31))
    best = best_config(results)
    report = best.report()
    assert "floor loss of 1.01654" not in report
    assert "≥24" not in report
    for prof in BUILTINS:
        for steps in range(1, 31):
            one = best_config(sweep(prof, range(steps, 31)))
            if one.steps_at_least is not None:
                n = one.steps_at_least
                losses = make_curve(n + 400, prof).losses[n - 1 :]
                assert (losses == one.final_loss).all(), (prof.name, steps)
                assert f"- Steps: ≥{n} (reaches floor loss of {prof.floor:g})" in one.report()


def test_obs2_spike_and_nonfinite_counts_agree_with_the_events() -> None:
    for row in sweep("all", range(1, 31)):
        curve = make_curve(row.steps, row.profile)
        assert row.spikes == sum(e.length for e in curve.events if e.kind == "spike")
        assert row.nonfinite == sum(e.length for e in curve.events if e.kind == "nonfinite")
    # 11 steps end before the NaN: clean; 12 or more log it: never "avoids" anything.
    assert "- Profile: nan (avoids spikes)" in (best_config(sweep("nan", [11])).report())
    for steps in (12, 13, 30):
        assert "avoids" not in best_config(sweep("nan", [steps])).report()


def test_obs2_a_sweep_over_only_nan_works() -> None:
    best = best_config(sweep("nan", [12]))
    assert (best.profile, best.steps, best.nonfinite, best.steps_at_least) == ("nan", 12, 1, None)
    assert math.isnan(best.final_loss)
    assert best.report().splitlines()[0] == (
        "No configuration of 1 is free of non-finite losses; the least bad (1 tie on final "
        "loss nan with 0 spike steps and 1 non-finite steps):"
    )


def test_obs2_nan_final_losses_are_not_different_final_losses() -> None:
    best = best_config(sweep(["nan", "stable"], [12, 13], lr=[1e-4, 3e-4]))
    assert (
        "Hyperparameters don't matter: 2 lr values x 1 batch size give identical final losses "
        "for every profile and step count"
    ) in best.report()


# -- 3. Hypothesis strategies -----------------------------------------------------------


def test_obs3_generated_spikes_are_the_ones_the_rule_flags() -> None:
    pytest.importorskip("hypothesis")
    from hypothesis import given, settings

    from pytest_synthloss.exports.strategies import curves

    def property_for(rule: str):  # type: ignore[no-untyped-def]
        @settings(max_examples=60, database=None, deadline=None)
        @given(curves(max_steps=60, rule=rule))
        def check(curve):  # type: ignore[no-untyped-def]
            assert find_spikes(curve, rule).spike_steps == curve.spike_steps

        return check

    for rule in ("running-min", "ema"):
        property_for(rule)()


def test_obs3_bumps_no_rule_sees_never_become_ground_truth() -> None:
    pytest.importorskip("hypothesis")
    from hypothesis import given, settings

    from pytest_synthloss.exports.strategies import curves

    @settings(max_examples=60, database=None, deadline=None)
    @given(curves(max_steps=40, min_events=1, spike_factor=(2.0, 2.5)))
    def check(curve):  # type: ignore[no-untyped-def]
        assert curve.spike_steps == ()

    check()
    # The issue's own example: a 2x bump is no spike for the default rule.
    assert find_spikes(make_curve(5, Profile("gen", spikes={2: 4.22}))).spike_steps == ()


def test_obs3_the_strategies_docstring_examples_run_as_doctests() -> None:
    pytest.importorskip("hypothesis")
    from pytest_synthloss.exports import strategies

    result = doctest.testmod(strategies, optionflags=doctest.ELLIPSIS)
    assert (result.failed, result.attempted >= 4) == (0, True)


# -- 4. promtool --------------------------------------------------------------------------

RULES = Path(__file__).parent.parent / "examples" / "prometheus" / "alerts.yml"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not found (apt-get install prometheus)"
)


def test_obs4_promtool_firing_steps_come_from_the_events() -> None:
    from pytest_synthloss.exports.promtool import expected_firing_steps, unchecked_steps

    nan = make_curve(20, "nan")
    assert expected_firing_steps(nan) == find_spikes(nan).spike_steps == (12,)
    assert expected_firing_steps(nan, expect="spike") == ()
    diverging = make_curve(20, "diverging")
    assert expected_firing_steps(diverging) == ()
    assert unchecked_steps(diverging) == tuple(range(10, 21))
    assert expected_firing_steps(diverging, expect="divergence") == tuple(range(10, 21))
    with pytest.raises(SynthLossError, match="in both expect= and tolerate="):
        unchecked_steps(diverging, expect="divergence", tolerate="divergence")


@needs_promtool
def test_obs4_a_spike_rule_is_not_told_it_caught_a_nan(tmp_path: Path) -> None:
    from pytest_synthloss import write_promtool_test
    from pytest_synthloss.exports.promtool import run_promtool_test

    common: dict[str, object] = {
        "rule_files": str(RULES),
        "labels": {"run": "r1"},
        "exp_labels": {"severity": "page"},
    }
    spike: dict[str, object] = {
        "alertname": "TrainingLossSpike",
        "exp_annotations": {"summary": "Training loss spike on run r1"},
        **common,
    }
    # The defaults expect NaN/inf alerts: the spike rule misses the NaN, and promtool says so.
    nan_file = write_promtool_test(tmp_path / "nan.yml", make_curve(20, "nan"), **spike)
    result = run_promtool_test(nan_file)
    assert result.returncode == 1
    assert "alertname: TrainingLossSpike, time: 11m" in result.stdout + result.stderr
    # As a spike rule, it passes on every built-in (NaN/inf and divergence not checked).
    curves = [make_curve(n, p) for p in NAMES for n in (20, 60)]
    ok = write_promtool_test(
        tmp_path / "spike.yml",
        curves,
        expect="spike",
        tolerate=("nonfinite", "divergence"),
        **spike,
    )
    result = run_promtool_test(ok)
    assert result.returncode == 0, result.stdout + result.stderr
    # The NaN guard is tested on the same events.
    guard = write_promtool_test(
        tmp_path / "guard.yml",
        curves,
        alertname="TrainingLossNotFinite",
        exp_annotations={"summary": "Training loss is not finite on run r1"},
        expect="nonfinite",
        tolerate=(),
        **common,
    )
    result = run_promtool_test(guard)
    assert result.returncode == 0, result.stdout + result.stderr


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


# -- events themselves ------------------------------------------------------------------------


def test_events_are_the_single_source_of_truth() -> None:
    assert make_curve(20, "spiky").events == (Event("spike", 4, 5, peak=9.7),)
    assert make_curve(20, "nan").events == (Event("nonfinite", 12, 12, values=("nan",)),)
    assert make_curve(20, "plateau").events == (Event("plateau", 6, 12, peak=1.83),)
    (div,) = make_curve(20, "diverging").events
    assert (div.kind, div.first, div.last) == ("divergence", 10, 20)
    assert div.peak == make_curve(20, "diverging").final_loss
    for name in NAMES:
        for curve in (make_curve(20, name), make_curve(15, name, start_step=5)):
            events = curve.events
            assert list(events) == sorted(events, key=lambda e: e.first)
            spans = {
                kind: tuple(e.span for e in events if e.kind == kind)
                for kind in ("spike", "plateau")
            }
            assert curve.spike_events == spans["spike"]
            assert curve.plateau_windows == spans["plateau"]
            assert curve.divergence_step == next(
                (e.first for e in events if e.kind == "divergence"), None
            )


def test_event_kinds_are_validated_by_the_oracle() -> None:
    curve = make_curve(20, "spiky")
    with pytest.raises(SynthLossError) as info:
        score_alerts([4], curve, expect=("spike", "spikes"))
    assert str(info.value) == (
        "unknown event kind 'spikes' in expect= (index 1); known kinds: spike, nonfinite, "
        "divergence, plateau (did you mean 'spike'?)"
    )
    with pytest.raises(SynthLossError) as info:
        assert_alerts_match([4], curve, expect="spike", tolerate=("plateau", "spike"))
    assert str(info.value) == (
        "event kind 'spike' is in both expect= and tolerate=; a kind is either required "
        "(expect) or allowed (tolerate), not both"
    )
    with pytest.raises(SynthLossError, match=r"^alert step 21 \(index 1\) is outside"):
        score_alerts([4, 21], curve)


def test_available_profiles_start_with_the_builtins() -> None:
    assert available_profiles()[: len(NAMES)] == NAMES
