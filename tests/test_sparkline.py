from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_synthloss.core.sparklines import sparkline


def test_levels_and_marks() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1, 1, 9, 1], marks=[2]) == "▁▁█▁\n  ▲"
    assert sparkline([]) == ""
    assert sparkline([3, 3]) == "▁▁"


def test_long_curves_are_bucketed_by_their_peak() -> None:
    values = [1.0] * 1000
    values[500] = 9.0
    line = sparkline(values, width=10, marks=[500])
    assert line == "▁▁▁▁▁█▁▁▁▁\n     ▲"


def test_non_finite_values_show() -> None:
    assert sparkline([1.0, math.nan, 2.0, math.inf]) == "▁×█×"


def test_public_names_are_exported_lazily() -> None:
    import pytest_synthloss

    assert sorted(pytest_synthloss.__all__) == sorted(pytest_synthloss._EXPORTS)
    for name in pytest_synthloss.__all__:
        assert getattr(pytest_synthloss, name) is not None


def _long_columns(values: np.ndarray, width: int) -> tuple[str, str]:
    """The sparkline with long columns done column by column, and by the reduceat path."""
    import pytest_synthloss.core.sparklines as module

    fast = sparkline(values, width=width, marks=[0, values.size // 2])
    saved = module.LONG_COLUMN
    module.LONG_COLUMN = 1 << 62  # every column "short": the reduceat path
    try:
        slow = sparkline(values, width=width, marks=[0, values.size // 2])
    finally:
        module.LONG_COLUMN = saved
    return fast, slow


@pytest.mark.parametrize("width", [1, 7, 60])
@pytest.mark.parametrize(
    "fill",
    [
        "clean",
        "nan every 100",
        "one of each",
        "-inf head",
        "nan head",
        "inf every 3",
        "all nan",
        "all -inf",
        "all inf",
    ],
)
def test_long_columns_draw_exactly_what_the_reduceat_path_draws(fill: str, width: int) -> None:
    n = 1 << 17
    values = np.linspace(2.25, 1.05, n)
    if fill == "nan every 100":
        values[99::100] = np.nan
    elif fill == "one of each":
        values[[5, n // 2, n - 1]] = [np.inf, -np.inf, np.nan]
    elif fill == "-inf head":
        values[: n // 3] = -np.inf
    elif fill == "nan head":
        values[: n // 3] = np.nan
    elif fill == "inf every 3":
        values[::3] = np.inf
    elif fill.startswith("all"):
        values[:] = float(fill.split()[1])
    fast, slow = _long_columns(values, width)
    assert fast == slow
    if fill == "clean" and width == 7:
        assert fast == "█▇▆▅▃▂▁\n▲  ▲"
    if fill.startswith("all"):
        assert fast.split("\n")[0] == "×" * width
