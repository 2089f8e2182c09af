"""The common-pass fast path of ``olmo-skip-step``, ``olmo-stability`` and ``llm-foundry``.

``PassSums.common`` handles a pass in which every value is finite and no window holds
one value, on reused buffers and with the close-call tests bounded per pass; any other pass
goes through ``full_windows`` as before. The fast path must give the same outputs bit for
bit: each test runs a preset as it is and with the fast path switched off (every pass then
takes the general path), with small passes so a run crosses many of them, on curves with
NaN/inf, runs of one repeated value, spikes, and losses placed exactly on the decision line
of their window (where the exact per-window statistics decide). The decisions are also
compared with the exact per-window statistics of every window.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss import make_curve
from pytest_synthloss.checks import (
    window_sums,
)
from pytest_synthloss.checks.rules import STACK_PRESETS
from pytest_synthloss.checks.stacks_olmo import OlmoSkipStep
from pytest_synthloss.checks.stacks_olmo_stability import OlmoStability
from pytest_synthloss.checks.window_sums import PassSums

HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
#: The modules that read the pass length.
MODULES = (window_sums,)


@contextmanager
def passes(rows: int, fast: bool = True) -> Iterator[None]:
    """Passes of ``rows`` windows; the common-pass fast path on or off."""
    with pytest.MonkeyPatch.context() as patch:
        for module in MODULES:
            patch.setattr(module, "ROWS", rows)
        if not fast:
            patch.setattr(PassSums, "common", lambda *args: None)
        yield


def bits(values: np.ndarray) -> np.ndarray:
    """The array's bytes as integers: -0.0 and NaN payloads compare too."""
    return values.view(np.uint8)


def outputs(name: str, params: dict[str, Any], losses: np.ndarray, rows: int, fast: bool) -> Any:
    with passes(rows, fast):
        return STACK_PRESETS[name](**params).run(losses)


def assert_same(name: str, params: dict[str, Any], losses: np.ndarray, rows: int) -> Any:
    fast = outputs(name, params, losses, rows, True)
    general = outputs(name, params, losses, rows, False)
    for got, want in zip(fast, general, strict=True):
        np.testing.assert_array_equal(bits(got), bits(want))
    return fast


def windows(losses: np.ndarray, size: int) -> np.ndarray:
    """Row ``i``: the ``size`` losses before loss ``size + i``."""
    return np.lib.stride_tricks.sliding_window_view(losses[:-1], size)


@st.composite
def curves(draw: st.DrawFn, sizes: st.SearchStrategy[int]) -> tuple[np.ndarray, int, int]:
    """Losses, a window size and a pass length. The losses are noise around an offset (a
    noise small enough that a window's std is near OLMo's 1e-10 floor, or the running sums
    lose it to the offset) with a few NaN/inf, spikes, huge values and runs of one value."""
    n = draw(st.integers(1, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    offset = draw(st.sampled_from([1.0, 3.0, 1e6]))
    noise = draw(st.sampled_from([1.0, 0.01, 1e-9, 3e-11]))
    x = offset + noise * rng.random(n)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, n - 1))
        kind = draw(st.sampled_from(["nan", "inf", "-inf", "spike", "huge", "run", "run"]))
        if kind == "run":
            x[at : at + draw(st.integers(2, 20))] = x[at]
        else:
            x[at] = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "huge": 1e200}.get(
                kind, 10 * x[at]
            )
    return x, draw(sizes), draw(st.sampled_from([1, 3, 16, 37]))


# -- olmo-skip-step -----------------------------------------------------------------------


