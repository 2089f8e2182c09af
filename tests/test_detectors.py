"""Spike rules: the default's guarantee on the built-ins, each rule against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss import (
    SPIKE_RULES,
    EMARatio,
    RollingZScore,
    RunningMeanRatio,
    RunningMinRatio,
    SynthLossError,
    detect_spikes,
    find_spikes,
    make_curve,
)
from pytest_synthloss.detectors import DEFAULT_RULE, get_rule


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


def test_non_finite_losses_are_spikes_and_stay_out_of_references() -> None:
    for name in SPIKE_RULES:
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
            lambda: get_rule("spike"),
            "unknown spike rule 'spike'; known rules: running-min, running-mean, ema, zscore",
        ),
        (
            lambda: get_rule(3.0),  # type: ignore[arg-type]
            "rule must be a spike rule or one of running-min, running-mean, ema, zscore, got 3.0",
        ),
        (lambda: detect_spikes([[1.0]]), "losses must be 1-D, got shape (1, 1)"),
    ],
)
def test_bad_rules(make: object, message: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        make()  # type: ignore[operator]
    assert str(excinfo.value) == message
