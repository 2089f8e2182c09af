"""``CurveFactory``: makes loss curves, defaulting to a test's selected profile and steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.recorded_runs import RecordedProfile
from pytest_synthloss.core.registry import resolve_profile
from pytest_synthloss.core.steps import DEFAULT_STEPS
from pytest_synthloss.core.validation import check_step

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = ["CurveFactory"]


class CurveFactory:
    """Call it to make a :class:`~pytest_synthloss.LossCurve`.

    ``factory()`` is the selected profile's curve; ``factory("spiky", steps=40,
    start_step=10)`` any other run. Arguments are those of
    :func:`~pytest_synthloss.make_curve`; ``profile`` and ``steps`` default to the
    factory's.
    """

    def __init__(self, profile: Profile | str = "stable", steps: int | None = None) -> None:
        self._profile = resolve_profile(profile)
        self._natural = steps is None
        if steps is None and isinstance(self._profile, RecordedProfile):
            steps = self._profile.natural_steps()  # the log's length (reads it)
        elif steps is None:  # the profile's natural length
            steps = DEFAULT_STEPS if self._profile.steps is None else self._profile.steps
        self._steps = check_step(steps, "steps")

    @property
    def profile(self) -> Profile:
        """The default profile."""
        return self._profile

    @property
    def steps(self) -> int:
        """The default number of steps."""
        return self._steps

    def __call__(
        self,
        profile: Profile | str | None = None,
        steps: int | None = None,
        *,
        start_step: int = 1,
        lr: float | None = None,
        batch_size: int | None = None,
    ) -> LossCurve:
        """A curve of ``steps`` steps of ``profile`` (defaults: the factory's)."""
        from pytest_synthloss.core.curve import make_curve

        if steps is None and profile is None and self._natural:
            default: int | None = None  # the natural length (a recorded run: from start_step)
        else:
            default = self._steps
        return make_curve(
            default if steps is None else steps,
            self._profile if profile is None else profile,
            start_step=start_step,
            lr=lr,
            batch_size=batch_size,
        )

    def __repr__(self) -> str:
        return f"CurveFactory(profile={self._profile.name!r}, steps={self._steps})"
