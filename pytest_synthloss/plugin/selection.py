"""Which profiles and how many steps a test runs with: parsing, validation and precedence.

Pure functions over strings and the profile registry (no pytest): the plugin feeds them
the marker, the command line and the ini file. Precedence, for the profile and the steps
separately: ``@pytest.mark.synthloss(...)``, then ``--synthloss-*``, then the ini keys
``synthloss_*``, then the defaults (``stable``, 20 steps).

A profile selection is a registered name, a comma list of names (``stable,spiky``) or
``all`` (every registered profile, built-ins first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_synthloss.core import registry
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.recorded_runs import RecordedProfile
from pytest_synthloss.core.steps import DEFAULT_STEPS
from pytest_synthloss.core.validation import check_step, parse_int, show

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_STEPS",
    "MARKER_KEYWORDS",
    "MarkerSettings",
    "Selection",
    "parse_marker",
    "parse_profiles",
    "parse_steps",
    "resolve_selection",
]

DEFAULT_PROFILE = "stable"
MARKER_KEYWORDS = ("profile", "steps")
ALL = "all"


def _registered() -> str:
    try:
        return ", ".join(registry.available_profiles())
    except SynthLossError as exc:  # a broken plugin: the built-ins and others, and why
        return f"{', '.join(registry.registered_now())}; {exc}"


def parse_profiles(value: str, source: str) -> tuple[str, ...]:
    """Parse ``value`` (a name, a comma list or ``all``) into registered profile names.

    ``source`` (e.g. ``"--synthloss-profile"``) starts every error message, which names
    the bad value and lists the registered profiles.
    """
    if not isinstance(value, str):
        raise SynthLossError(
            f"{source}: a profile selection must be a string, got {value!r}; "
            f"registered profiles: {_registered()}"
        )
    names = [part.strip() for part in value.split(",")]
    if value.strip() == ALL:
        try:
            return registry.available_profiles()
        except SynthLossError as exc:  # a broken profile plugin
            raise SynthLossError(f"{source}: {exc}") from None
    if any(not name for name in names):
        raise SynthLossError(
            f"{source}: empty profile name in {value!r}; give a name, a comma list "
            f"or 'all' (registered profiles: {_registered()})"
        )
    if ALL in names:
        raise SynthLossError(f"{source}: 'all' cannot be combined with other names in {value!r}")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SynthLossError(f"{source}: profile {name!r} is listed twice in {value!r}")
        seen.add(name)
        try:
            registry.get_profile(name)
        except SynthLossError as exc:
            raise SynthLossError(f"{source}: {exc}") from None
    return tuple(names)


def parse_steps(value: object, source: str) -> int:
    """Parse a step count: an ``int`` or a string of digits, >= 1."""
    if isinstance(value, str):
        try:
            value = parse_int(value, "steps", 0)  # ASCII digits only: not '٥', '+5' or '1_000'
        except SynthLossError:  # 0 is reported as a number below, as for an int
            raise SynthLossError(
                f"{source}: steps must be an integer >= 1, got {show(value)}"
            ) from None
    try:
        return check_step(value, "steps")
    except SynthLossError as exc:
        raise SynthLossError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class Selection:
    """The choice for a test: profiles (one test run per profile) and the step count.

    A profile is a registered name, or a :class:`~pytest_synthloss.Profile` object given
    to a marker (registered or not).
    """

    profiles: tuple[str | Profile, ...] = (DEFAULT_PROFILE,)
    #: ``None``: each profile's natural length (``Profile.steps``, else 20).
    steps: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The profiles' names (the test ids)."""
        return tuple(p if isinstance(p, str) else p.name for p in self.profiles)

    def profile_objects(self) -> tuple[Profile, ...]:
        """The profiles themselves (names looked up in the registry)."""
        return tuple(registry.resolve_profile(p) for p in self.profiles)

    def steps_text(self) -> str:
        """The steps, or ``20`` / ``natural`` when each profile runs its natural length."""
        if self.steps is not None:
            return str(self.steps)
        objects = self.profile_objects()
        if any(isinstance(p, RecordedProfile) for p in objects):
            return "natural"  # a recorded run's length is its log's
        natural = {p.steps for p in objects}
        return str(DEFAULT_STEPS) if natural == {None} else "natural"

    def header(self) -> str:
        """The report-header line, e.g. ``synthloss: profile=spiky steps=20 (registered: ...)``."""
        return (
            f"synthloss: profile={','.join(self.names)} steps={self.steps_text()} "
            f"(registered: {_registered()})"
        )


