"""The examples/ directory, run as a user runs it: ``pytest examples --synthloss-profile all``.

Each example's tests must pass under every profile. The run is a real subprocess against
the real directory (with this repository's ini), so what the README promises is what is
checked. Expected counts come from the number of registered profiles.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_synthloss import available_profiles, get_profile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Module:
    """An example test module and how many tests it holds."""

    path: str
    #: Tests using the synthloss fixtures without a pinned profile: run once per profile.
    per_profile: int
    #: Tests pinned to a profile by the marker, or using no synthloss fixture: run once.
    once: int
    #: Whether what the module needs is installed, and how many skips it reports if not.
    available: bool = True
    skipped_without: int = 0
    skip_reason: str = ""
    #: Strict xfails run once per profile (a recorded upstream bug).
    xfail_per_profile: int = 0
    #: Per-profile tests written for the spec's line: skipped on each shaped profile.
    skipped_per_shaped: int = 0


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in modules)


def _needs(*modules: str) -> str:
    """The skip reason the module prints: the first of ``modules`` that is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    return f"needs {missing[0]}" if missing else ""


MODULES = (
    Module("test_loss_spike_monitor.py", per_profile=5, once=0),
    Module("test_spike_alert.py", per_profile=8, once=3, skipped_per_shaped=6),
    Module("test_early_stopping_guard.py", per_profile=6, once=3, skipped_per_shaped=6),
    Module("test_best_checkpoint.py", per_profile=4, once=2),
    Module("test_multi_rank_guard.py", per_profile=0, once=2),
    Module(
        "test_lr_plateau.py",
        per_profile=5,
        once=2,
        skipped_per_shaped=2,
        available=importlib.util.find_spec("torch") is not None,
        skipped_without=1,  # module-level importorskip
        skip_reason="the ReduceLROnPlateau example needs torch",
    ),
    Module(
        "test_property_spike_detector.py",
        per_profile=0,
        once=2,
        available=importlib.util.find_spec("hypothesis") is not None,
        skipped_without=1,
        skip_reason="needs the hypothesis extra",
    ),
    Module(
        "prometheus/test_live_alert_rules.py",
        per_profile=0,
        once=3,  # the marker pins three profiles
        available=shutil.which("prometheus") is not None,
        skipped_without=3,
        skip_reason="prometheus not found",
    ),
    Module(
        "test_real_lightning.py",
        per_profile=3,
        once=0,
        available=_has("torch", "lightning"),
        skipped_without=1,
        skip_reason=_needs("torch", "lightning"),
        xfail_per_profile=1,
    ),
    Module(
        "test_real_keras.py",
        per_profile=3,
        once=0,
        available=_has("keras", "torch"),
        skipped_without=1,
        skip_reason="needs keras",
    ),
    Module(
        "test_real_hf.py",
        per_profile=2,
        once=0,
        available=_has("transformers", "torch"),
        skipped_without=1,
        skip_reason="needs transformers",
    ),
    Module(
        "test_real_torch_plateau.py",
        per_profile=3,
        once=0,
        available=_has("torch"),
        skipped_without=1,
        skip_reason="needs torch",
    ),
    Module(
        "prometheus/test_prometheus_alert_rules.py",
        per_profile=0,
        once=3,
        available=shutil.which("promtool") is not None,
        skipped_without=3,  # a skipif mark on each test
        skip_reason="promtool not found",
    ),
    Module(
        "recipes/test_forward_mlflow.py",
        per_profile=0,
        once=2,
        available=_has("mlflow"),
        skipped_without=1,  # importorskip: the whole module
        skip_reason="mlflow not installed",
    ),
    Module(
        "recipes/test_forward_wandb.py",
        per_profile=0,
        once=3,
        available=_has("wandb"),
        skipped_without=1,
        skip_reason="wandb not installed",
    ),
)


def run_examples(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest examples -rA ARGS`` from the repository root, in a clean env."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"))
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "examples", "-p", "no:cacheprovider", "-rA", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_table_lists_every_example_test_module() -> None:
    found = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("test_*.py"))
    assert found == sorted(module.path for module in MODULES)


@pytest.mark.parametrize("selection", ["all", "stable"])
def test_every_example_passes_under_the_selected_profiles(selection: str) -> None:
    profiles = available_profiles() if selection == "all" else (selection,)
    done = run_examples("--synthloss-profile", selection)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = "natural" if selection == "all" else "20"  # the realistic profiles run theirs
    assert f"synthloss: profile={','.join(profiles)} steps={steps}" in done.stdout
    shaped = sum(get_profile(name).shape is not None for name in profiles)
    passed = Counter(
        line.split()[1].split("::")[0].removeprefix("examples/")
        for line in done.stdout.splitlines()
        if line.startswith("PASSED ")
    )
    expected = {
        module.path: module.per_profile * len(profiles)
        + module.once
        - module.skipped_per_shaped * shaped
        for module in MODULES
        if module.available
    }
    assert dict(passed) == expected
    skipped = sum(module.skipped_without for module in MODULES if not module.available)
    skipped += sum(m.skipped_per_shaped * shaped for m in MODULES if m.available)
    xfailed = sum(m.xfail_per_profile * len(profiles) for m in MODULES if m.available)
    summary = f"{sum(expected.values())} passed" + (f", {skipped} skipped" if skipped else "")
    summary += f", {xfailed} xfailed" if xfailed else ""
    assert re.search(rf"=+ {summary} in [\d.]+s", done.stdout), done.stdout[-2000:]
    for module in MODULES:
        if not module.available:
            assert module.skip_reason in done.stdout
