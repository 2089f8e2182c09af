"""Spike rules: the default's guarantee on the built-ins, each rule against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_synthloss import (
    LossAssertionError,
    SynthLossError,
    detect_spikes,
    find_spikes,
    make_curve,
    synthetic_loss,
)
from pytest_synthloss.checks import kernels
from pytest_synthloss.checks.detection import NONFINITE_POLICIES
from pytest_synthloss.checks.rules import (
    DEFAULT_RULE,
    MAX_SPAN,
    MAX_WINDOW,
    SPIKE_RULES,
    STACK_PRESETS,
    EMARatio,
    RollingZScore,
    RunningMeanRatio,
    RunningMinRatio,
    get_rule,
)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.integers(1, 400), start=st.integers(1, 60), name=st.sampled_from(["stable", "spiky"])
)
def test_default_rule_finds_exactly_the_ground_truth(steps: int, start: int, name: str) -> None:
    curve = make_curve(steps, name, start_step=start)
    assert find_spikes(curve).spike_steps == curve.spike_steps


@settings(max_examples=50, deadline=None)
@given(start=st.integers(1, 10**15))
def test_default_rule_at_huge_start_steps(start: int) -> None:
    curve = make_curve(8, "spiky", start_step=start)
    assert find_spikes(curve).spike_steps == curve.spike_steps


def test_default_rule_on_the_spiky_run() -> None:
    report = find_spikes(make_curve(20, "spiky"))
    assert report.rule == DEFAULT_RULE == RunningMinRatio(3.0)
    assert report.spike_steps == (4, 5)
    assert math.isnan(report.reference[0])
    assert report.reference[1:6].tolist() == [2.18, 2.11, 2.04, 2.04, 2.04]
    assert round(float(report.score[3]), 4) == 4.7549


def test_resumed_curve_uses_its_earlier_steps() -> None:
    # Alone, an array starting at the 9.5 has no reference for it; the curve has history.
    curve = make_curve(10, "spiky", start_step=5)
    assert detect_spikes(curve.losses).spike_steps == ()
    assert find_spikes(curve).spike_steps == (5,)
    assert find_spikes(make_curve(1, "spiky", start_step=4)).spike_steps == (4,)


def _loop_reference(losses: list[float], name: str) -> list[float]:
    """Each rule's reference, written as a plain loop over the history."""
    out = []
    for i in range(len(losses)):
        history = [x for x in losses[:i] if math.isfinite(x)]
        if name == "running-min":
            out.append(min(history) if history else math.nan)
        elif name == "running-mean":
            window = [x for x in losses[max(0, i - 10) : i] if math.isfinite(x)]
            out.append(sum(window) / len(window) if window else math.nan)
        elif name == "ema":
            if not history:
                out.append(math.nan)
                continue
            ema = history[0]
            for x in history[1:]:
                ema = 0.8 * ema + 0.2 * x
            out.append(ema)
    return out


finite_losses = st.lists(st.floats(0.01, 100.0), min_size=1, max_size=300)


@settings(max_examples=100, deadline=None)
@given(losses=finite_losses, name=st.sampled_from(["running-min", "running-mean", "ema"]))
def test_vectorized_references_equal_a_loop(losses: list[float], name: str) -> None:
    report = detect_spikes(losses, name)
    expected = np.array(_loop_reference(losses, name))
    np.testing.assert_allclose(report.reference, expected, rtol=1e-9, equal_nan=True)
    ratio = np.array(losses) / expected
    assert report.spike_steps == tuple(int(i) + 1 for i in np.flatnonzero(ratio >= 3.0))


@settings(max_examples=60, deadline=None)
@given(losses=st.lists(st.floats(-5.0, 5.0), min_size=1, max_size=80))
def test_zscore_equals_a_loop(losses: list[float]) -> None:
    rule = RollingZScore(threshold=2.0, window=8, warmup=3)
    report = detect_spikes(losses, rule)
    for i, loss in enumerate(losses):
        window = losses[max(0, i - 8) : i]
        if len(window) < 3:
            assert math.isnan(report.score[i])
            assert not report.mask[i]
            continue
        mean = float(np.mean(window))
        std = float(np.std(window))
        assert report.reference[i] == pytest.approx(mean)
        if std == 0:
            assert report.mask[i] == (loss > mean)
        else:
            assert report.score[i] == pytest.approx((loss - mean) / std)


