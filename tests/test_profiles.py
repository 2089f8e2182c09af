"""Profiles as data, derived ground truth, the registry and its plugin hook."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_synthloss import (
    Profile,
    SynthLossError,
    available_profiles,
    get_profile,
    make_curve,
    register_profile,
    synthetic_loss,
)
from pytest_synthloss.core.builtins import SPIKY, STABLE
from pytest_synthloss.core.model import final_loss
from pytest_synthloss.core.registry import unregister_profile

pytestmark = pytest.mark.usefixtures("clean_registry")

#: The built-in profiles, as error messages list them.
KNOWN = ", ".join(available_profiles())


def test_builtins_are_the_spec() -> None:
    assert Profile("stable", 2.25, 0.07, 1.05, {}, STABLE.description) == STABLE
    assert dict(SPIKY.spikes) == {4: 9.7, 5: 9.5}
    assert (SPIKY.start, SPIKY.decay, SPIKY.floor) == (2.25, 0.07, 1.05)
    assert available_profiles()[:2] == ("stable", "spiky")
    assert get_profile("spiky") is SPIKY


def test_derived_ground_truth() -> None:
    assert STABLE.floor_step == 18
    assert SPIKY.floor_step == 18
    assert STABLE.spike_steps == ()
    assert SPIKY.spike_steps == (4, 5)
    assert final_loss(STABLE, 5) == 1.9
    assert final_loss(SPIKY, 4) == 9.7
    assert final_loss(SPIKY, 20) == 1.05
    assert final_loss(SPIKY, 2, start_step=4) == 9.5


@pytest.mark.parametrize(
    ("profile", "floor_step"),
    [
        (Profile("a", start=1.0, decay=0.0, floor=1.0), 1),
        (Profile("b", start=2.0, decay=0.0, floor=1.0), None),
        (Profile("c", start=2.0, decay=1.0, floor=0.0), 2),
        (Profile("d", start=1.0, decay=0.1, floor=0.3), 7),
        (Profile("e", start=1.0, decay=1e-300, floor=0.0), None),
    ],
)
def test_floor_step_is_the_first_step_at_the_floor(
    profile: Profile, floor_step: int | None
) -> None:
    assert profile.floor_step == floor_step
    if floor_step is not None:
        assert synthetic_loss(floor_step, profile) == profile.floor
        if floor_step > 1:
            assert synthetic_loss(floor_step - 1, profile) > profile.floor


def test_profile_is_frozen_hashable_and_spikes_read_only() -> None:
    profile = Profile("x", spikes={3: 5.0, 1: 4})
    assert list(profile.spikes.items()) == [(1, 4.0), (3, 5.0)]
    with pytest.raises(TypeError):
        profile.spikes[2] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        profile.start = 3.0  # type: ignore[misc]
    assert hash(profile) == hash(Profile("x", spikes={1: 4.0, 3: 5.0}))
    assert repr(profile) == (
        "Profile(name='x', start=2.25, decay=0.07, floor=1.05, spikes={1: 4.0, 3: 5.0})"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": -1.0}, "profile 'p': start must be a finite number >= 0, got -1.0"),
        ({"decay": math.nan}, "profile 'p': decay must be a finite number >= 0, got nan"),
        ({"floor": math.inf}, "profile 'p': floor must be a finite number >= 0, got inf"),
        ({"decay": "0.1"}, "profile 'p': decay must be a finite number >= 0, got '0.1' (str)"),
        ({"start": True}, "profile 'p': start must be a finite number >= 0, got True (bool)"),
        (
            {"start": 1.0, "floor": 2.0},
            "profile 'p': floor 2.0 is above start 1.0; the floor must be <= start",
        ),
        ({"spikes": {0: 5.0}}, "profile 'p': spike step must be an integer >= 1, got 0"),
        ({"spikes": {-2: 5.0}}, "profile 'p': spike step must be an integer >= 1, got -2"),
        (
            {"spikes": {2.5: 5.0}},
            "profile 'p': spike step must be an integer >= 1, got 2.5 (float)",
        ),
        (
            {"spikes": {3: -1.0}},
            "profile 'p': spike loss at step 3 must be a finite number >= 0, got -1.0",
        ),
        (
            {"spikes": {3: math.nan}},
            "profile 'p': spike loss at step 3 must be a finite number >= 0, got nan",
        ),
        ({"spikes": [4]}, "profile 'p': spikes must be a mapping {step: loss}, got [4]"),
        ({"description": 3}, "profile 'p': description must be a string, got 3"),
    ],
)
def test_bad_profile_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Profile("p", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "",
            "profile name must be a non-empty string of at most 200 printable characters "
            "without surrounding whitespace, got ''",
        ),
        (
            "a,b",
            "profile name must not contain commas (they separate the names of a selection), "
            "got 'a,b'",
        ),
        ("all", "profile name 'all' is reserved (it selects every profile)"),
    ],
)
def test_bad_profile_names(name: str, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Profile(name)
    assert str(info.value) == message


def test_register_and_use_a_custom_profile() -> None:
    late = register_profile(Profile("late", spikes={30: 8.0}))
    assert get_profile("late") is late
    assert available_profiles() == (*KNOWN.split(", "), "late")
    assert synthetic_loss(30, "late") == 8.0
    assert make_curve(40, "late").spike_steps == (30,)
    assert register_profile(Profile("late", spikes={30: 8.0})) == late  # same again: no-op
    unregister_profile("late")
    assert "late" not in available_profiles()


def test_duplicate_names_need_explicit_replace() -> None:
    register_profile(Profile("late", spikes={30: 8.0}))
    with pytest.raises(SynthLossError) as info:
        register_profile(Profile("late", spikes={31: 8.0}))
    assert str(info.value) == (
        "profile 'late' is already registered as Profile(name='late', start=2.25, decay=0.07, "
        "floor=1.05, spikes={30: 8.0}); pass replace=True to replace it"
    )
    register_profile(Profile("late", spikes={31: 8.0}), replace=True)
    assert get_profile("late").spike_steps == (31,)


def test_builtins_cannot_be_replaced_or_removed() -> None:
    with pytest.raises(SynthLossError) as info:
        register_profile(Profile("stable", start=3.0), replace=True)
    assert str(info.value) == (
        "profile 'stable' is built in and cannot be replaced; register yours under another name"
    )
    with pytest.raises(SynthLossError) as info:
        unregister_profile("spiky")
    assert str(info.value) == "profile 'spiky' is built in and cannot be unregistered"


def test_registry_bad_inputs() -> None:
    with pytest.raises(SynthLossError) as info:
        register_profile("late")  # type: ignore[arg-type]
    assert str(info.value) == "register_profile() takes a Profile, got 'late' (str)"
    with pytest.raises(SynthLossError) as info:
        get_profile(3)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"a profile name must be a string, got 3 (int); known profiles: {KNOWN}"
    )
    with pytest.raises(SynthLossError) as info:
        unregister_profile("nope")
    assert str(info.value) == f"unknown profile 'nope'; known profiles: {KNOWN}"


def test_installed_entry_point_plugin_adds_profiles(tmp_path: Path) -> None:
    """A package listing a module under the ``synthloss`` entry-point group, without pytest."""
    site = tmp_path / "site"
    (site / "thirdparty").mkdir(parents=True)
    (site / "thirdparty" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from pytest_synthloss import Profile

            def pytest_synthloss_profiles():
                return [Profile("third-party", spikes={7: 6.5}, description="from a plugin")]
            """
        )
    )
    dist = site / "thirdparty-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[synthloss]\nthirdparty = thirdparty\n")
    code = (
        "import sys; sys.modules['pytest'] = None\n"  # prove the core never needs pytest
        "from pytest_synthloss import available_profiles, synthetic_loss\n"
        "print(available_profiles(), synthetic_loss(7, 'third-party'))\n"
    )
    env_path = f"{site}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.stderr == ""
    assert result.stdout == f"{(*KNOWN.split(', '), 'third-party')} 6.5\n"


def test_hook_returning_a_non_list_is_a_clear_error(tmp_path: Path) -> None:
    from pytest_synthloss.core.registry import register_profiles

    with pytest.raises(SynthLossError) as info:
        register_profiles(Profile("one"), source="conftest.py")  # type: ignore[arg-type]
    assert str(info.value) == (
        "pytest_synthloss_profiles() in conftest.py must return a list of Profile objects, "
        "got Profile(name='one', start=2.25, decay=0.07, floor=1.05, spikes={})"
    )
