"""Assertions: pass/fail on the built-ins, every input form, exact failure messages."""

# Exact failure messages are long lines by nature.
# ruff: noqa: E501

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pytest_synthloss import (
    LossAssertionError,
    SynthLossError,
    assert_all_finite,
    assert_curve_equal,
    assert_final_loss,
    assert_matches_profile,
    assert_monotonic_decreasing,
    assert_no_spikes,
    assert_reaches_floor,
    assert_spikes_at,
    available_profiles,
    find_spikes,
    make_curve,
)
from pytest_synthloss.checks.rules import RunningMeanRatio

KNOWN = ", ".join(available_profiles())  # the registered built-ins, as error messages list them

SPIKY = make_curve(20, "spiky")
STABLE = make_curve(20, "stable")


def message(excinfo: pytest.ExceptionInfo[LossAssertionError]) -> str:
    assert isinstance(excinfo.value, AssertionError)
    return str(excinfo.value)


def test_passing_checks_on_the_ground_truth() -> None:
    assert_no_spikes(STABLE)
    assert_spikes_at(SPIKY, SPIKY.spike_steps)
    assert_spikes_at(STABLE, ())
    assert_monotonic_decreasing(STABLE)
    assert_reaches_floor(STABLE)
    assert_reaches_floor(SPIKY, by_step=18)
    assert_reaches_floor(STABLE.losses.tolist(), floor=1.05)
    assert_final_loss(SPIKY, 1.05)
    assert_curve_equal(SPIKY, make_curve(20, "spiky"))
    assert_curve_equal(SPIKY, SPIKY.losses)
    assert_matches_profile(SPIKY.losses, "spiky")
    assert_matches_profile(make_curve(5, "spiky", start_step=3).losses, "spiky", start_step=3)


def test_no_spikes_message() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_no_spikes(SPIKY)
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss spikes found: 2 / 20 steps (10.0%) by rule running-min ratio >= 3.0 (profile 'spiky', steps 1..20)
        Worst: step 4 loss=9.7 vs reference 2.04 (4.75x)
         step  loss  reference  ratio
            4  9.7   2.04       4.75x
            5  9.5   2.04       4.66x
        ▂▁▁██▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
           ▲▲
        Reproduce: make_curve(20, 'spiky') / pytest --synthloss-profile spiky --synthloss-steps 20"""
    )


def test_no_spikes_message_is_bounded_for_long_series() -> None:
    losses = np.full(100, 1.0)
    losses[10::3] = 5.0
    losses[40] = math.nan
    with pytest.raises(LossAssertionError) as excinfo:
        assert_no_spikes(losses)
    lines = message(excinfo).split("\n")
    assert (
        lines[0]
        == "Loss spikes found: 30 / 100 steps (30.0%) by rule running-min ratio >= 3.0 (steps 1..100)"
    )
    assert lines[1] == "Worst: step 41 loss=nan (non-finite)"
    assert lines[2] == " step  loss  reference  ratio"
    assert lines[3] == "   11  5     1          5x"
    assert lines[12] == "   38  5     1          5x"
    assert lines[13] == " ... 20 more"
    assert len(lines) == 16  # no reproduce line for an array
    assert lines[14].startswith("▁▁▁▁▁▁█▁█")
    assert len(lines[14]) == 60


def test_no_spikes_with_another_rule_and_a_pair() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_no_spikes(([10, 20, 30, 40], [2.0, 2.0, 2.0, 7.0]), rule=RunningMeanRatio(window=2))
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss spikes found: 1 / 4 steps (25.0%) by rule running-mean ratio >= 3.0 (window 2, warmup 1) (steps 10..40)
        Worst: step 40 loss=7 vs reference 2 (3.5x)
         step  loss  reference  ratio
           40  7     2          3.5x
        ▁▁▁█
           ▲"""
    )


def test_spikes_at_message_missing_and_unexpected() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_spikes_at(STABLE, [4, 5])
    assert message(excinfo) == textwrap.dedent(
        """\
        Spikes differ from the expected steps by rule running-min ratio >= 3.0 (profile 'stable', steps 1..20)
        Expected: steps 4, 5; found: no spikes
        Missing: 2, unexpected: 0
         step  loss  reference  ratio
            4  1.97  2.04       0.966x  missing
            5  1.9   1.97       0.964x  missing
        ███▇▇▆▆▅▅▄▄▃▃▂▂▁▁▁▁▁
           ▲▲
        Reproduce: make_curve(20, 'stable') / pytest --synthloss-profile stable --synthloss-steps 20"""
    )
    with pytest.raises(LossAssertionError) as excinfo:
        assert_spikes_at([2.0, 1.9, 7.0, 1.8, 1.7, 9.0], [3])
    assert message(excinfo) == textwrap.dedent(
        """\
        Spikes differ from the expected steps by rule running-min ratio >= 3.0 (steps 1..6)
        Expected: steps 3; found: steps 3, 6
        Missing: 0, unexpected: 1
         step  loss  reference  ratio
            6  9     1.7        5.29x  unexpected
        ▁▁▆▁▁█
             ▲"""
    )