@pytest.mark.parametrize(
    ("rule", "spikes"),
    [
        ("running-min", (4, 5)),
        ("running-mean", (4,)),  # the 9.7 is in the mean when the 9.5 arrives
        ("ema", (4,)),
        ("zscore", ()),  # warm-up of 64 steps: never fires on 20 steps
        (RunningMinRatio(threshold=5.0), ()),
        (RunningMeanRatio(window=2), (4,)),
        (EMARatio(threshold=4.0, span=1), (4,)),
    ],
)
def test_rules_on_the_spiky_run(rule: object, spikes: tuple[int, ...]) -> None:
    assert find_spikes(make_curve(20, "spiky"), rule).spike_steps == spikes  # type: ignore[arg-type]
    assert find_spikes(make_curve(20, "stable"), rule).spike_steps == ()  # type: ignore[arg-type]


def test_zscore_on_a_long_run_with_a_late_spike() -> None:
    losses = 2.0 + 0.01 * np.sin(np.arange(300))
    losses[200] = 2.5
    assert detect_spikes(losses, "zscore").spike_steps == (201,)


@pytest.mark.parametrize("name", ["running-mean", "ema", "zscore"])
@pytest.mark.parametrize("start", [2, 5, 90, 150])
def test_window_rules_see_a_resumed_curve_as_the_tail_of_its_run(name: str, start: int) -> None:
    rule = get_rule(name)
    full = find_spikes(make_curve(300, "spiky"), rule)
    tail = find_spikes(make_curve(300 - start + 1, "spiky", start_step=start), rule)
    np.testing.assert_allclose(tail.reference, full.reference[start - 1 :], rtol=1e-12)
    assert tail.spike_steps == tuple(s for s in full.spike_steps if s >= start)


def test_non_finite_losses_are_spikes_by_default_and_stay_out_of_references() -> None:
    for name in GENERIC_RULES:
        report = detect_spikes([2.0, math.nan, 1.9, math.inf, 1.8], name)
        assert report.spike_steps == (2, 4), name
    report = detect_spikes([2.0, math.nan, 1.9], "running-min")
    assert report.reference[2] == 2.0


def test_steps_are_reported() -> None:
    report = detect_spikes([1.0, 1.0, 5.0], steps=[10, 20, 30])
    assert report.spike_steps == (30,)


