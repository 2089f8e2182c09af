"""Which fixture a test using the synthloss fixtures is parametrized on, and whether the
test chose its profiles itself: helpers of
:func:`pytest_synthloss.plugin.hooks.pytest_generate_tests`.

A test whose closure holds ``synthloss_profile_name`` is parametrized on it; one whose only
synthloss fixture is ``synthloss_curve`` (or ``synthloss_stream``) on ``synthloss_curve``
itself, one fixture set up per test instead of two.
"""

from __future__ import annotations

import pytest

__all__ = ["CURVE", "PROFILE_NAME", "SHARED", "chosen_by_test", "ours"]

#: The fixtures whose parameter carries a test's profile.
PROFILE_NAME = "synthloss_profile_name"
CURVE = "synthloss_curve"
SHARED = "synthloss_shared_profile"


def ours(metafunc: pytest.Metafunc, module: str) -> bool:
    """Whether the test gets ``synthloss_curve`` from the plugin (defined in ``module``): directly,
    or through overrides that each request the one they override. A conftest fixture of
    that name that does not is the user's own curve: the test is not parametrized for it."""
    if CURVE not in metafunc.fixturenames:
        return False
    chain = getattr(metafunc, "_arg2fixturedefs", {}).get(CURVE)
    if not chain:  # pytest keeps this mapping private: without it, assume ours
        return True
    for fixturedef in reversed(chain):  # closest first
        func = fixturedef.func
        if getattr(func, "__module__", None) == module and getattr(func, "__name__", "") == CURVE:
            return True
        if CURVE not in fixturedef.argnames:
            return False
    return False


def chosen_by_test(metafunc: pytest.Metafunc) -> bool:
    """Whether the test parametrizes ``synthloss_profile_name`` or ``synthloss_curve`` itself
    (then the options leave it alone): with the marker, or in a ``pytest_generate_tests``
    of its module, class or a conftest (those run before the plugin's). A test parametrizing
    the name with the marker without it in its closure gets it there: ``synthloss_curve``
    reads the parameter."""
    for callspec in getattr(metafunc, "_calls", ()):  # pytest keeps them private
        if PROFILE_NAME in callspec.params or CURVE in callspec.params:
            return True
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        given = argnames.split(",") if isinstance(argnames, str) else list(argnames)
        chosen = {name.strip() for name in given} & {PROFILE_NAME, CURVE}
        if chosen:
            if PROFILE_NAME in chosen and PROFILE_NAME not in metafunc.fixturenames:
                metafunc.fixturenames.append(PROFILE_NAME)  # so that pytest accepts the parameter
            return True
    return False
