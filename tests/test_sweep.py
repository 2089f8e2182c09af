"""Sweeps: grid order, values from the one engine, ranking, ties, best config, bad input."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from pytest_synthloss import (
    Profile,
    SynthLossError,
    available_profiles,
    best_config,
    make_curve,
    register_profile,
    sweep,
    synthetic_losses,
)
from pytest_synthloss.core import sweeps as sweep_module
from pytest_synthloss.core.builtins import SPIKY, STABLE
from pytest_synthloss.core.sweeps import SweepRow

KNOWN = ", ".join(available_profiles())


def test_grid_order_and_columns() -> None:
    results = sweep(["stable", "spiky"], steps=[4, 18], lr=[1e-3, None], batch_size=32)
    assert len(results) == 8
    assert results.rows() == [
        SweepRow("stable", 4, 1e-3, 32, 1.97, 0, False),
        SweepRow("stable", 4, None, 32, 1.97, 0, False),
        SweepRow("stable", 18, 1e-3, 32, 1.05, 0, True),
        SweepRow("stable", 18, None, 32, 1.05, 0, True),
        SweepRow("spiky", 4, 1e-3, 32, 9.7, 1, False),
        SweepRow("spiky", 4, None, 32, 9.7, 1, False),
        SweepRow("spiky", 18, 1e-3, 32, 1.05, 2, True),
        SweepRow("spiky", 18, None, 32, 1.05, 2, True),
    ]
    assert results.profile.tolist() == ["stable"] * 4 + ["spiky"] * 4
    assert math.isnan(results.lr[1])
    with pytest.raises(ValueError, match="read-only"):
        results.final_loss[0] = 0.0


def test_final_losses_are_the_curves_final_losses() -> None:
    results = sweep(steps=range(1, 41), start_step=3)
    for row in results:
        curve = make_curve(row.steps, row.profile, start_step=3)
        assert row.final_loss == curve.final_loss
        assert row.spikes == len(curve.spike_steps)
        assert row.reaches_floor is curve.reaches_floor


def test_one_engine_call_per_profile_for_a_large_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    engine = synthetic_losses

    def counting(steps: npt.ArrayLike, profile: Profile | str) -> np.ndarray:
        calls.append(np.size(steps))
        return engine(steps, profile)

    monkeypatch.setattr(sweep_module, "synthetic_losses", counting)
    results = sweep(steps=range(1, 5001), lr=[1e-4, 3e-4, 1e-3], batch_size=[16, 32, 64])
    assert len(results) == 2 * 5000 * 9
    assert calls == [5000, 5000]
    assert results.final_loss.max() == 9.7
    assert int(results.reaches_floor.sum()) == 2 * (5000 - 17) * 9


def test_best_config_is_the_specs_expected_best_configuration() -> None:
    best = best_config(sweep(steps=range(1, 31), lr=[1e-4, 3e-4], batch_size=[16, 32]))
    assert (best.profile, best.steps_at_least, best.final_loss) == ("stable", 18, 1.05)
    assert (best.steps, best.lr, best.batch_size) == (18, 1e-4, 16)
    assert best.spikes == 0
    assert best.reaches_floor is True
    assert (best.configs, best.ties) == (240, 13 * 4)
    report = best.report()
    assert report.splitlines()[1:4] == [
        "- Profile: stable (avoids spikes)",
        "- Steps: ≥18 (reaches floor loss of 1.05)",
        "- Expected final loss: 1.05",
    ]
    assert best.implications[1] == (
        "Steps matter: stable's final loss falls from 2.18 (1 step) to 1.05 at 18 steps, "
        "the floor 1.05; more steps do not lower it."
    )
    assert best.implications[2] == (
        "Hyperparameters don't matter: 2 lr values x 2 batch sizes give identical final "
        "losses for every profile and step count; they are logged only, so they tie."
    )
    assert "spiky (spike steps: 4, 5; spiked in" in best.implications[0]
    assert str(best) == report


def test_ties_are_broken_by_the_documented_rule() -> None:
    results = sweep(
        ["spiky", "stable"], steps=[20, 18, 30], lr=[3e-4, None, 1e-4], batch_size=[64, None, 8]
    )
    ranked = results.ranked()
    # 1.05 everywhere; stable has no spike steps, so it wins although listed second;
    # then fewest steps, then lr (not logged first) and batch_size (not logged first).
    assert ranked.rows()[:4] == [
        SweepRow("stable", 18, None, None, 1.05, 0, True),
        SweepRow("stable", 18, None, 8, 1.05, 0, True),
        SweepRow("stable", 18, None, 64, 1.05, 0, True),
        SweepRow("stable", 18, 1e-4, None, 1.05, 0, True),
    ]
    assert ranked[27] == SweepRow("spiky", 18, None, None, 1.05, 2, True)
    assert best_config(results).ties == 27
    # Deterministic whatever the input order.
    shuffled = results.take(np.random.default_rng(0).permutation(len(results)))
    assert shuffled.ranked().rows() == ranked.rows()


def test_equal_profiles_tie_break_on_the_order_given(clean_registry: None) -> None:
    twin = register_profile(Profile("twin", description="Same as stable."))
    assert best_config(sweep([twin, STABLE], steps=[18])).profile == "twin"
    assert best_config(sweep([STABLE, twin], steps=[18])).profile == "stable"


def test_a_lower_floor_wins_and_a_short_sweep_says_so(clean_registry: None) -> None:
    register_profile(Profile("deep", floor=0.5, description="Floor 0.5."))
    best = best_config(sweep("all", steps=range(1, 40)))
    assert (best.profile, best.final_loss, best.steps_at_least) == ("deep", 0.5, 25)
    short = best_config(sweep([STABLE, SPIKY], steps=[5, 10]))
    assert (short.profile, short.steps, short.reaches_floor) == ("stable", 10, False)
    assert "- Steps: 10 (the most swept; more steps lower the loss)" in short.report()
    assert short.implications[1].endswith("the floor 1.05 is not reached within the swept steps.")


def test_the_report_says_only_what_the_rows_show() -> None:
    # a NaN from step 12 on: the best run is 11 steps, and the report says why
    text = best_config(sweep("nan", steps=range(1, 21))).report()
    assert "- Steps: 11 (every longer run logs a non-finite loss)" in text
    assert "no other config ties" in text
    assert "- Profile: nan\n" in text  # one profile: nothing to avoid
    assert "the floor 1.05 is reached from 18 steps, but those runs log a non-finite loss." in text
    assert (
        "3. Hyperparameters: none varied (1 lr value, 1 batch size); lr and batch_size are "
        "logged only and never change the loss." in text
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"profiles": ["nope"]},
            f"unknown profile 'nope'; known profiles: {KNOWN}",
        ),
        ({"profiles": []}, "profiles must name at least one profile, got none"),
        ({"profiles": ["stable", "stable"]}, "profile 'stable' is listed twice in the sweep"),
        ({"steps": 0}, "steps must be integers >= 1, got 0 at index 0"),
        (
            {"steps": [5, 2.5]},
            "steps must be integers >= 1, got 2.5 at index 1 (a float step must be a whole number)",
        ),
        ({"steps": []}, "steps must be one or more integers >= 1, got []"),
        ({"lr": float("nan")}, "lr must be a finite number > 0 or None, got nan"),
        ({"lr": []}, "every sweep axis needs at least one value, got an empty list"),
        ({"batch_size": [0]}, "batch_size must be an integer >= 1, got 0"),
        ({"start_step": 0}, "start_step must be an integer >= 1, got 0"),
    ],
)
def test_bad_sweeps(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        sweep(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_best_config_of_nothing() -> None:
    empty = sweep(steps=[5]).take(np.array([], dtype=np.int64))
    with pytest.raises(SynthLossError, match="needs at least one sweep result, got none"):
        best_config(empty)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": [5, 5]}, "steps 5 is listed twice in the sweep"),
        ({"steps": np.array([3, 4, 3])}, "steps 3 is listed twice in the sweep"),
        ({"lr": [1e-4, 1e-4]}, "lr 0.0001 is listed twice in the sweep"),
        ({"lr": [None, None]}, "lr None is listed twice in the sweep"),
        ({"batch_size": [16, 32, 16]}, "batch_size 16 is listed twice in the sweep"),
        (
            {"steps": range(1, 10**20)},
            "the sweep has more than 1000000 steps; a sweep runs at most 1000000 configs "
            "(MAX_SWEEP_CONFIGS)",
        ),
        (
            {"steps": range(1, 1001), "lr": [1e-4, 2e-4], "batch_size": range(1, 301)},
            "the sweep has 1200000 configs (2 profiles x 1000 steps x 2 lr x 300 batch_size); "
            "a sweep runs at most 1000000 configs (MAX_SWEEP_CONFIGS)",
        ),
    ],
)
def test_sweep_axes_hold_each_value_once_and_a_bounded_grid(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        sweep(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_best_config_of_something_else() -> None:
    for bad in (None, [1, 2]):
        with pytest.raises(SynthLossError) as info:
            best_config(bad)  # type: ignore[arg-type]
        assert str(info.value) == f"best_config() takes the SweepResults of sweep(), got {bad!r}"
