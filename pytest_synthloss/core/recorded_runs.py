"""Recorded runs as selectable profiles: :class:`RecordedProfile`, loaded lazily, cached.

A :class:`RecordedProfile` is a :class:`~pytest_synthloss.Profile` that stands for a
recorded run: registered under its name like any profile, so ``--synthloss-profile NAME``,
``all``, the marker, every fixture and ``make_curve(profile=NAME)`` select it. Its values
come from its ``loader`` (reading the log file, see
:func:`pytest_synthloss.emulation.recorded_registry.register_recorded`), called on first
use and cached per process: a suite that never selects the run never reads it (and never
imports numpy for it). Its natural length is the log's.

``make_curve(steps, run, start_step=k)`` gives the run's logged steps from ``k`` (default:
its first), the first ``steps`` of them (default: all); asking for more steps than the log
holds is an error. The profile's formula fields are placeholders: the values come from the
record, never from ``start``/``decay``/``floor``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.validation import check_name, check_step, show

if TYPE_CHECKING:  # no numpy at import time: the plugin registers runs at start-up
    from pytest_synthloss.core.curve import LossCurve
    from pytest_synthloss.core.recorded import RecordedCurve

__all__ = ["RecordedProfile", "clear_cache", "recorded_profile_of"]

#: Loaded runs, per process: (name, origin) -> the whole recorded curve.
_cache: dict[tuple[str, str], RecordedCurve] = {}


class RecordedProfile(Profile):
    """A recorded run registered as a profile: ``name``, where it comes from (``origin``,
    e.g. the log's path) and the ``loader`` that reads it (a picklable callable returning a
    recorded :class:`~pytest_synthloss.LossCurve`). Equal when name and origin are."""

    origin: str
    loader: Callable[[], LossCurve]

    def __init__(self, name: str, origin: str, loader: Callable[[], LossCurve]) -> None:
        check_name(name, "recorded run name")
        if not isinstance(origin, str) or not origin:
            raise SynthLossError(
                f"a recorded run's origin must be a non-empty string, got {show(origin)}"
            )
        if not callable(loader):
            raise SynthLossError(f"a recorded run's loader must be callable, got {show(loader)}")
        super().__init__(name, description=f"recorded run ({origin})")
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "loader", loader)

    def recording(self) -> RecordedCurve:
        """The whole recorded run, loaded on first use and cached for the process."""
        from pytest_synthloss.core.recorded import RecordedCurve

        key = (self.name, self.origin)
        curve = _cache.get(key)
        if curve is None:
            loaded = self.loader()
            if not isinstance(loaded, RecordedCurve):
                raise SynthLossError(
                    f"recorded run {self.name!r} ({self.origin}): its loader returned "
                    f"{show(loaded)}, not a recorded curve (see recorded_curve)"
                )
            curve = _renamed(loaded, self.name)
            _cache[key] = curve
        return curve

    def check_replayable(self, steps: int | None, start_step: int | None) -> None:
        """Refuse to replay these steps as a live log when they have gaps (reads the log)."""
        from pytest_synthloss.core.recorded import require_consecutive

        require_consecutive(self.recorded_make(steps, start_step), "an emulated run")

    def natural_steps(self) -> int:
        """How many steps the log holds (reads it)."""
        return len(self.recording())

    def recorded_make(
        self,
        steps: int | None,
        start_step: int | None,
        lr: float | None = None,
        batch_size: int | None = None,
    ) -> LossCurve:
        """The run's logged steps from ``start_step``, the first ``steps`` of them."""
        whole = self.recording()
        if start_step is None or start_step == 1:
            begin = 0
        else:
            first = check_step(start_step, "start_step")
            begin = int(whole.steps.searchsorted(first))
            if begin >= len(whole):
                raise SynthLossError(
                    f"recorded run {self.name!r} ends at step {whole.last_step}; "
                    f"start_step={first} is past it"
                )
        available = len(whole) - begin
        count = available if steps is None else check_step(steps, "steps")
        if count > available:
            raise SynthLossError(
                f"recorded run {self.name!r} has {available} logged steps"
                + (f" from step {int(whole.steps[begin])}" if begin else "")
                + f"; {count} steps were asked for (its natural length is the log's: "
                "leave the steps out)"
            )
        if lr is not None or batch_size is not None:
            raise SynthLossError(
                f"recorded run {self.name!r}: lr and batch_size are not logged for a recorded "
                "run; leave them out"
            )
        return whole if (begin, count) == (0, len(whole)) else whole.window(begin, count)

    # -- ground truth: the recording's, not the placeholder formula's ------------------

    @property
    def spike_steps(self) -> tuple[int, ...]:
        """The recorded run's spike steps (reads the log)."""
        return self.recording().spike_steps

    @property
    def nonfinite_steps(self) -> tuple[int, ...]:
        """The recorded run's non-finite steps (reads the log)."""
        return self.recording().nonfinite_steps

    @property
    def divergence_step(self) -> int | None:
        """The first step of the recorded run's labelled divergence (reads the log)."""
        return self.recording().divergence_step

    @property
    def plateau_windows(self) -> tuple[tuple[int, int], ...]:
        """The recorded run's labelled plateaus (reads the log)."""
        return self.recording().plateau_windows

    @property
    def floor_step(self) -> int | None:
        """``None``: a recorded run has no known floor."""
        return None

    def baseline(self, step: int) -> float:
        """A recorded run has no formula: an error naming the run."""
        raise SynthLossError(
            f"recorded run {self.name!r} has no formula (no baseline); its values are "
            "make_curve(profile=...).losses"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return isinstance(other, RecordedProfile) and (self.name, self.origin) == (
            other.name,
            other.origin,
        )

    def __hash__(self) -> int:
        return hash(("recorded", self.name, self.origin))

    def __repr__(self) -> str:
        return f"RecordedProfile(name={self.name!r}, origin={self.origin!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (RecordedProfile, (self.name, self.origin, self.loader))


def recorded_profile_of(profile: Profile) -> RecordedProfile | None:
    """``profile`` if it is a recorded run, else ``None``."""
    return profile if isinstance(profile, RecordedProfile) else None


def clear_cache() -> None:
    """Forget every loaded run (the next use reads its log again)."""
    _cache.clear()


def _renamed(curve: RecordedCurve, name: str) -> RecordedCurve:
    from pytest_synthloss.core.recorded import RecordedCurve

    if curve.name == name:
        return curve
    return RecordedCurve(
        name, curve.steps, curve.losses, curve.labels, curve.source, curve.repeated_steps
    )
