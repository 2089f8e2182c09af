"""Noise is identical across runs and across pytest-xdist workers (a pytester run of each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_synthloss import make_curve

STARTS = (1, 4000, 4097, 10**9, 2**62)  # inside, across and far past the first noise block

SUITE = f"""
import os
import pathlib

import numpy as np
import pytest

from pytest_synthloss import make_curve

OUT = pathlib.Path(os.environ["SYNTHLOSS_NOISE_OUT"])


@pytest.mark.parametrize("start", {STARTS!r})
def test_record(start, synthloss_curve):
    # Global RNG state differs per process: the noise must not depend on it.
    np.random.seed(os.getpid() % 2**32)
    curve = make_curve(5, synthloss_curve.profile, start_step=start)
    name = f"{{synthloss_curve.profile.name}}-{{start}}"
    (OUT / f"{{name}}.txt").write_text(repr(curve.losses.tolist()))
    (OUT / f"{{name}}.worker").write_text(os.environ.get("PYTEST_XDIST_WORKER", "serial"))
"""


def recorded(directory: Path, suffix: str) -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(directory.glob(f"*{suffix}"))}


def test_noise_is_identical_serially_and_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-p no:cacheprovider -p no:hypothesispytest -p no:randomly"
    )
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):  # set when this suite runs -n
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_noise_suite=SUITE)
    args = ("-q", "--synthloss-profile", "noisy,noisy-spiky")
    runs = {}
    for label, extra in (("serial", ("-p", "no:xdist")), ("xdist", ("-p", "xdist", "-n", "2"))):
        out = pytester.path / f"out-{label}"
        out.mkdir()
        monkeypatch.setenv("SYNTHLOSS_NOISE_OUT", str(out))
        result = pytester.runpytest_subprocess(*args, *extra)
        result.assert_outcomes(passed=10)
        runs[label] = out

    serial, parallel = (recorded(runs[label], ".txt") for label in ("serial", "xdist"))
    expected = {
        f"{name}-{start}": repr(make_curve(5, name, start_step=start).losses.tolist())
        for name in ("noisy", "noisy-spiky")
        for start in STARTS
    }
    assert serial == parallel == expected
    # The noise is really there (not the noise-free trend), and both workers recorded some.
    assert expected["noisy-1"] != repr(make_curve(5, "stable").losses.tolist())
    assert set(recorded(runs["serial"], ".worker").values()) == {"serial"}
    assert set(recorded(runs["xdist"], ".worker").values()) == {"gw0", "gw1"}