def test_describe() -> None:
    assert RunningMinRatio().describe() == "running-min ratio >= 3.0"
    assert RunningMinRatio(2.5, window=50).describe() == "running-min ratio >= 2.5 (window 50)"
    assert RunningMeanRatio().describe() == "running-mean ratio >= 3.0 (window 10, warmup 1)"
    assert EMARatio().describe() == "EMA ratio >= 3.0 (span 9)"
    assert RollingZScore().describe() == "rolling z-score > 6.0 (window 128, warmup 64)"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RunningMinRatio(0), "running-min: threshold must be a finite number > 0, got 0"),
        (
            lambda: RunningMinRatio(math.nan),
            "running-min: threshold must be a finite number > 0, got nan",
        ),
        (lambda: RunningMinRatio(window=0), "running-min: window must be an integer >= 1, got 0"),
        (
            lambda: RunningMeanRatio(window=2.5),  # type: ignore[arg-type]
            "running-mean: window must be an integer >= 1, got 2.5",
        ),
        (
            lambda: RunningMeanRatio(warmup=True),
            "running-mean: warmup must be an integer >= 1, got True",
        ),
        (lambda: EMARatio(span=0.5), "ema: span must be a finite number >= 1, got 0.5"),
        (lambda: RollingZScore(window=1), "zscore: window must be an integer >= 2, got 1"),
        (
            lambda: get_rule("zscor"),
            "unknown spike rule 'zscor'; known rules: running-min, running-mean, ema, zscore, "
            "lightning, metaseq, megatron, olmo-skip-step, olmo-stability, llm-foundry "
            "(did you mean 'zscore'?)",
        ),
        (
            lambda: get_rule("running-min", windw=3),
            "running-min: unknown parameter 'windw'; its parameters: threshold, window "
            "(did you mean 'window'?)",
        ),
        (
            lambda: get_rule("spike"),
            "unknown spike rule 'spike'; known rules: running-min, running-mean, ema, zscore, "
            "lightning, metaseq, megatron, olmo-skip-step, olmo-stability, llm-foundry",
        ),
        (
            lambda: get_rule(3.0),  # type: ignore[arg-type]
            "rule must be a spike rule or one of running-min, running-mean, ema, zscore, "
            "lightning, metaseq, megatron, olmo-skip-step, olmo-stability, llm-foundry, got 3.0",
        ),
        (lambda: detect_spikes([[1.0]]), "losses must be 1-D, got an array of shape (1, 1)"),
        (
            lambda: detect_spikes([1.0, "2"]),  # type: ignore[arg-type]
            "losses must be numbers, got '2' (str) at index 1",
        ),
        (
            lambda: detect_spikes([1.0, None]),  # type: ignore[arg-type]
            "losses must be numbers, got None (NoneType) at index 1",
        ),
        (
            lambda: RunningMeanRatio(window=2, warmup=5),
            "running-mean: warmup 5 is more than window 2, so the rule would never fire "
            "(the warm-up counts losses within the window); use warmup <= window",
        ),
        (
            lambda: detect_spikes([1.0, 2.0], steps=[1, 2.5]),
            "steps must be integers >= 1, got 2.5 at index 1 (a float step must be a whole number)",
        ),
        (
            lambda: detect_spikes([1.0, 2.0], steps=[1]),
            "steps and losses differ in shape ((1,) and (2,))",
        ),
    ],
)
def test_bad_rules(make: object, message: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        make()  # type: ignore[operator]
    assert str(excinfo.value) == message


# -- the non-finite policy ---------------------------------------------------------------

MIXED = [2.0, math.nan, 1.9, math.inf, 1.8, -math.inf, 1.7]
#: The generic rules (the stack presets follow their stacks: tests/test_stack_presets.py).
GENERIC_RULES = [name for name in SPIKE_RULES if name not in STACK_PRESETS]


@pytest.mark.parametrize("name", GENERIC_RULES)
def test_nonfinite_policies_on_every_rule(name: str) -> None:
    spike = detect_spikes(MIXED, name)
    ignore = detect_spikes(MIXED, name, nonfinite="ignore")
    assert spike.spike_steps == (2, 4, 6)
    assert spike.nonfinite == "spike"
    assert ignore.spike_steps == ()
    assert ignore.nonfinite == "ignore"
    # Non-finite losses never enter a reference, whatever the policy.
    np.testing.assert_array_equal(spike.reference, ignore.reference)
    finite_only = detect_spikes([2.0, 1.9, 1.8, 1.7], name)
    np.testing.assert_array_equal(ignore.reference[[0, 2, 4, 6]], finite_only.reference)


def test_huge_finite_losses_whose_sum_overflows_are_not_non_finite() -> None:
    # the policy's quick check sums the losses: an overflow to inf must not count as one
    losses = [1e308, 1e308, 1e308, math.nan, 1e308]
    assert detect_spikes(losses, "running-min").spike_steps == (4,)
    assert detect_spikes(losses, "running-min", nonfinite="ignore").spike_steps == ()
    assert detect_spikes(losses[:3] + losses[4:], "running-min").spike_steps == ()


def test_ignore_still_flags_finite_spikes_against_an_unpoisoned_reference() -> None:
    report = detect_spikes([2.0, math.inf, math.nan, 6.0, 6.5], nonfinite="ignore")
    assert report.spike_steps == (4, 5)
    np.testing.assert_array_equal(report.reference, [math.nan, 2.0, 2.0, 2.0, 2.0])
    assert detect_spikes([2.0, math.inf, 6.0], "running-mean", nonfinite="ignore").spike_steps == (
        3,
    )


def test_error_policy_names_the_first_non_finite_step() -> None:
    with pytest.raises(LossAssertionError) as excinfo:
        detect_spikes([1.0, 2.0, -math.inf, math.nan], steps=[10, 20, 30, 40], nonfinite="error")
    assert str(excinfo.value) == "Loss is not finite at step 30 (loss=-inf) and nonfinite='error'"
    assert isinstance(excinfo.value, AssertionError)
    finite = detect_spikes([1.0, 1.0, 5.0], nonfinite="error")
    assert finite.spike_steps == (3,)
    assert finite.nonfinite == "error"


@pytest.mark.parametrize("policy", ["skip", "Spike", 1])
def test_unknown_nonfinite_policy(policy: object) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        detect_spikes([1.0], nonfinite=policy)  # type: ignore[arg-type]
    assert str(excinfo.value) == (
        f"nonfinite must be one of 'spike', 'ignore', 'error', 'stack' or None, got {policy!r}"
    )
    assert NONFINITE_POLICIES == ("spike", "ignore", "error", "stack")


def test_nonfinite_none_is_the_rules_default_and_stack_is_for_presets_only() -> None:
    assert detect_spikes(MIXED).nonfinite == "spike"
    assert detect_spikes(MIXED, nonfinite=None).spike_steps == (2, 4, 6)
    assert detect_spikes(MIXED, "metaseq").nonfinite == "stack"
    with pytest.raises(SynthLossError) as excinfo:
        detect_spikes(MIXED, nonfinite="stack")
    assert str(excinfo.value) == (
        "nonfinite='stack' is for the stack presets; running-min ratio >= 3.0 has no stack"
    )


@pytest.mark.parametrize(("name", "policy"), [("nan", "spike"), ("inf", "spike")])
def test_builtin_nonfinite_profiles(name: str, policy: str) -> None:
    curve = make_curve(20, name)
    assert find_spikes(curve, nonfinite=policy).spike_steps == curve.nonfinite_steps == (12,)
    assert find_spikes(curve, nonfinite="ignore").spike_steps == ()


@pytest.mark.parametrize(
    "name", ["stable", "spiky", "nan", "inf", "diverging", "plateau", "noisy", "noisy-spiky"]
)
def test_every_builtin_resumed_run_is_the_tail_of_its_full_run(name: str) -> None:
    # The default rule's history of a resumed curve is the profile's lowest earlier loss,
    # computed exactly (the diverging trend turns at its onset; noise has no shortcut).
    full = find_spikes(make_curve(60, name)).spike_steps
    for start in range(2, 61):
        tail = find_spikes(make_curve(61 - start, name, start_step=start)).spike_steps
        assert tail == tuple(s for s in full if s >= start), (name, start)


def test_resumed_diverging_run_has_its_true_best_loss_as_reference() -> None:
    # The best loss before step 15 is step 9's 1.62, not the baseline 1.27 of step 14.
    report = find_spikes(make_curve(5, "diverging", start_step=15))
    assert report.reference[0] == synthetic_loss(9, "diverging") == pytest.approx(1.62)
    assert report.spike_steps == (16, 17, 18, 19)
    assert find_spikes(make_curve(19, "diverging")).spike_steps == (16, 17, 18, 19)


@settings(max_examples=300, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(0, 5000),
        elements=st.floats(0, 100) | st.just(np.nan),
    ),
    lead=st.floats(0, 100) | st.just(np.nan),
    descending=st.booleans(),
)
def test_blocked_running_min_equals_accumulate(
    values: np.ndarray, lead: float, descending: bool
) -> None:
    from pytest_synthloss.checks.kernels import running_min_before as _running_min_before

    if descending:
        values = np.sort(values)[::-1].copy()  # a new minimum in every block
    expected = np.fmin.accumulate(np.concatenate([[lead], values]))[:-1]
    assert np.array_equal(_running_min_before(values, lead), expected, equal_nan=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: RunningMinRatio(window=10**30),
            f"running-min: window must be at most 4194304 (MAX_WINDOW), got {10**30}",
        ),
        (
            lambda: RunningMeanRatio(window=MAX_WINDOW + 1),
            "running-mean: window must be at most 4194304 (MAX_WINDOW), got 4194305",
        ),
        (
            lambda: RunningMeanRatio(warmup=10**400),
            "running-mean: warmup must be at most 4194304 (MAX_WINDOW), "
            "got an integer of 401 digits",
        ),
        (
            lambda: RollingZScore(window=10**30),
            f"zscore: window must be at most 4194304 (MAX_WINDOW), got {10**30}",
        ),
        (
            lambda: EMARatio(span=10**30),
            f"ema: span must be at most 262144 (MAX_SPAN), got {10**30}",
        ),
        (lambda: EMARatio(span=math.inf), "ema: span must be a finite number >= 1, got inf"),
        (
            lambda: RunningMinRatio(10**400),
            "running-min: threshold must be a finite number > 0, got an integer of 401 digits",
        ),
    ],
)
def test_windows_and_spans_are_bounded(make: object, message: str) -> None:
    assert callable(make)
    with pytest.raises(SynthLossError) as excinfo:
        make()
    assert str(excinfo.value) == message