def test_monotonic_messages() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_monotonic_decreasing(SPIKY)
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss is not monotonic decreasing: 1 / 19 steps (5.3%) break loss <= previous + 0.0 (profile 'spiky', steps 1..20)
        Worst: step 4 loss=9.7 vs previous 2.04 (+7.66)
         step  loss  previous  change
            4  9.7   2.04      +7.66
        ▂▁▁██▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
           ▲
        Reproduce: make_curve(20, 'spiky') / pytest --synthloss-profile spiky --synthloss-steps 20"""
    )
    with pytest.raises(LossAssertionError) as excinfo:
        assert_monotonic_decreasing(STABLE, strict=True)
    assert message(excinfo).split("\n")[:2] == [
        "Loss is not monotonic decreasing: 2 / 19 steps (10.5%) break loss < previous - 0.0 (profile 'stable', steps 1..20)",
        "Worst: step 19 loss=1.05 vs previous 1.05 (+0)",
    ]
    assert_monotonic_decreasing([2.0, 2.05, 1.0], atol=0.1)
    with pytest.raises(LossAssertionError, match=r"^Loss is not finite: step 1 loss=nan$"):
        assert_monotonic_decreasing([math.nan])


def test_reaches_floor_messages() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_reaches_floor(make_curve(10, "stable"))
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss does not reach the floor 1.05 (atol=0.0) by step 10 (profile 'stable', steps 1..10)
        Lowest by step 10: step 10 loss=1.55 (0.5 above the floor). It never reaches it in steps 1..10.
        ██▇▆▅▄▃▂▁▁
                 ▲
        Reproduce: make_curve(10, 'stable') / pytest --synthloss-profile stable --synthloss-steps 10"""
    )
    with pytest.raises(LossAssertionError) as excinfo:
        assert_reaches_floor(SPIKY, by_step=17)
    assert message(excinfo).split("\n")[1] == (
        "Lowest by step 17: step 17 loss=1.06 (0.01 above the floor). It first reaches it at step 18."
    )
    assert_reaches_floor(SPIKY, floor=1.06, by_step=17, atol=1e-9)


def test_final_loss_message() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_final_loss(make_curve(3, "spiky"), 1.05)
    assert message(excinfo) == textwrap.dedent(
        """\
        Final loss not equal to tolerance rtol=1e-07, atol=0.0 (profile 'spiky', steps 1..3)
        Step 3: ACTUAL 2.04, DESIRED 1.05 (abs diff 0.99, rel diff 0.942857)
        █▄▁
          ▲
        Reproduce: make_curve(3, 'spiky') / pytest --synthloss-profile spiky --synthloss-steps 3"""
    )
    assert_final_loss([1.0, 2.0], 2.1, atol=0.1000001)


def test_curve_equal_messages() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_curve_equal(SPIKY, STABLE)
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss curves not equal to tolerance rtol=1e-07, atol=0.0 (profile 'spiky', steps 1..20)
        Mismatched steps: 2 / 20 steps (10.0%)
        Worst: step 4 actual=9.7 expected=1.97 (abs diff 7.73, rel diff 3.92386)
         step  actual  expected  abs diff  rel diff
            4  9.7     1.97      7.73      3.92386
            5  9.5     1.9       7.6       4
         ACTUAL:   ▂▁▁██▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
                      ▲▲
         EXPECTED: ███▇▇▆▆▅▅▄▄▃▃▂▂▁▁▁▁▁
        Reproduce: make_curve(20, 'spiky') / pytest --synthloss-profile spiky --synthloss-steps 20"""
    )
    with pytest.raises(LossAssertionError) as excinfo:
        assert_curve_equal([1.0, 2.0], [1.0, 2.0, 3.0])
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss curves cover different steps: actual steps 1..2 (2 steps), expected steps 1..3 (3 steps)
         ACTUAL:   ▁█
         EXPECTED: ▁▅█"""
    )
    assert_curve_equal([1.0, math.nan], [1.0 + 1e-8, math.nan])


