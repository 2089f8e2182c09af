"""Trial cohorts: their trials, final ranking and pruning, verified against real Optuna.

The differential drives ``optuna.create_study(pruner=...)`` and ``study.optimize`` with an
objective that reports trial ``trial.number``'s curve step by step (``trial.report`` then
``trial.should_prune()``, raising ``TrialPruned``) and returns its last loss, for every
built-in cohort and Hypothesis-generated ones, under ``NopPruner`` and a grid of
``MedianPruner``/``PercentilePruner`` parameters in both directions; each trial's state,
prune step and value and the study's best trial must match :func:`cohort_pruning`.
Without Optuna the differential skips with the reason; ``.ci/run`` installs it (the
``stacks`` extra).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss import Profile, SynthLossError, available_profiles, get_profile, make_curve
from pytest_synthloss.checks.cohorts import (
    CohortPruning,
    TrialOutcome,
    cohort_pruning,
    final_ranking,
)
from pytest_synthloss.core.cohorts import Cohort, cohort_profile, cohort_trials, trial_curves
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.events import Divergence, Noise
from pytest_synthloss.core.sweep_report import best_config
from pytest_synthloss.core.sweeps import sweep

GRID: list[tuple[str, dict[str, Any]]] = [
    ("nop", {}),
    ("median", {}),
    ("median", {"n_startup_trials": 2, "n_warmup_steps": 3}),
    ("median", {"n_startup_trials": 1, "interval_steps": 4, "n_warmup_steps": 2}),
    ("percentile", {"percentile": 25.0, "n_startup_trials": 3}),
    ("percentile", {"percentile": 75.0, "n_startup_trials": 2, "n_min_trials": 3}),
    ("percentile", {"percentile": 10.0, "n_startup_trials": 0, "interval_steps": 3}),
]
COHORTS = [name for name in available_profiles() if get_profile(name).cohort is not None]
#: What the differential compared, summed over the tests of this module that ran.
COUNTS = {"cohorts": 0, "trials": 0, "prune checks": 0, "mismatches": 0}


def real_study(curve: LossCurve, pruner: str, direction: str, params: dict[str, Any]) -> Any:
    """Optuna's study after running every trial of ``curve``'s cohort under ``pruner``."""
    optuna = pytest.importorskip("optuna", reason="needs optuna (the stacks extra)")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    kinds = {
        "nop": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
    }
    trials = [t.losses.tolist() for t in trial_curves(curve)]
    first = curve.start_step

    def objective(trial: Any) -> float:
        losses = trials[trial.number]
        for step, loss in enumerate(losses, start=first):
            trial.report(loss, step)
            COUNTS["prune checks"] += 1
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(losses[-1])

    study = optuna.create_study(direction=direction, pruner=kinds[pruner](**params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=len(trials), catch=())
    return study


def compare(curve: LossCurve) -> int:
    """Compare every grid entry in both directions; return how many trials were compared."""
    compared = 0
    for pruner, params in GRID:
        for direction in ("minimize", "maximize"):
            ours = cohort_pruning(curve, pruner, direction=direction, **params)
            study = real_study(curve, pruner, direction, params)
            real = tuple(
                TrialOutcome(
                    t.number,
                    ours.outcomes[t.number].name,
                    t.state.name,
                    t.last_step,
                    t.value,
                )
                for t in study.trials
            )
            completed = [t for t in study.trials if t.state.name == "COMPLETE"]
            best = study.best_trial.number if completed else None
            same = real == ours.outcomes and best == ours.best_trial
            COUNTS["mismatches"] += not same
            assert real == ours.outcomes, (pruner, direction, params)
            assert best == ours.best_trial, (pruner, direction, params)
            compared += len(real)
    COUNTS["cohorts"] += 1
    COUNTS["trials"] += compared
    return compared


@pytest.mark.parametrize("steps", [None, 1, 7, 16])
@pytest.mark.parametrize("name", COHORTS)
def test_optuna_pruners_match_on_every_builtin_cohort(name: str, steps: int | None) -> None:
    compare(make_curve(steps, name))
    print(f"\noptuna differential so far: {COUNTS}")


def _trial(index: int, draw: Any) -> Profile:
    start = draw(st.floats(1.2, 4.0))
    floor = draw(st.floats(0.2, start))
    kwargs: dict[str, Any] = {}
    kind = draw(st.sampled_from(["plain", "plain", "nan", "inf", "diverging", "noisy"]))
    if kind in ("nan", "inf"):
        first = draw(st.integers(1, 20))
        value = math.nan if kind == "nan" else draw(st.sampled_from([math.inf, -math.inf]))
        last = draw(st.sampled_from([first, first + 2, 40]))
        kwargs["nonfinite"] = dict.fromkeys(range(first, last + 1), value)
    elif kind == "diverging":
        kwargs["divergence"] = Divergence(draw(st.integers(1, 20)), draw(st.floats(0.01, 0.5)))
    elif kind == "noisy":
        kwargs["noise"] = Noise(draw(st.floats(0.0, 0.2)), draw(st.integers(0, 2**32)))
    return Profile(f"g{index}", start, draw(st.floats(0.0, 0.3)), floor, **kwargs)


@st.composite
def cohorts(draw: Any) -> LossCurve:
    size = draw(st.integers(2, 7))
    trials = tuple(_trial(i, draw) for i in range(size))
    return make_curve(draw(st.integers(1, 25)), cohort_profile("generated", trials))


def test_optuna_pruners_match_on_generated_cohorts() -> None:
    pytest.importorskip("optuna", reason="needs optuna (the stacks extra)")

    @settings(
        max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(cohorts())
    def check(curve: LossCurve) -> None:
        compare(curve)

    check()
    print(f"\noptuna differential so far: {COUNTS}")


def test_the_builtin_cohort_has_a_known_ranking_and_known_prunes() -> None:
    curve = make_curve(profile="trials-8")
    trials = trial_curves(curve)
    assert [t.profile.name for t in trials] == [f"trials-8/trial-{i}" for i in range(8)]
    assert curve.losses.tobytes() == trials[0].losses.tobytes()
    assert final_ranking(curve) == (3, 5, 0, 4, 2, 1, 7, 6)
    assert trials[3].losses[0] == max(t.losses[0] for t in trials)  # worst first...
    assert trials[3].final_loss == 0.703570993906453  # ...best last
    assert trials[6].nonfinite_steps == tuple(range(13, 31))
    assert trials[7].divergence_step == 12
    default = cohort_pruning(curve)
    assert default.pruned == {5: 1, 6: 16, 7: 15}
    assert default.states == ("COMPLETE",) * 5 + ("PRUNED",) * 3
    assert default.best_trial == 3
    eager = cohort_pruning(curve, "median", n_startup_trials=2, n_warmup_steps=3)
    assert eager.pruned == {2: 8, 3: 3, 5: 3, 6: 16, 7: 15}
    assert eager.best_trial == 0  # the eventual winner, trial 3, was pruned at step 3
    nop = cohort_pruning(curve, "nop")
    assert nop.states[6] == "FAIL"
    assert nop.outcomes[6] == TrialOutcome(6, "trials-8/trial-6", "FAIL", 30, None)
    assert nop.best_trial == final_ranking(curve)[0] == 3


def test_the_sweeps_best_config_is_the_first_of_the_final_ranking() -> None:
    curve = make_curve(profile="trials-8")
    best = best_config(sweep(cohort_trials(curve.profile), len(curve)))
    assert best.profile == "trials-8/trial-3"
    assert cohort_trials(curve.profile)[final_ranking(curve)[0]].name == best.profile
    # the late bloomer is last at step 5 and second at step 16; NaN trial 6 leads at 5
    assert final_ranking(make_curve(5, "trials-8")) == (6, 7, 0, 2, 4, 1, 5, 3)
    assert final_ranking(make_curve(12, "trials-8", start_step=5)) == (0, 3, 5, 4, 1, 2, 7, 6)


def test_a_cohort_profile_runs_as_its_first_trial_and_refuses_bad_trials() -> None:
    one, two = Profile("a"), Profile("b", start=3.0)
    prof = cohort_profile("pair", (one, two), "two trials")
    assert (prof.name, prof.start, prof.description, prof.cohort) == (
        "pair",
        2.25,
        "two trials",
        Cohort((one, two)),
    )
    import dataclasses
    import pickle

    assert pickle.loads(pickle.dumps(prof)) == prof
    with pytest.raises(SynthLossError, match=r"^profile 'x': its start differs from its first"):
        dataclasses.replace(prof, name="x", start=2.0)
    with pytest.raises(SynthLossError, match=r"^cohort trials must be from 2 to 1000 profiles"):
        Cohort((one,))
    with pytest.raises(SynthLossError, match=r"^cohort trial 1: the name 'a' is taken"):
        Cohort((one, one))
    with pytest.raises(SynthLossError, match=r"^cohort trial 1 must be a Profile, got 'b'"):
        Cohort((one, "b"))  # type: ignore[arg-type]
    with pytest.raises(SynthLossError, match=r"^cohort trial 0 \('pair'\) must be a plain"):
        Cohort((prof, two))
    with pytest.raises(SynthLossError, match=r"^profile 'stable' has no cohort"):
        trial_curves(make_curve(3))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("hyperband",), {}, "unknown pruner 'hyperband'; known pruners: nop, median, percentile"),
        (("nop",), {"n_startup_trials": 1}, "optuna nop: unknown parameter 'n_startup_trials'"),
        (("percentile",), {}, "optuna percentile: percentile is required"),
        (("median",), {"interval_steps": 0}, "optuna: interval_steps must be an integer from 1"),
        (("median",), {"direction": "up"}, "optuna: direction must be 'minimize' or 'maximize'"),
    ],
)
def test_bad_pruner_parameters_are_refused(
    args: tuple[str, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        cohort_pruning(make_curve(profile="trials-8"), *args, **kwargs)
    assert str(info.value).startswith(message)


def test_cohort_pruning_is_a_record_of_outcomes() -> None:
    outcome = CohortPruning((TrialOutcome(0, "a", "PRUNED", 2, 1.5),), "minimize")
    assert (outcome.best_trial, outcome.pruned, outcome.states) == (None, {0: 2}, ("PRUNED",))


def test_the_plugin_selects_the_cohort(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_synthloss.checks.cohorts import cohort_pruning, final_ranking

        def test_cohort(synthloss_curve):
            assert synthloss_curve.profile.name == "trials-8"
            assert final_ranking(synthloss_curve)[0] == 3
            assert cohort_pruning(synthloss_curve).pruned == {5: 1, 6: 16, 7: 15}
        """
    )
    result = pytester.runpytest_subprocess(
        "--synthloss-profile", "trials-8", "-p", "xdist", "-n", "2"
    )
    result.assert_outcomes(passed=1)