def skip_reference(losses: np.ndarray, size: int, factor: float) -> np.ndarray:
    """The skip decision from the exact two-pass statistics of every window."""
    index = np.arange(losses.size)
    mean, std = OlmoSkipStep._two_pass(losses, size, index)
    with np.errstate(invalid="ignore", over="ignore"):
        skip: np.ndarray = ~((losses - mean) <= factor * std)
    skip[: max(2, size // 2) - 1] = False
    return skip


def on_skip_line(losses: np.ndarray, size: int, factor: float, at: list[int]) -> np.ndarray:
    """Losses ``at`` set to ``mean + factor * std`` of their window (two-pass)."""
    x: np.ndarray = losses.copy()
    for i in sorted(i for i in at if size <= i < x.size):
        mean, std = OlmoSkipStep._two_pass(x, size, np.array([i]))
        if np.isfinite(mean[0] + factor * std[0]):
            x[i] = mean[0] + factor * std[0]
    return x


@HYPOTHESIS
@given(
    curves(st.integers(1, 12)),
    st.sampled_from([6, 2, 1, 0.5, -1.5]),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_skip_step_fast_path_is_the_general_path(
    case: tuple[np.ndarray, int, int], factor: float, at: list[int]
) -> None:
    losses, size, rows = case
    losses = on_skip_line(losses, size, factor, at)
    params = {"rolling_interval_length": size, "sigma_factor": factor}
    _, _, skip = assert_same("olmo-skip-step", params, losses, rows)
    np.testing.assert_array_equal(skip, skip_reference(losses, size, factor))
    with np.errstate(over="ignore"):  # float32 runs take the general path, as before
        assert_same("olmo-skip-step", params, losses.astype(np.float32), rows)


# -- olmo-stability -----------------------------------------------------------------------


def stability_reference(losses: np.ndarray, size: int, limit: float) -> np.ndarray:
    """The spikes from Python's own mean and population std of every full window."""
    spike: np.ndarray = np.zeros(losses.size, bool)
    if losses.size > size:
        rows = np.arange(losses.size - size)
        mean, std = OlmoStability._exact(losses, size, rows)
        with np.errstate(invalid="ignore", over="ignore"):
            spike[size:] = ~(std < 1e-10) & (losses[size:] > mean + limit * std)
    return spike


def on_stability_line(losses: np.ndarray, size: int, limit: float, at: list[int]) -> np.ndarray:
    x: np.ndarray = losses.copy()
    for i in sorted(i for i in at if size <= i < x.size):
        mean, std = OlmoStability._exact(x, size, np.array([i - size]))
        if np.isfinite(mean[0] + limit * std[0]):
            x[i] = mean[0] + limit * std[0]
    return x


@HYPOTHESIS
@given(
    curves(st.integers(1, 12)),
    st.sampled_from([6.0, 2.0, 0.5, -3.0]),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_stability_fast_path_is_the_general_path(
    case: tuple[np.ndarray, int, int], limit: float, at: list[int]
) -> None:
    losses, size, rows = case
    losses = on_stability_line(losses, size, limit, at)
    params = {"window_size": size, "threshold_std": limit}
    _, _, spike = assert_same("olmo-stability", params, losses, rows)
    np.testing.assert_array_equal(spike, stability_reference(losses, size, limit))


# -- llm-foundry --------------------------------------------------------------------------


def foundry_reference(losses: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """``KillLossSpike.batch_end`` step by step with numpy's mean of every window."""
    size, mult = params["window_size"], params["outlier_multiplier"]
    flags: np.ndarray = np.zeros(losses.size, bool)
    streak = 0
    last = losses.size if size == 100 else min(losses.size, size + 1)
    for i in range(size, last):
        window = losses[i - size : i]
        with np.errstate(invalid="ignore", over="ignore"):
            outlier = bool(losses[i] >= float(np.mean(window)) * mult)
        streak = streak + 1 if outlier else 0
        high = i + 1 >= 2 * size and np.count_nonzero(window > params["loss_cap"]) >= size / 2
        flags[i] = (outlier and streak > params["patience"]) or high
    return flags


def on_foundry_line(losses: np.ndarray, size: int, mult: float, at: list[int]) -> np.ndarray:
    x: np.ndarray = losses.copy()
    for i in sorted(i for i in at if size <= i < x.size):
        with np.errstate(invalid="ignore", over="ignore"):
            limit = float(np.mean(x[i - size : i])) * mult
        if math.isfinite(limit):
            x[i] = limit
    return x


@HYPOTHESIS
@given(
    curves(st.sampled_from([1, 2, 3, 5, 8, 100])),
    st.sampled_from([2.0, 1.0, 1.01, -2.0]),
    st.integers(0, 3),
    st.sampled_from([10.0, 2.0, 1.0]),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_llm_foundry_fast_path_is_the_general_path(
    case: tuple[np.ndarray, int, int], mult: float, patience: int, cap: float, at: list[int]
) -> None:
    losses, size, rows = case
    if size == 100:  # the window the loop keeps checking: a longer run
        losses = np.resize(losses, 100 + 3 * losses.size)
    losses = on_foundry_line(losses, size, mult, at)
    params = {
        "window_size": size,
        "outlier_multiplier": mult,
        "patience": patience,
        "loss_cap": cap,
    }
    _, _, flags = assert_same("llm-foundry", params, losses, rows)
    np.testing.assert_array_equal(flags, foundry_reference(losses, params))


# -- the default passes on long curves ----------------------------------------------------

LONG = [("noisy", 70_001), ("noisy-spiky", 66_000), ("llm-pretrain-trouble", 40_000)]


@pytest.mark.parametrize(("profile", "steps"), LONG)
@pytest.mark.parametrize("name", ["olmo-skip-step", "olmo-stability", "llm-foundry"])
def test_default_passes_on_long_curves(name: str, profile: str, steps: int) -> None:
    losses = make_curve(steps, profile).losses
    assert_same(name, {}, losses, window_sums.ROWS)


# -- the error bounds are rigorous ---------------------------------------------------------


def exact_stats(x: np.ndarray, size: int, rows: np.ndarray) -> list[tuple[Fraction, Fraction]]:
    """The exact mean and sum of squared deviations of windows ``rows`` (rationals)."""
    found = []
    for r in rows.tolist():
        values = [Fraction(v) for v in x[r : r + size].tolist()]
        mean = sum(values, Fraction(0)) / size
        found.append((mean, sum(((v - mean) ** 2 for v in values), Fraction(0))))
    return found


def assert_within_bounds(x: np.ndarray, size: int, label: str) -> None:
    """Both paths' ``mean`` and ``m2`` of every 97th full window and the last one are within
    their bounds of the exact values."""
    end = x.size - size
    rows = np.unique(np.concatenate([np.arange(0, end, 97), [end - 1]]))
    mean = np.empty(end)
    fast = PassSums(size, squares=True).common(x, 0, end, mean)
    assert fast is not None, label
    assert fast.m2 is not None
    general = window_sums.full_windows(x, size, 0, end)
    for r, (want_mean, want_m2) in zip(rows.tolist(), exact_stats(x, size, rows), strict=True):
        for got_mean, got_m2, mean_err, m2_err in (
            (mean[r], fast.m2[r], fast.mean_err, fast.m2_err),
            (general["mean"][r], general["m2"][r], general["mean_err"][r], general["m2_err"][r]),
        ):
            off_mean = abs(Fraction(float(got_mean)) - want_mean) / Fraction(float(mean_err))
            off_m2 = abs(Fraction(float(got_m2)) - want_m2) / Fraction(float(m2_err))
            assert off_mean <= 1, (label, r, float(off_mean))
            assert off_m2 <= 1, (label, r, float(off_m2))


def test_the_bounds_hold_where_running_sums_broke_theirs() -> None:
    # Alternating +-(1 + d): the running (cumsum) sums this module used before were up to
    # 5.7 times their claimed bound on these; the tree sums' bound is derived, and holds.
    rng = np.random.default_rng(7)
    size, n = 128, window_sums.ROWS + 128  # one full pass
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    cases = {
        f"alternating d={d} noise={noise}": sign * (1 + d) + noise * rng.standard_normal(n)
        for d in (2.0**-40, 2.0**-20, 0.1)
        for noise in (0.0, 1e-12)
    }
    cases["two levels"] = np.where(sign > 0, 1.0, -7.0) + 1e-12 * rng.standard_normal(n)
    cases["level 1e6"] = 1e6 + rng.standard_normal(n)
    cases["ramp"] = np.linspace(0, 1, n) ** 2 * 100 + 1e-3 * rng.standard_normal(n)
    cases["subnormal squares"] = 1e-160 * (1 + rng.standard_normal(n))
    for label, x in cases.items():
        assert_within_bounds(x, size, label)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    st.integers(2, 300),
    st.sampled_from([1.0, 1e6, -3.0, 1e-160]),
    st.sampled_from([1.0, 1e-3, 1e-7]),
    st.integers(0, 2**32 - 1),
)
def test_the_bounds_hold_on_random_windows(
    size: int, level: float, spread: float, seed: int
) -> None:
    noise = np.random.default_rng(seed).standard_normal(size + 400)
    x = level + spread * abs(level) * noise  # relative spread: no window of one value
    assert_within_bounds(x, size, f"size={size}")
