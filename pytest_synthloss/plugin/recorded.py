"""The plugin's recorded runs: the ini key ``synthloss_recorded`` and the
``pytest_synthloss_recorded`` hook (see :mod:`pytest_synthloss.emulation.recorded_registry`).

Registration only checks that the files exist; nothing is read (and numpy is not imported)
until a test selects a run. Bad values are usage errors (exit 4) naming the value.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from pytest_synthloss.core.errors import SynthLossError

if TYPE_CHECKING:
    from pytest_synthloss.plugin.selection import Selection

__all__ = ["INI_KEY", "add_ini", "has_recorded", "load_selected", "register_recorded_from"]

INI_KEY = "synthloss_recorded"


def add_ini(parser: pytest.Parser) -> None:
    """The ini key ``synthloss_recorded``."""
    parser.addini(
        INI_KEY,
        "recorded runs selectable like profiles: log files or globs relative to the rootdir "
        "(one per line, or a TOML list); each run is named after its file's stem",
        type="linelist",
        default=[],
    )


def _patterns(config: pytest.Config) -> list[str]:
    try:
        value = config.getini(INI_KEY)
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"ini option {INI_KEY}: {exc} (write a list of paths)") from None
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise pytest.UsageError(
            f"ini option {INI_KEY}: expected paths or globs, got {value!r} ({type(value).__name__})"
        )
    return [item.strip() for item in value if item.strip()]


def has_recorded(config: pytest.Config) -> bool:
    """Whether the ini key or a hook adds recorded runs."""
    hook = config.pluginmanager.hook.pytest_synthloss_recorded
    return bool(_patterns(config)) or bool(hook.get_hookimpls())


def register_recorded_from(config: pytest.Config) -> None:
    """Register the runs of the ini key, then those of every hook (usage errors, exit 4)."""
    from pytest_synthloss.emulation.recorded_registry import (
        expand_recorded,
        register_recorded,
        register_recorded_runs,
    )

    rootdir = str(config.rootpath)
    patterns = _patterns(config)
    try:
        for path in expand_recorded(patterns, rootdir, f"ini option {INI_KEY}"):
            try:
                register_recorded(path)
            except SynthLossError as exc:
                raise SynthLossError(f"ini option {INI_KEY}: {exc}") from None
        hook = config.pluginmanager.hook.pytest_synthloss_recorded
        for impl in reversed(hook.get_hookimpls()):
            where = getattr(impl.plugin, "__file__", None) or impl.plugin_name
            base = os.path.dirname(where) if os.path.isfile(where) else rootdir
            try:
                sources = impl.function()
            except Exception as exc:
                raise pytest.UsageError(
                    f"pytest_synthloss_recorded() in {where} raised {type(exc).__name__}: {exc}"
                ) from None
            register_recorded_runs(sources, base, where)
    except SynthLossError as exc:
        raise pytest.UsageError(str(exc)) from None


def load_selected(selection: Selection) -> None:
    """Read the recorded runs the options select (cached for the tests), so that a bad log
    or labels file, or more steps than a log holds, stops pytest before any test runs.
    A run only a marker selects is read when its first test runs."""
    from pytest_synthloss.core.recorded_runs import RecordedProfile

    for profile in selection.profile_objects():
        if isinstance(profile, RecordedProfile):
            try:
                profile.recording()
            except SynthLossError as exc:
                raise SynthLossError(f"recorded run {profile.name!r}: {exc}") from None
            profile.recorded_make(selection.steps, None)  # its errors name the run
