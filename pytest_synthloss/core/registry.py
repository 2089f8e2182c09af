"""The profile registry: built-ins, profiles registered in code, and plugin profiles.

Installed packages add profiles through the ``synthloss`` entry-point group (see
:mod:`pytest_synthloss.core.hookspecs`); they are loaded once, on first use of the registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_synthloss.core import hookspecs
from pytest_synthloss.core.builtins import BUILTINS
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.text import did_you_mean

__all__ = [
    "available_profiles",
    "get_profile",
    "register_profile",
    "register_profiles",
    "registered_now",
    "resolve_profile",
    "unregister_profile",
]

BUILTIN_NAMES = frozenset(profile.name for profile in BUILTINS)
_registry: dict[str, Profile] = {profile.name: profile for profile in BUILTINS}
_entry_points_loaded = False
_entry_point_error: str | None = None


def _load_entry_points() -> None:
    """Register the profiles of every installed ``synthloss`` entry point, once.

    A plugin that fails (its module does not import, its hook raises or returns garbage)
    is a ``SynthLossError`` naming the entry point. Nothing of that scan stays registered,
    and every later call raises the same error: a broken plugin is never half-loaded or
    silently dropped.
    """
    global _entry_points_loaded, _entry_point_error
    if _entry_point_error is not None:
        raise SynthLossError(_entry_point_error)
    if _entry_points_loaded:
        return
    from importlib.metadata import entry_points

    before = dict(_registry)
    for entry_point in entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        source = f"the {entry_point.name!r} entry point ({entry_point.value})"
        try:
            plugin = entry_point.load()
            hook = getattr(plugin, "pytest_synthloss_profiles", None)
            if not callable(hook):
                raise SynthLossError(f"{source} has no pytest_synthloss_profiles() function")
            register_profiles(hook(), source=source)
        except Exception as exc:
            message = (
                str(exc)
                if isinstance(exc, SynthLossError)
                else (f"{source} failed to load its profiles: {type(exc).__name__}: {exc}")
            )
            if source not in message:
                message = f"{source}: {message}"
            _entry_point_error = message
            _registry.clear()
            _registry.update(before)
            raise SynthLossError(message) from None
    _entry_points_loaded = True


def register_profile(profile: Profile, *, replace: bool = False) -> Profile:
    """Register ``profile`` under its name and return it.

    Registering an equal profile again is a no-op. A different profile under a taken
    name raises ``SynthLossError`` unless ``replace=True``; built-ins cannot be replaced.
    """
    if not isinstance(profile, Profile):
        raise SynthLossError(
            f"register_profile() takes a Profile, got {profile!r} ({type(profile).__name__})"
        )
    existing = _registry.get(profile.name)
    if existing is not None and existing != profile:
        if profile.name in BUILTIN_NAMES:
            raise SynthLossError(
                f"profile {profile.name!r} is built in and cannot be replaced; "
                "register yours under another name"
            )
        if not replace:
            raise SynthLossError(
                f"profile {profile.name!r} is already registered as {existing!r}; "
                "pass replace=True to replace it"
            )
    _registry[profile.name] = profile
    return profile


def register_profiles(profiles: Iterable[Profile], *, source: str = "a plugin") -> None:
    """Register every profile returned by a ``pytest_synthloss_profiles`` hook."""
    if isinstance(profiles, Profile) or not isinstance(profiles, Iterable):
        raise SynthLossError(
            f"pytest_synthloss_profiles() in {source} must return a list of Profile objects, "
            f"got {profiles!r}"
        )
    for index, profile in enumerate(profiles):
        if not isinstance(profile, Profile):
            raise SynthLossError(
                f"pytest_synthloss_profiles() in {source} must return a list of Profile "
                f"objects, got {profile!r} ({type(profile).__name__}) at index {index}"
            )
        try:
            register_profile(profile)
        except SynthLossError as exc:
            raise SynthLossError(f"pytest_synthloss_profiles() in {source}: {exc}") from None


def unregister_profile(name: str) -> None:
    """Remove a profile registered in code (built-ins stay). Unknown names are an error."""
    if name in BUILTIN_NAMES:
        raise SynthLossError(f"profile {name!r} is built in and cannot be unregistered")
    if name not in _registry:
        raise _unknown(name)
    del _registry[name]


def registered_now() -> tuple[str, ...]:
    """The names registered so far, without scanning installed entry-point plugins."""
    return tuple(_registry)


def available_profiles() -> tuple[str, ...]:
    """The names of all registered profiles: built-ins first, then in registration order."""
    _load_entry_points()
    return tuple(_registry)


def get_profile(name: str) -> Profile:
    """Return the registered profile called ``name``.

    An unknown name raises ``SynthLossError`` listing the known ones and the closest match.
    Installed entry-point plugins are scanned only for a name not registered yet, so
    looking up a built-in costs nothing at pytest start-up.
    """
    if isinstance(name, str) and name in _registry:
        return _registry[name]
    _load_entry_points()
    if not isinstance(name, str):
        raise SynthLossError(
            f"a profile name must be a string, got {name!r} ({type(name).__name__}); "
            f"known profiles: {', '.join(_registry)}"
        )
    try:
        return _registry[name]
    except KeyError:
        raise _unknown(name) from None


def resolve_profile(profile: Profile | str) -> Profile:
    """Accept a ``Profile`` or the name of a registered one."""
    if isinstance(profile, Profile):
        return profile
    return get_profile(profile)


def _unknown(name: str) -> SynthLossError:
    known = list(_registry)
    message = f"unknown profile {name!r}; known profiles: {', '.join(known)}"
    return SynthLossError(message + did_you_mean(name, known))
