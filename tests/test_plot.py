"""Plots: the PNG from ``synthloss plot``, ``LossCurve.plot`` and the missing-matplotlib error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.cli.main import main
from pytest_synthloss.exports.plotting import plot_curve


def test_plot_command_writes_a_png_with_the_ground_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib", reason="the plot test needs the [plot] extra (matplotlib)")
    from matplotlib.image import imread

    out = tmp_path / "curve.png"
    assert main(["plot", "--profile", "spiky", "--steps", "40", "-o", str(out)]) == 0
    assert capsys.readouterr() == (f"wrote {out}\n", "")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(out)
    assert image.shape == (450, 800, 4)  # 8 x 4.5 inches at 100 dpi, RGBA
    rgb = image[:, :, :3]
    assert rgb.std() > 0.05  # not blank
    assert (rgb.min(axis=2) < 0.5).mean() > 0.005  # some dark ink: axes, text, the curve
    red = (rgb[:, :, 0] > 0.75) & (rgb[:, :, 1] < 0.25) & (rgb[:, :, 2] < 0.25)
    assert red.sum() > 20  # the spike markers (tab:red)
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]  # no temp file left


def _legend(ax: Any) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def test_plot_curve_marks_spikes_and_floor_step() -> None:
    pytest.importorskip("matplotlib", reason="the plot test needs the [plot] extra (matplotlib)")
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    curve = make_curve(40, "spiky")
    assert plot_curve(curve, ax) is ax
    assert _legend(ax) == ["loss", "spikes (steps 4-5)", "floor", "floor step 18"]
    x, y = ax.get_lines()[0].get_data()
    assert np.array_equal(x, curve.steps)
    assert np.array_equal(y, curve.losses)
    assert ax.get_title() == "synthloss: spiky, steps 1..40"
    short = Figure().subplots()
    plot_curve(make_curve(3), short)
    assert _legend(short) == ["loss", "floor"]


def test_plot_on_the_current_axes() -> None:
    pytest.importorskip("matplotlib", reason="the plot test needs the [plot] extra (matplotlib)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        ax = plot_curve(make_curve(20, "spiky"))
        assert ax is plt.gca()
    finally:
        plt.close("all")


def test_missing_matplotlib_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    message = (
        'plotting needs matplotlib, which is not installed: pip install "pytest-synthloss[plot]"'
    )
    with pytest.raises(SynthLossError) as info:
        plot_curve(make_curve(5))
    assert str(info.value) == message
    out = tmp_path / "curve.png"
    assert main(["plot", "--steps", "5", "-o", str(out)]) == 2
    assert capsys.readouterr() == ("", f"synthloss plot: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_plot_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing" / "curve.png"
    assert main(["plot", "--steps", "5", "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"synthloss plot: error: cannot write output file '{out}': No such file or directory\n"
    )


def test_plot_to_an_existing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="the plot test needs the [plot] extra (matplotlib)")
    target = f"{tmp_path}/"
    assert main(["plot", "--steps", "5", "-o", target]) == 2
    assert capsys.readouterr() == (
        "",
        f"synthloss plot: error: cannot write output file '{target}': Is a directory\n",
    )
    assert list(tmp_path.iterdir()) == []
