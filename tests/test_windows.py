"""The O(n) window kernels against the per-window kernels they replace (kept as the reference):
the same bits for sums, means, minima and the EMA, the same spikes for the z-score."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss.checks import rolling_stats
from pytest_synthloss.checks.kernels import ema, rolling
from pytest_synthloss.checks.rolling_stats import ema_before, rolling_mean, rolling_min
from pytest_synthloss.checks.rules import RollingZScore, RunningMeanRatio
from pytest_synthloss.checks.windows import BLOCK, window_sums

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
WIDTHS = st.sampled_from([1, 2, 3, 7, 8, 9, 10, 16, 17, 100, 127, 128, 129, 200, 300])


@st.composite
def series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Losses (some repeated, some non-finite) and a context of finite losses."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 400))
    scale = 10.0 ** draw(st.integers(-9, 0))
    losses = 1.0 + rng.standard_normal(n) * scale
    if draw(st.booleans()):
        losses = np.round(losses, draw(st.integers(0, 3)))  # repeated values, flat windows
    for _ in range(draw(st.integers(0, 3))):
        losses[rng.integers(0, n)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    context = 1.0 + rng.standard_normal(draw(st.integers(0, 300))) * 0.1
    return losses, context


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (NaN equal to NaN, and 0.0 not to -0.0)."""
    return a.shape == b.shape and bool(
        np.array_equal(a, b, equal_nan=True) and (np.signbit(a) == np.signbit(b)).all()
    )


@pytest.mark.parametrize("width", [1, 5, 8, 10, 64, 128, 129, 256, 1000, 2049])
def test_window_sums_are_numpys_row_sums(width: int) -> None:
    rng = np.random.default_rng(width)
    values = rng.standard_normal(5000) * 10.0 ** rng.integers(-6, 6, 5000)
    rows = np.lib.stride_tricks.sliding_window_view(values, width)
    assert same(window_sums(values, width), np.add.reduce(rows[np.arange(rows.shape[0])], axis=1))


@SETTINGS
@given(data=series(), window=WIDTHS, warmup_part=st.floats(0, 1))
def test_rolling_mean_and_min_equal_the_per_window_kernel(
    data: tuple[np.ndarray, np.ndarray], window: int, warmup_part: float
) -> None:
    losses, context = data
    warmup = max(1, round(warmup_part * window))
    expected = rolling(losses, context, window, warmup, np.nanmean)
    assert same(rolling_mean(losses, context, window, warmup), expected)
    fast = rolling_min(losses, context, window)
    if fast is None:  # a zero among the values: the per-window kernel is used
        assert (losses == 0).any()
    else:
        assert same(fast, rolling(losses, context, window, 1, np.nanmin))


@SETTINGS
@given(data=series(), span=st.sampled_from([1.0, 1.5, 2.0, 9.0, 50.0, 1000.0]))
def test_ema_equals_the_block_by_block_kernel(
    data: tuple[np.ndarray, np.ndarray], span: float
) -> None:
    losses, context = data
    values = np.concatenate([context, np.where(np.isfinite(losses), losses, np.nan)])
    alpha = 2.0 / (span + 1.0)
    assert same(ema_before(values, alpha), np.concatenate([[np.nan], ema(values, alpha)[:-1]]))


@SETTINGS
@given(
    data=series(),
    window=WIDTHS.filter(lambda w: w >= 2),
    threshold=st.sampled_from([0.5, 2.0, 6.0]),
)
def test_zscore_flags_as_the_two_pass_std(
    data: tuple[np.ndarray, np.ndarray], window: int, threshold: float
) -> None:
    losses, context = data
    rule = RollingZScore(threshold=threshold, window=window, warmup=max(2, window // 2))
    mean, z = rule.evaluate(losses, context)
    old_mean = rolling(losses, context, window, rule.warmup, np.nanmean)
    std = rolling(losses, context, window, rule.warmup, np.nanstd)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = losses - old_mean
        old_z = diff / std
    flat = std == 0
    old_z[flat] = np.where(diff[flat] > 0, np.inf, 0.0)
    assert same(mean, old_mean)
    np.testing.assert_array_equal(rule.is_spike(z), rule.is_spike(old_z))
    np.testing.assert_allclose(z, old_z, rtol=1e-6, equal_nan=True)


@st.composite
def long_series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Losses over many blocks: a level, a trend, noise of any scale, flat stretches (of -0.0
    too), NaN, infinities, zeros and huge values; a context of finite losses."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 700))
    level = draw(st.sampled_from([0.0, 1.0, -3.0, 1e6]))
    scale = 10.0 ** draw(st.integers(-12, 0))
    trend = np.linspace(0.0, draw(st.sampled_from([0.0, 0.1, 10.0])), n)
    losses = level + trend + rng.standard_normal(n) * scale
    for _ in range(draw(st.integers(0, 3))):
        start = int(rng.integers(0, n))
        losses[start : start + int(rng.integers(1, 200))] = draw(
            st.sampled_from([losses[start], -0.0])
        )
    for _ in range(draw(st.integers(0, 4))):
        losses[rng.integers(0, n)] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e200])
        )
    context = level + rng.standard_normal(draw(st.integers(0, 300))) * scale
    return losses, context


