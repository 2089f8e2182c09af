"""The O(n) window kernels against the per-window kernels they replace (kept as the reference):
the same bits for sums, means, minima and the EMA, the same spikes for the z-score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss.checks.kernels import ema, rolling
from pytest_synthloss.checks.rolling_stats import ema_before, rolling_mean, rolling_min
from pytest_synthloss.checks.rules import RollingZScore
from pytest_synthloss.checks.windows import window_sums

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
    assert same(rolling_mean(losses, context, window, warmup)[0], expected)
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
    np.testing.assert_allclose(z, old_z, rtol=1e-5, equal_nan=True)
