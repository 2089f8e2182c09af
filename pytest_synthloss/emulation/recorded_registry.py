"""Register recorded runs from log files, so they are selectable like profiles.

:func:`register_recorded` registers a log file (any format :func:`load_log` reads, with
its sidecar labels), a recorded curve made in code, or a :class:`RecordedProfile`, under a
name (by default the file's stem: ``incident-0412`` for ``runs/incident-0412.jsonl``).
Registration only checks that the file exists: the log is read on first use and cached
for the process (see :mod:`pytest_synthloss.core.recorded_runs`), so a suite that never
selects the run pays nothing. The pytest plugin registers the files of the ini key
``synthloss_recorded`` (files or globs relative to the rootdir, expanded by
:func:`expand_recorded`) and those the ``pytest_synthloss_recorded`` hook returns.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core import registry
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.recorded_runs import RecordedProfile
from pytest_synthloss.core.validation import check_path, show

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = [
    "LOAD_OPTIONS",
    "expand_recorded",
    "recorded_run",
    "register_recorded",
    "register_recorded_runs",
]

#: The keyword arguments of :func:`load_log` a file-based run may set.
LOAD_OPTIONS = ("format", "step", "value", "labels", "step_offset")
#: Labels files sit next to their log and are not runs (``labels.SIDECAR_SUFFIXES``).
_SIDECARS = (".labels.json", ".labels.yaml", ".labels.yml")
_GLOB_CHARS = frozenset("*?[")


def _load(path: str, name: str, options: tuple[tuple[str, Any], ...]) -> LossCurve:
    from pytest_synthloss.emulation.importers import load_log

    return load_log(path, name=name, **dict(options))


def _same(curve: LossCurve) -> LossCurve:
    return curve


def recorded_run(
    path: str | os.PathLike[str], *, name: str | None = None, **options: Any
) -> RecordedProfile:
    """A recorded run of the log at ``path`` (read on first use), not registered.

    ``options`` are :func:`load_log`'s ``format``, ``step``, ``value``, ``labels`` and
    ``step_offset``. The file must exist now.
    """
    where = check_path(path, "recorded log")
    unknown = sorted(set(options) - set(LOAD_OPTIONS))
    if unknown:
        raise SynthLossError(
            f"recorded run {where!r}: unknown option {unknown[0]!r}; allowed: name, "
            + ", ".join(LOAD_OPTIONS)
        )
    if not os.path.exists(where):
        raise SynthLossError(f"recorded log {where!r} does not exist")
    title = name if name is not None else (Path(where.rstrip("/")).stem or "recorded")
    frozen = tuple(sorted(options.items()))
    return RecordedProfile(
        title, os.path.abspath(where), functools.partial(_load, where, title, frozen)
    )


def register_recorded(
    source: str | os.PathLike[str] | LossCurve | RecordedProfile,
    *,
    name: str | None = None,
    replace: bool = False,
    **options: Any,
) -> RecordedProfile:
    """Register a recorded run under its name and return it (see the module).

    ``source`` is a log file (``options`` as :func:`recorded_run`), a recorded curve
    (:func:`~pytest_synthloss.core.recorded.recorded_curve`; ``name`` defaults to its own)
    or a :class:`RecordedProfile`. A name taken by another profile is an error unless
    ``replace=True`` (built-ins cannot be replaced); registering the same run again is a
    no-op.
    """
    if isinstance(source, RecordedProfile):
        run = source
    elif isinstance(source, (str, os.PathLike)):
        run = recorded_run(source, name=name, **options)
    else:
        from pytest_synthloss.core.curve import LossCurve  # numpy: only for a curve

        if not isinstance(source, LossCurve):
            raise SynthLossError(
                "register_recorded() takes a log path, a recorded curve or a RecordedProfile, "
                f"got {show(source)} ({type(source).__name__})"
            )
        run = _from_curve(source, name)
    registered = registry.register_profile(run, replace=replace)
    assert isinstance(registered, RecordedProfile)
    return registered


def _from_curve(curve: LossCurve, name: str | None) -> RecordedProfile:
    from pytest_synthloss.core.recorded import RecordedCurve

    if not isinstance(curve, RecordedCurve):
        raise SynthLossError(
            f"register_recorded() takes a recorded curve (recorded_curve, load_log), got the "
            f"{curve.profile.name!r} profile's curve; register its profile instead"
        )
    title = name if name is not None else curve.name
    origin = f"code: {curve.source}" if curve.source else f"code: {title}"
    return RecordedProfile(title, origin, functools.partial(_same, curve))


def expand_recorded(patterns: Iterable[str], rootdir: str, what: str) -> list[str]:
    """The log files named by ``patterns`` (files or globs relative to ``rootdir``).

    A pattern that names no file, a glob that matches none, and two files with the same
    stem (the run's name) are errors starting with ``what``. Labels files (sidecars) that
    a glob matches are left out.
    """
    found: list[str] = []
    for pattern in patterns:
        full = os.path.join(rootdir, pattern)
        if _GLOB_CHARS & set(pattern):
            matches = sorted(
                m
                for m in glob.glob(full, recursive=True)
                if os.path.isfile(m) and not m.endswith(_SIDECARS)
            )
            if not matches:
                raise SynthLossError(f"{what}: {pattern!r} matches no log file under {rootdir}")
            found += matches
        elif not os.path.exists(full):
            raise SynthLossError(f"{what}: {pattern!r} does not exist (relative to {rootdir})")
        else:
            found.append(full)
    stems: dict[str, str] = {}
    for path in found:
        stem = Path(path.rstrip("/")).stem
        if stem in stems and stems[stem] != path:
            raise SynthLossError(
                f"{what}: {os.path.relpath(stems[stem], rootdir)!r} and "
                f"{os.path.relpath(path, rootdir)!r} would both be the recorded run {stem!r}; "
                "rename one"
            )
        stems[stem] = path
    return list(dict.fromkeys(found))


def register_recorded_runs(sources: object, base: str, where: str) -> list[RecordedProfile]:
    """Register what a ``pytest_synthloss_recorded`` hook returned (paths relative to
    ``base``, recorded curves, RecordedProfiles); ``where`` names the hook in errors."""
    if isinstance(sources, (str, bytes, os.PathLike)) or not isinstance(sources, Iterable):
        raise SynthLossError(
            f"pytest_synthloss_recorded() in {where} must return a list of log paths, recorded "
            f"curves or RecordedProfiles, got {show(sources)}"
        )
    runs = []
    for index, item in enumerate(sources):
        try:
            if isinstance(item, (str, os.PathLike)):
                item = os.path.join(base, os.fspath(item))
            runs.append(register_recorded(item))
        except SynthLossError as exc:
            raise SynthLossError(
                f"pytest_synthloss_recorded() in {where}, item {index}: {exc}"
            ) from None
    return runs
