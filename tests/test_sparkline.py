from __future__ import annotations

import math

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
