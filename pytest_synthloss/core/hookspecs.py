"""Hook specifications: how plugins and ``conftest.py`` files add loss profiles.

The same hook is honoured in two places:

* inside pytest, by any ``conftest.py`` or pytest plugin (pytest's plugin manager);
* outside pytest (library API, ``synthloss`` CLI, notebooks), by modules that an
  installed package lists under the ``synthloss`` entry-point group.

Paste this into ``conftest.py`` (or a module named in your package's entry points)::

    from pytest_synthloss import Profile

    def pytest_synthloss_profiles():
        return [
            Profile("late-spike", spikes={30: 8.0}, description="One spike at step 30."),
        ]

and, for the library API and the CLI, in your package's ``pyproject.toml``::

    [project.entry-points.synthloss]
    myprofiles = "mypackage.synthloss_profiles"

Recorded runs (real training logs with labelled incidents) come from a second hook,
honoured inside pytest only: :func:`pytest_synthloss_recorded`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import os

    from pytest_synthloss.core.curve import LossCurve
    from pytest_synthloss.core.profiles import Profile

__all__ = [
    "ENTRY_POINT_GROUP",
    "hookimpl",
    "hookspec",
    "pytest_synthloss_profiles",
    "pytest_synthloss_recorded",
]

#: The entry-point group scanned by the library API and the CLI.
ENTRY_POINT_GROUP = "synthloss"

hookspec = pluggy.HookspecMarker("synthloss")
hookimpl = pluggy.HookimplMarker("synthloss")


@hookspec
def pytest_synthloss_profiles() -> Sequence[Profile]:  # type: ignore[empty-body]
    """Return the loss profiles this plugin or ``conftest.py`` adds.

    Each returned :class:`~pytest_synthloss.Profile` becomes selectable by name
    (``--synthloss-profile NAME``, ``make_curve(..., profile=NAME)``). A name that is
    already registered with a different definition is an error.
    """


@hookspec
def pytest_synthloss_recorded() -> Sequence[str | os.PathLike[str] | LossCurve]:  # type: ignore[empty-body]
    """Return the recorded runs this ``conftest.py`` or plugin adds.

    Each item is a log file (any format ``load_log`` reads; a path relative to the
    directory of the ``conftest.py`` or plugin module, its labels in the sidecar
    ``<log>.labels.json``), a recorded curve (``recorded_curve``, ``load_log``) or a
    ``RecordedProfile``. Each becomes a profile named after the file's stem (the curve's
    name): selectable with ``--synthloss-profile NAME``, included in ``all``, usable in
    every fixture, with the log's length as its natural length. Files are read on first
    use only. Paste this into ``conftest.py``::

        def pytest_synthloss_recorded():
            return ["runs/incident-0412.jsonl"]

    The ini key ``synthloss_recorded`` does the same from the configuration file (files
    or globs relative to the rootdir).
    """