def test_matches_profile_message() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_matches_profile([2.18, 2.11, 2.04, 9.7], "stable")
    assert message(excinfo) == textwrap.dedent(
        """\
        Losses do not match profile 'stable' to tolerance rtol=1e-07, atol=0.0 (steps 1..4)
        Mismatched steps: 1 / 4 steps (25.0%)
        Worst: step 4 actual=9.7 expected=1.97 (abs diff 7.73, rel diff 3.92386)
         step  actual  expected  abs diff  rel diff
            4  9.7     1.97      7.73      3.92386
         ACTUAL:   ▁▁▁█
                      ▲
         EXPECTED: █▆▃▁
        Reproduce: make_curve(4, 'stable')"""
    )
    # float32 logging differs from the float64 model: rtol absorbs it.
    assert_matches_profile(SPIKY.losses.astype(np.float32), "spiky", rtol=1e-6)
    with pytest.raises(LossAssertionError, match=r"rtol=0.0, atol=0.0 \(steps 1..20\)"):
        assert_matches_profile(SPIKY.losses.astype(np.float32), "spiky", rtol=0)


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda: assert_no_spikes([]), "losses is empty: there is no step to check"),
        (
            lambda: assert_no_spikes([[1.0]]),
            "losses must be a LossCurve, 1-D losses or a (steps, losses) pair, got an array of shape (1, 1)",
        ),
        (
            lambda: assert_no_spikes(["2.1"]),
            "losses must be numbers, got '2.1' (str) at index 0",
        ),
        (
            lambda: assert_no_spikes(([1, 2], [1.0])),
            "losses: steps and losses differ in length (2 steps, 1 losses)",
        ),
        (
            lambda: assert_no_spikes(([1, 3, 2], [1.0, 1.0, 1.0])),
            "losses: steps must be strictly increasing, got 2 after 3 at index 2",
        ),
        (
            lambda: assert_no_spikes(([0, 1], [1.0, 1.0])),
            "steps must be integers >= 1, got 0 at index 0",
        ),
        (
            lambda: assert_no_spikes(SPIKY, rule="nope"),
            "unknown spike rule 'nope'; known rules: running-min, running-mean, ema, zscore, "
            "lightning, metaseq, megatron, olmo-skip-step, olmo-stability, llm-foundry",
        ),
        (
            lambda: assert_spikes_at(SPIKY, [21]),
            "expected spike step 21 is not in the series (profile 'spiky', steps 1..20)",
        ),
        (
            lambda: assert_spikes_at(SPIKY, [4.0]),  # type: ignore[list-item]
            "expected spike step must be an integer >= 1, got 4.0 (float)",
        ),
        (
            lambda: assert_reaches_floor([1.0]),
            "assert_reaches_floor() needs floor= for losses without a profile",
        ),
        (
            lambda: assert_reaches_floor(make_curve(3, start_step=5), by_step=2),
            "by_step 2 is before the first step (profile 'stable', steps 5..7)",
        ),
        (lambda: assert_final_loss(SPIKY, math.nan), "expected must be a finite number, got nan"),
        (lambda: assert_final_loss(SPIKY, 1.05, rtol=-1), "rtol must be >= 0, got -1"),
        (
            lambda: assert_matches_profile(SPIKY, "spiky", start_step=2),
            "start_step= is only for plain losses; a curve or (steps, losses) has its steps",
        ),
        (
            lambda: assert_matches_profile([1.0], "spikey"),
            f"unknown profile 'spikey'; known profiles: {KNOWN} (did you mean 'spiky'?)",
        ),
        (lambda: assert_curve_equal([1.0], []), "expected is empty: there is no step to check"),
    ],
)
def test_bad_input_is_not_an_assertion_failure(call: object, text: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        call()  # type: ignore[operator]
    assert str(excinfo.value) == text


def test_tiny_shares_are_not_rounded_to_zero() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_no_spikes(make_curve(100_000, "spiky"))
    assert message(excinfo).startswith("Loss spikes found: 2 / 100000 steps (<0.1%) by rule")


def test_two_scalars_are_losses_not_a_pair() -> None:
    with pytest.raises(LossAssertionError, match=r"steps 1\.\.2"):
        assert_no_spikes((1.0, 5.0))


def test_works_without_pytest_and_raises_assertion_error() -> None:
    code = textwrap.dedent(
        """
        import sys
        from pytest_synthloss import assert_no_spikes, make_curve
        try:
            assert_no_spikes(make_curve(20, "spiky"))
        except AssertionError as exc:
            print(type(exc).__name__, str(exc).splitlines()[0])
        print("pytest" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "LossAssertionError Loss spikes found: 2 / 20 steps (10.0%) by rule running-min ratio >= 3.0 (profile 'spiky', steps 1..20)",
        "False",
    ]


# -- non-finite losses -----------------------------------------------------------------

NAN_CURVE = make_curve(20, "nan")


def test_all_finite_passes_on_finite_curves() -> None:
    for name in ("stable", "spiky", "diverging", "plateau", "noisy", "noisy-spiky"):
        assert_all_finite(make_curve(200, name))
    assert_all_finite([1.0, 1e308])


def test_all_finite_message_on_the_nan_profile() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_all_finite(NAN_CURVE)
    assert message(excinfo) == textwrap.dedent(
        """\
        Non-finite losses found: 1 / 20 steps (5.0%): 1 nan (profile 'nan', steps 1..20)
        First: step 12 loss=nan
         step  loss  last finite loss
           12  nan   1.48 (step 11)
        ███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁
                   ▲
        Reproduce: make_curve(20, 'nan') / pytest --synthloss-profile nan --synthloss-steps 20"""
    )


def test_all_finite_message_counts_each_kind() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_all_finite(([5, 6, 7, 8, 9], [math.nan, 1.0, math.inf, -math.inf, 2.0]))
    assert message(excinfo) == textwrap.dedent(
        """\
        Non-finite losses found: 3 / 5 steps (60.0%): 1 nan, 1 inf, 1 -inf (steps 5..9)
        First: step 5 loss=nan
         step  loss  last finite loss
            5  nan   none
            7  inf   1 (step 6)
            8  -inf  1 (step 6)
        ×▁××█
        ▲ ▲▲"""
    )


def test_all_finite_message_is_bounded() -> None:
    losses = np.full(200, 1.5)
    losses[50:80] = math.inf
    with pytest.raises(LossAssertionError) as excinfo:
        assert_all_finite(losses)
    lines = message(excinfo).split("\n")
    assert lines[0] == "Non-finite losses found: 30 / 200 steps (15.0%): 30 inf (steps 1..200)"
    assert lines[1] == "First: step 51 loss=inf"
    assert lines[2] == " step  loss  last finite loss"
    assert lines[3] == "   51  inf   1.5 (step 50)"
    assert lines[12] == "   60  inf   1.5 (step 50)"
    assert lines[13] == " ... 20 more"
    assert lines[14] == "▁" * 15 + "×" * 9 + "▁" * 36
    assert lines[15] == " " * 15 + "▲" * 9
    assert len(lines) == 16


def test_no_spikes_default_policy_counts_nan_as_a_spike() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_no_spikes(NAN_CURVE)
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss spikes found: 1 / 20 steps (5.0%) by rule running-min ratio >= 3.0 (profile 'nan', steps 1..20)
        Worst: step 12 loss=nan (non-finite)
         step  loss  reference  ratio
           12  nan   1.48       non-finite
        ███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁
                   ▲
        Reproduce: make_curve(20, 'nan') / pytest --synthloss-profile nan --synthloss-steps 20"""
    )
    assert_spikes_at(NAN_CURVE, NAN_CURVE.nonfinite_steps)


def test_no_spikes_ignore_policy_skips_non_finite_losses() -> None:
    assert_no_spikes(NAN_CURVE, nonfinite="ignore")
    assert_no_spikes(make_curve(20, "inf"), nonfinite="ignore")
    assert_spikes_at(NAN_CURVE, (), nonfinite="ignore")
    with pytest.raises(LossAssertionError) as excinfo:
        assert_no_spikes([2.0, math.nan, 7.0], nonfinite="ignore")
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss spikes found: 1 / 3 steps (33.3%) by rule running-min ratio >= 3.0, nonfinite='ignore' (steps 1..3)
        Worst: step 3 loss=7 vs reference 2 (3.5x)
         step  loss  reference  ratio
            3  7     2          3.5x
        ▁×█
          ▲"""
    )
    with pytest.raises(LossAssertionError) as excinfo:
        assert_spikes_at(NAN_CURVE, [12], nonfinite="ignore")
    assert message(excinfo) == textwrap.dedent(
        """\
        Spikes differ from the expected steps by rule running-min ratio >= 3.0, nonfinite='ignore' (profile 'nan', steps 1..20)
        Expected: steps 12; found: no spikes
        Missing: 1, unexpected: 0
         step  loss  reference  ratio
           12  nan   1.48       non-finite  missing
        ███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁
                   ▲
        Reproduce: make_curve(20, 'nan') / pytest --synthloss-profile nan --synthloss-steps 20"""
    )


def test_no_spikes_error_policy_fails_at_the_first_non_finite_step() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_no_spikes(make_curve(20, "inf"), nonfinite="error")
    expected = textwrap.dedent(
        """\
        Loss is not finite at step 12 (loss=inf) and nonfinite='error': spikes by rule running-min ratio >= 3.0 not checked (profile 'inf', steps 1..20)
        Non-finite losses: 1 / 20 steps (5.0%): 1 inf
         step  loss  last finite loss
           12  inf   1.48 (step 11)
        ███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁
                   ▲
        Reproduce: make_curve(20, 'inf') / pytest --synthloss-profile inf --synthloss-steps 20"""
    )
    assert message(excinfo) == expected
    for call in (
        lambda: assert_spikes_at(make_curve(20, "inf"), [12], nonfinite="error"),
        lambda: find_spikes(make_curve(20, "inf"), nonfinite="error"),
    ):
        with pytest.raises(LossAssertionError) as excinfo:
            call()
        assert message(excinfo) == expected
    # Finite losses: "error" checks spikes as usual.
    assert_no_spikes(STABLE, nonfinite="error")
    assert_spikes_at(SPIKY, [4, 5], nonfinite="error")
    with pytest.raises(
        LossAssertionError,
        match=r"^Loss is not finite at step 2 \(loss=-inf\) and nonfinite='error': spikes by rule EMA ratio >= 3.0 \(span 9\) not checked \(steps 1\.\.3\)\n",
    ):
        assert_no_spikes([1.0, -math.inf, math.nan], rule="ema", nonfinite="error")


def test_find_spikes_report_carries_the_policy() -> None:
    assert find_spikes(NAN_CURVE).spike_steps == (12,)
    report = find_spikes(NAN_CURVE, nonfinite="ignore")
    assert report.spike_steps == ()
    assert report.nonfinite == "ignore"


def test_bad_nonfinite_policy_is_bad_input() -> None:
    for call in (
        lambda: assert_no_spikes(STABLE, nonfinite="nan"),
        lambda: assert_spikes_at(STABLE, (), nonfinite="skip"),
        lambda: find_spikes(STABLE, nonfinite=False),  # type: ignore[arg-type]
    ):
        with pytest.raises(
            SynthLossError,
            match=r"^nonfinite must be one of 'spike', 'ignore', 'error', 'stack' or None, got ",
        ):
            call()


def test_all_finite_bad_input() -> None:
    with pytest.raises(SynthLossError, match=r"^losses is empty: there is no step to check$"):
        assert_all_finite([])


def test_loss_assertion_error_is_one_class() -> None:
    import pytest_synthloss
    from pytest_synthloss.core import errors

    assert pytest_synthloss.LossAssertionError is errors.LossAssertionError
    with pytest.raises(errors.LossAssertionError):
        assert_no_spikes(make_curve(20, "spiky"))
    # Tracebacks name it by its public path, and it pickles (e.g. across xdist workers).
    error = errors.LossAssertionError("Loss spikes found")
    assert repr(error) == "LossAssertionError('Loss spikes found')"
    qualified = f"{type(error).__module__}.{type(error).__qualname__}"
    assert qualified == "pytest_synthloss.LossAssertionError"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is errors.LossAssertionError
    assert str(copy) == "Loss spikes found"


def test_noisy_history_is_a_bounded_window() -> None:
    from pytest_synthloss.checks import spike_assertions as assertions

    start = 10**12  # scanning 10**12 earlier steps would never finish
    assert_no_spikes(make_curve(5, "noisy", start_step=start))
    low = assertions._prior_min(make_curve(1, "noisy").profile, start - 1)
    window = make_curve(
        assertions.NOISY_HISTORY_WINDOW,
        "noisy",
        start_step=start - assertions.NOISY_HISTORY_WINDOW,
    )
    assert low == float(window.losses.min())


def test_non_finite_losses_must_match_exactly() -> None:
    # The tolerance of an infinite expected value is infinite: non-finite values are
    # compared for identity instead, as numpy.testing.assert_allclose does.
    with pytest.raises(LossAssertionError) as excinfo:
        assert_curve_equal([1.0, 2.0], [1.0, math.inf])
    assert message(excinfo) == textwrap.dedent(
        """\
        Loss curves not equal to tolerance rtol=1e-07, atol=0.0 (steps 1..2)
        Mismatched steps: 1 / 2 steps (50.0%)
        Worst: step 2 actual=2 expected=inf (abs diff inf, rel diff nan)
         step  actual  expected  abs diff  rel diff
            2  2       inf       inf       nan
         ACTUAL:   ▁█
                    ▲
         EXPECTED: ▁×"""
    )
    with pytest.raises(LossAssertionError) as excinfo:
        assert_curve_equal([math.inf], [-math.inf])
    assert message(excinfo).split("\n")[:3] == [
        "Loss curves not equal to tolerance rtol=1e-07, atol=0.0 (steps 1..1)",
        "Mismatched steps: 1 / 1 steps (100.0%)",
        "Worst: step 1 actual=inf expected=-inf (abs diff inf, rel diff nan)",
    ]
    for actual, expected in [
        ([math.nan], [math.inf]),
        ([math.inf], [math.nan]),
        ([5.0], [-math.inf]),
    ]:
        with pytest.raises(LossAssertionError, match=r"^Loss curves not equal"):
            assert_curve_equal(actual, expected, rtol=1.0, atol=1.0)
    assert_curve_equal(
        [1.0, math.inf, -math.inf, math.nan], [1.0, math.inf, -math.inf, math.nan], rtol=0
    )


def test_matches_profile_refuses_a_flipped_infinity() -> None:
    losses = make_curve(20, "inf").losses.copy()
    assert_matches_profile(losses, "inf")
    losses[11] = -math.inf
    with pytest.raises(LossAssertionError) as excinfo:
        assert_matches_profile(losses, "inf")
    assert message(excinfo) == textwrap.dedent(
        """\
        Losses do not match profile 'inf' to tolerance rtol=1e-07, atol=0.0 (steps 1..20)
        Mismatched steps: 1 / 20 steps (5.0%)
        Worst: step 12 actual=-inf expected=inf (abs diff inf, rel diff nan)
         step  actual  expected  abs diff  rel diff
           12  -inf    inf       inf       nan
         ACTUAL:   ███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁
                              ▲
         EXPECTED: ███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁
        Reproduce: make_curve(20, 'inf')"""
    )


def test_final_loss_non_finite_actual_never_matches() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        assert_final_loss([1.0, math.inf], 5.0, rtol=1.0, atol=1e300)
    assert message(excinfo).split("\n")[1] == (
        "Step 2: ACTUAL inf, DESIRED 5 (abs diff inf, rel diff inf)"
    )


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (
            lambda: assert_final_loss(SPIKY, 10**400),
            f"expected must be a finite number, got {10**400}",
        ),
        (
            lambda: assert_final_loss(SPIKY, 1.0, atol=10**400),
            f"atol must be a finite number, got {10**400}",
        ),
        (
            lambda: assert_spikes_at(SPIKY, None),  # type: ignore[arg-type]
            "steps must be an iterable of integer steps (e.g. curve.spike_steps), got None (NoneType)",
        ),
        (
            lambda: assert_spikes_at(SPIKY, 4),  # type: ignore[arg-type]
            "steps must be an iterable of integer steps (e.g. curve.spike_steps), got 4 (int)",
        ),
        (
            lambda: assert_spikes_at(SPIKY, "45"),  # type: ignore[arg-type]
            "steps must be an iterable of integer steps (e.g. curve.spike_steps), got '45' (str)",
        ),
        (
            lambda: assert_matches_profile(SPIKY.losses, "spiky", start_step=2**63 - 5),
            "the run would end at step 9223372036854775822, past the last step 9223372036854775807",
        ),
        (
            lambda: assert_reaches_floor(SPIKY, by_step=25),
            "by_step 25 is after the last step (profile 'spiky', steps 1..20)",
        ),
        (
            lambda: assert_reaches_floor(([3, 5], [2.0, 1.0]), 1.0, by_step=6),
            "by_step 6 is after the last step (steps 3..5)",
        ),
    ],
)
def test_more_bad_input(call: object, text: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        call()  # type: ignore[operator]
    assert str(excinfo.value) == text


def test_edges_of_the_valid_ranges() -> None:
    assert_reaches_floor(SPIKY, by_step=20)
    assert_reaches_floor(([3, 5], [2.0, 1.0]), 1.0, by_step=5)
    last = 2**63 - 1
    assert_matches_profile(
        make_curve(20, "spiky", start_step=last - 19).losses, "spiky", start_step=last - 19
    )
