"""Issue 12, profile plugins and the pytest options: one line naming the culprit, exit 4/2.

A broken ``pytest_synthloss_profiles`` hook or ``synthloss`` entry point is a usage error
(pytest exit 4, CLI exit 2) naming it, the same on every call.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_synthloss import available_profiles

KNOWN = ", ".join(available_profiles())


def test_a_hook_that_raises_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    conftest = pytester.makeconftest("def pytest_synthloss_profiles():\n    return 1 / 0\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        f"ERROR: pytest_synthloss_profiles() in {conftest} raised ZeroDivisionError: "
        "division by zero",
        "",
    ]


def test_garbage_from_a_hook_names_it_and_the_index(pytester: pytest.Pytester) -> None:
    conftest = pytester.makeconftest(
        "from pytest_synthloss import Profile\n"
        "def pytest_synthloss_profiles():\n    return [Profile('mine'), 'spiky']\n"
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        f"ERROR: pytest_synthloss_profiles() in {conftest} must return a list of Profile "
        "objects, got 'spiky' (str) at index 1",
        "",
    ]


def test_a_conftest_profile_with_surrounding_spaces_is_refused(pytester: pytest.Pytester) -> None:
    conftest = pytester.makeconftest(
        "from pytest_synthloss import Profile\n"
        "def pytest_synthloss_profiles():\n    return [Profile(' spiky ')]\n"
    )
    result = pytester.runpytest("--synthloss-profile", "spiky")  # never the built-in silently
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        f"ERROR: pytest_synthloss_profiles() in {conftest} raised SynthLossError: profile name "
        "must be a non-empty string of at most 200 printable characters without surrounding "
        "whitespace, got ' spiky '",
        "",
    ]


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ("--synthloss-steps", "\u0665"),
            "",
            "--synthloss-steps: steps must be an integer >= 1, got '\u0665'",
        ),
        (
            ("--synthloss-steps", "1" * 5000),
            "",
            "--synthloss-steps: steps must be an integer >= 1, got '" + "1" * 199 + "... "
            "(5002 characters)",
        ),
        (
            ("--synthloss-steps", "5"),
            "synthloss_steps = 5x",
            "ini option synthloss_steps: steps must be an integer >= 1, got '5x'",
        ),
    ],
)
def test_steps_options_are_ascii_integers(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str, message: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [f"ERROR: {message}", ""]


def test_an_empty_name_in_a_toml_list_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nsynthloss_profile = ["stable", ""]\n')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        "ERROR: ini option synthloss_profile: empty profile name in 'stable,'; give a name, "
        f"a comma list or 'all' (registered profiles: {KNOWN})",
        "",
    ]


def _broken_site(tmp_path: Path) -> Path:
    """A site directory whose ``synthloss`` entry point fails to import."""
    site = tmp_path / "site"
    (site / "brokenplugin").mkdir(parents=True)
    (site / "brokenplugin" / "__init__.py").write_text(
        "raise ImportError('no module named torchx')\n"
    )
    dist = site / "brokenplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[synthloss]\nbroken = brokenplugin\n")
    return site


BROKEN = (
    "the 'broken' entry point (brokenplugin) failed to load its profiles: "
    "ImportError: no module named torchx"
)


def test_a_broken_entry_point_is_one_line_exit_2_every_time(tmp_path: Path) -> None:
    site = _broken_site(tmp_path)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_synthloss", "profiles"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"synthloss profiles: error: {BROKEN}\n"
    code = textwrap.dedent(
        """
        from pytest_synthloss import SynthLossError, available_profiles, make_curve
        for _ in range(2):
            try:
                available_profiles()
            except SynthLossError as exc:
                print(exc)
        print(make_curve(3, "spiky").spike_steps)  # built-ins still work
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.stdout == f"{BROKEN}\n{BROKEN}\n()\n"


def test_a_broken_entry_point_under_pytest_is_exit_4(tmp_path: Path) -> None:
    site = _broken_site(tmp_path)
    (tmp_path / "test_x.py").write_text("def test_x(synthloss_curve):\n    pass\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--synthloss-profile",
            "all",
            "test_x.py",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert done.stderr == f"ERROR: --synthloss-profile: {BROKEN}\n\n"