def two_pass_zscore(
    losses: np.ndarray, context: np.ndarray, window: int, warmup: int
) -> tuple[np.ndarray, np.ndarray]:
    """The per-window mean and ``(loss - mean) / np.nanstd`` (inf/0 above a constant window)."""
    with np.errstate(all="ignore"):
        mean = rolling(losses, context, window, warmup, np.nanmean)
        std = rolling(losses, context, window, warmup, np.nanstd)
        diff = losses - mean
        z = diff / std
    flat = std == 0
    z[flat] = np.where(diff[flat] > 0, np.inf, 0.0)
    return mean, z


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    data=long_series(),
    window=st.sampled_from([2, 3, 8, 10, 17, 128, 129, 300]),
    warmup_part=st.floats(0, 1),
    block=st.sampled_from([8, 16, 64, 256]),
    pick=st.integers(0, 10**6),
)
def test_blocked_mean_and_zscore_equal_the_per_window_kernel(
    data: tuple[np.ndarray, np.ndarray], window: int, warmup_part: float, block: int, pick: int
) -> None:
    """Blocks of a few windows (so that a series crosses many): the same mean bits, and the
    same spikes as the two-pass std even for a threshold equal to one of the scores."""
    losses, context = data
    warmup = max(2, round(warmup_part * window))
    old_mean, old_z = two_pass_zscore(losses, context, window, warmup)
    scores = old_z[np.isfinite(old_z) & (old_z > 0)]
    thresholds = [6.0, 0.5, float(scores[pick % scores.size])] if scores.size else [6.0]
    with mock.patch.object(rolling_stats, "BLOCK", block), np.errstate(all="ignore"):
        assert same(rolling_stats.rolling_mean(losses, context, window, warmup), old_mean)
        ratio_rule = RunningMeanRatio(threshold=1.0, window=window, warmup=warmup)
        mean, ratio, spikes = ratio_rule.decide(losses, np.concatenate([[np.inf], context]))
        assert same(mean, old_mean)
        assert same(ratio, losses / old_mean)
        np.testing.assert_array_equal(spikes, ratio_rule.is_spike(losses / old_mean))
        for threshold in thresholds:
            rule = RollingZScore(threshold=threshold, window=window, warmup=warmup)
            mean, z = rule.evaluate(losses, context)
            assert same(mean, old_mean)
            np.testing.assert_array_equal(rule.is_spike(z), rule.is_spike(old_z))
            np.testing.assert_allclose(z, old_z, rtol=1e-6, equal_nan=True)
            # what spike reports use: the spikes computed block by block
            mean, z, spikes = rule.decide(losses, np.concatenate([[np.nan], context]))
            assert same(mean, old_mean)
            assert same(z, rule.evaluate(losses, context)[1])
            np.testing.assert_array_equal(spikes, rule.is_spike(old_z))


@pytest.mark.parametrize("window", [10, 128])
def test_the_real_blocks_on_a_noisy_trend(window: int) -> None:
    """Two and a bit blocks of the real size, a decaying noisy loss with a few spikes."""
    rng = np.random.default_rng(window)
    n = 2 * BLOCK + 333
    losses = 2.0 + np.exp(-np.arange(n) / 5000.0) + rng.standard_normal(n) * 0.01
    losses[rng.integers(0, n, 20)] += 0.2
    old_mean, old_z = two_pass_zscore(losses, losses[:50], window, window // 2)
    assert same(rolling_stats.rolling_mean(losses, losses[:50], window, window // 2), old_mean)
    rule = RollingZScore(window=window, warmup=window // 2)
    mean, z = rule.evaluate(losses, losses[:50])
    assert same(mean, old_mean)
    np.testing.assert_array_equal(rule.is_spike(z), rule.is_spike(old_z))
    assert rule.is_spike(z).any()  # the spikes are among the windows compared
    np.testing.assert_allclose(z, old_z, rtol=1e-6, equal_nan=True)