def resolve_selection(
    cli_profile: str | None,
    ini_profile: str | None,
    cli_steps: str | None,
    ini_steps: str | None,
) -> Selection:
    """The run-wide selection: command line over ini over the defaults.

    ``None`` means "not given". Bad values raise ``SynthLossError`` naming the option.
    """
    # The ini values are checked even when the command line overrides them: a broken
    # configuration file is reported by the first run, not by the first run without options.
    ini_profiles = (
        None if ini_profile is None else parse_profiles(ini_profile, "ini option synthloss_profile")
    )
    ini_count = None if ini_steps is None else parse_steps(ini_steps, "ini option synthloss_steps")
    if cli_profile is not None:
        profiles = parse_profiles(cli_profile, "--synthloss-profile")
    elif ini_profiles is not None:
        profiles = ini_profiles
    else:
        profiles = parse_profiles(DEFAULT_PROFILE, "default profile")
    if cli_steps is not None:
        steps = parse_steps(cli_steps, "--synthloss-steps")
    elif ini_count is not None:
        steps = ini_count
    else:
        steps = None
    return Selection(profiles, steps)


@dataclass(frozen=True)
class MarkerSettings:
    """What ``@pytest.mark.synthloss(profile=..., steps=...)`` overrides (``None``: nothing)."""

    profiles: tuple[str | Profile, ...] | None = None
    steps: int | None = None

    def apply(self, selection: Selection) -> Selection:
        """``selection`` with this marker's overrides."""
        return Selection(
            selection.profiles if self.profiles is None else self.profiles,
            selection.steps if self.steps is None else self.steps,
        )


def parse_marker(
    args: Sequence[object], kwargs: Mapping[str, object], where: str
) -> MarkerSettings:
    """Validate a synthloss marker's arguments; ``where`` names the test in errors.

    ``profile`` is a selection string (a name, a comma list or ``all``), a
    :class:`~pytest_synthloss.Profile` (registered or not), or a list of names and
    profiles; ``steps`` an integer >= 1.
    """
    source = f"@pytest.mark.synthloss on {where}"
    if args:
        raise SynthLossError(
            f"{source}: takes keywords only (profile=..., steps=...), got positional {args!r}"
        )
    bad = sorted(set(kwargs) - set(MARKER_KEYWORDS))
    if bad:
        hint = _close_keyword(bad[0])
        raise SynthLossError(f"{source}: unknown keyword {bad[0]!r}; allowed: profile, steps{hint}")
    profiles: tuple[str | Profile, ...] | None = None
    if "profile" in kwargs:
        profiles = _marker_profiles(kwargs["profile"], f"{source}: profile")
    steps = None if "steps" not in kwargs else _marker_steps(kwargs["steps"], f"{source}: steps")
    return MarkerSettings(profiles, steps)


def _close_keyword(name: str) -> str:
    from pytest_synthloss.core.text import did_you_mean

    return did_you_mean(name, MARKER_KEYWORDS)


def _marker_profiles(value: object, source: str) -> tuple[str | Profile, ...]:
    if isinstance(value, Profile):
        return (_marker_profile(value, source),)
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, (str, Profile)) for v in value)
    ):
        chosen: list[str | Profile] = []
        for item in value:
            chosen.extend(
                parse_profiles(item, source)
                if isinstance(item, str)
                else [_marker_profile(item, source)]
            )
        names = [p if isinstance(p, str) else p.name for p in chosen]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise SynthLossError(f"{source}: profile {twice!r} is listed twice in {value!r}")
        return tuple(chosen)
    if isinstance(value, str):
        return parse_profiles(value, source)
    raise SynthLossError(
        f"{source} must be a profile name, a comma list, 'all', a Profile or a list of "
        f"names and Profiles, got {value!r}; registered profiles: {_registered()}"
    )


def _marker_profile(profile: Profile, source: str) -> str | Profile:
    """A registered profile by its name, any other ``Profile`` as itself."""
    try:
        registered = registry.get_profile(profile.name)
    except SynthLossError:
        return profile
    if registered == profile:
        return profile.name
    if profile.name in registry.BUILTIN_NAMES:
        raise SynthLossError(
            f"{source.rsplit(': profile', 1)[0]}: {profile!r} differs from the built-in "
            f"profile {profile.name!r}; give it another name"
        )
    return profile


def _marker_steps(value: object, source: str) -> int:
    if isinstance(value, str):  # a string is a mistake in Python code, not an ini value
        raise SynthLossError(f"{source} must be an integer >= 1, got {value!r} (str)")
    try:
        return check_step(value, "steps")
    except SynthLossError as exc:
        raise SynthLossError(f"{source.rsplit(': steps', 1)[0]}: {exc}") from None