def test_the_largest_windows_and_span_work() -> None:
    curve = make_curve(20, "spiky")
    # A window longer than the series covers every earlier step: the unwindowed rule.
    widest = find_spikes(curve, RunningMinRatio(window=MAX_WINDOW))
    assert widest.spike_steps == (4, 5)
    np.testing.assert_array_equal(widest.reference, find_spikes(curve).reference)
    mean = find_spikes(curve, RunningMeanRatio(window=MAX_WINDOW, warmup=MAX_WINDOW))
    assert mean.spike_steps == ()
    assert np.isnan(mean.reference).all()
    assert find_spikes(curve, RollingZScore(window=MAX_WINDOW, warmup=2)).spike_steps == (4,)
    ema = EMARatio(span=MAX_SPAN)
    assert ema.lookback == 3621654 <= MAX_WINDOW
    assert find_spikes(curve, ema).spike_steps == (4, 5)


@pytest.mark.parametrize("window", [1, 3, 19, 20, 21, 1000])
@pytest.mark.parametrize("start", [1, 4, 30])
def test_window_longer_than_the_history_is_all_of_it(window: int, start: int) -> None:
    curve = make_curve(20, "spiky", start_step=start)
    full = make_curve(start + 19, "spiky").losses.tolist()
    report = find_spikes(curve, RunningMeanRatio(window=window))
    for i, step in enumerate(curve.steps.tolist()):
        history = full[max(0, step - 1 - window) : step - 1]
        expected = sum(history) / len(history) if history else math.nan
        got = float(report.reference[i])
        assert (math.isnan(got) and math.isnan(expected)) or math.isclose(got, expected)


def test_wide_windows_are_reduced_in_bounded_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    losses = np.linspace(3.0, 1.0, 50)
    before = detect_spikes(losses, RunningMeanRatio(window=7)).reference
    monkeypatch.setattr(kernels, "_CHUNK_CELLS", 8)  # one row per pass
    np.testing.assert_array_equal(
        detect_spikes(losses, RunningMeanRatio(window=7)).reference, before
    )


def test_a_spike_report_repr_is_one_short_line() -> None:
    losses = np.full(100_000, 1.0)
    losses[np.arange(10, 100_000, 1000)] = 9.0  # 100 spikes
    report = detect_spikes(losses)
    assert repr(report) == (
        "<SpikeReport running-min ratio >= 3.0, steps 1..100000 (100,000), 100 flagged: "
        "[11, 1011, 2011, 3011, 4011, 5011, 6011, 7011, 8011, 9011, ... (90 more)], "
        "nonfinite='spike'>"
    )
    assert repr(detect_spikes([])) == (
        "<SpikeReport running-min ratio >= 3.0, no steps (0), 0 flagged: [], nonfinite='spike'>"
    )
