"""Profile selection, steps and marker parsing: pure functions, exact messages."""

# Exact failure messages are long lines by nature.
# ruff: noqa: E501

from __future__ import annotations

import pytest

from pytest_synthloss import Profile, SynthLossError, available_profiles, register_profile
from pytest_synthloss.core.builtins import SPIKY
from pytest_synthloss.plugin.selection import (
    MarkerSettings,
    Selection,
    parse_marker,
    parse_profiles,
    parse_steps,
    resolve_selection,
)

KNOWN = ", ".join(available_profiles())  # the registered built-ins, as error messages list them

pytestmark = pytest.mark.usefixtures("clean_registry")


def test_parse_profiles() -> None:
    assert parse_profiles("spiky", "src") == ("spiky",)
    assert parse_profiles(" stable , spiky ", "src") == ("stable", "spiky")
    assert parse_profiles("all", "src") == available_profiles()
    register_profile(Profile("late", spikes={30: 8.0}))
    assert parse_profiles("all", "src") == (*available_profiles()[:-1], "late")
    assert parse_profiles("late,stable", "src") == ("late", "stable")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (
            "spikey",
            f"src: unknown profile 'spikey'; known profiles: {KNOWN} (did you mean 'spiky'?)",
        ),
        ("stable,nope", f"src: unknown profile 'nope'; known profiles: {KNOWN}"),
        (
            "",
            f"src: empty profile name in ''; give a name, a comma list or 'all' (registered profiles: {KNOWN})",
        ),
        (
            "stable,,spiky",
            f"src: empty profile name in 'stable,,spiky'; give a name, a comma list or 'all' (registered profiles: {KNOWN})",
        ),
        ("all,stable", "src: 'all' cannot be combined with other names in 'all,stable'"),
        ("spiky,spiky", "src: profile 'spiky' is listed twice in 'spiky,spiky'"),
    ],
)
def test_bad_profiles(value: str, text: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        parse_profiles(value, "src")
    assert str(excinfo.value) == text


def test_parse_steps() -> None:
    assert parse_steps("20", "src") == 20
    assert parse_steps(" 7 ", "src") == 7
    assert parse_steps(3, "src") == 3
    for bad, shown in [("0", "0"), ("-1", "'-1'"), ("2.5", "'2.5'"), ("abc", "'abc'"), ("", "''")]:
        with pytest.raises(SynthLossError) as excinfo:
            parse_steps(bad, "src")
        assert str(excinfo.value) == f"src: steps must be an integer >= 1, got {shown}"


def test_precedence_cli_over_ini_over_default() -> None:
    assert resolve_selection(None, None, None, None) == Selection(("stable",), 20)
    assert resolve_selection(None, "spiky", None, "5") == Selection(("spiky",), 5)
    assert resolve_selection("stable", "spiky", "7", "5") == Selection(("stable",), 7)
    assert resolve_selection("all", None, None, "5") == Selection(available_profiles(), 5)
    with pytest.raises(SynthLossError, match=r"^ini option synthloss_profile: unknown profile 'x'"):
        resolve_selection(None, "x", None, None)
    with pytest.raises(SynthLossError, match=r"^--synthloss-steps: steps must be"):
        resolve_selection(None, None, "x", "5")


def test_marker_overrides() -> None:
    base = Selection(("stable", "spiky"), 20)
    assert parse_marker((), {}, "t").apply(base) == base
    assert parse_marker((), {"steps": 7}, "t").apply(base) == Selection(("stable", "spiky"), 7)
    assert parse_marker((), {"profile": "spiky"}, "t") == MarkerSettings(("spiky",), None)
    assert parse_marker((), {"profile": ["spiky", "stable"]}, "t").profiles == ("spiky", "stable")
    assert parse_marker((), {"profile": SPIKY}, "t").profiles == ("spiky",)
    assert parse_marker((), {"profile": "all"}, "t").profiles == available_profiles()


@pytest.mark.parametrize(
    ("args", "kwargs", "text"),
    [
        (
            ("spiky",),
            {},
            "@pytest.mark.synthloss on t: takes keywords only (profile=..., steps=...), got positional ('spiky',)",
        ),
        (
            (),
            {"step": 5},
            "@pytest.mark.synthloss on t: unknown keyword 'step'; allowed: profile, steps (did you mean 'steps'?)",
        ),
        (
            (),
            {"xyz": 5},
            "@pytest.mark.synthloss on t: unknown keyword 'xyz'; allowed: profile, steps",
        ),
        ((), {"steps": 0}, "@pytest.mark.synthloss on t: steps must be an integer >= 1, got 0"),
        (
            (),
            {"steps": "5"},
            "@pytest.mark.synthloss on t: steps must be an integer >= 1, got '5' (str)",
        ),
        (
            (),
            {"profile": "spikey"},
            f"@pytest.mark.synthloss on t: profile: unknown profile 'spikey'; known profiles: {KNOWN} (did you mean 'spiky'?)",
        ),
        (
            (),
            {"profile": 3},
            f"@pytest.mark.synthloss on t: profile must be a profile name, a comma list, 'all', a Profile or a list of names and Profiles, got 3; registered profiles: {KNOWN}",
        ),
        (
            (),
            {"profile": Profile("stable", floor=1.0)},
            "@pytest.mark.synthloss on t: Profile(name='stable', start=2.25, decay=0.07, floor=1.0, spikes={}) differs from the built-in profile 'stable'; give it another name",
        ),
        (
            (),
            {"profile": [Profile("adhoc"), "spiky", Profile("adhoc", floor=1.0)]},
            "@pytest.mark.synthloss on t: profile: profile 'adhoc' is listed twice in [Profile(name='adhoc', start=2.25, decay=0.07, floor=1.05, spikes={}), 'spiky', Profile(name='adhoc', start=2.25, decay=0.07, floor=1.0, spikes={})]",
        ),
    ],
)
def test_bad_markers(args: tuple[object, ...], kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        parse_marker(args, kwargs, "t")
    assert str(excinfo.value) == text


def test_a_marker_takes_profile_objects_registered_or_not() -> None:
    adhoc = Profile("adhoc", spikes={3: 8.0})
    assert parse_marker((), {"profile": adhoc}, "t").profiles == (adhoc,)
    assert parse_marker((), {"profile": SPIKY}, "t").profiles == ("spiky",)
    mixed = parse_marker((), {"profile": [adhoc, "stable,spiky"]}, "t")
    assert mixed.profiles == (adhoc, "stable", "spiky")
    assert mixed.apply(resolve_selection(None, None, None, None)).names == (
        "adhoc",
        "stable",
        "spiky",
    )
