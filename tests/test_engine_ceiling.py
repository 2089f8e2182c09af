"""A diverging curve is computed up to where its loss reaches the ceiling, then filled: the
same losses, bit for bit, as the step-by-step engine and the scalar reference."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_synthloss import Divergence, Profile, make_curve, synthetic_loss, synthetic_losses
from pytest_synthloss.core.model import ceiling_from
from pytest_synthloss.core.validation import LOSS_CEILING

PROFILES = [
    "diverging",
    Profile("fast", divergence=Divergence(start_step=5, rate=0.5)),
    Profile("slow", divergence=Divergence(start_step=3, rate=0.01)),
    Profile("line", divergence=Divergence(start_step=1, rate=1e36, mode="linear")),
    Profile("spiked", divergence=Divergence(start_step=2, rate=1.0), spikes={900: 3.0}),
    Profile("tiny", divergence=Divergence(start_step=2, rate=1e-7)),
]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: getattr(p, "name", p))
@pytest.mark.parametrize("start", [1, 4, 480, 5000])
def test_capped_tail_equals_the_engine_and_the_scalar_reference(
    profile: Profile | str, start: int
) -> None:
    curve = make_curve(12_000, profile, start_step=start)
    steps = np.arange(start, start + 12_000, dtype=np.int64)
    np.testing.assert_array_equal(curve.losses, synthetic_losses(steps, profile))
    for index in (0, 1, 485, 486, 487, 9000, 11_999):
        assert curve.losses[index] == synthetic_loss(int(steps[index]), profile)


def test_the_first_capped_step() -> None:
    step = ceiling_from(make_curve(1, "diverging").profile)
    assert step == 487
    assert synthetic_loss(486, "diverging") < LOSS_CEILING == synthetic_loss(487, "diverging")
    tiny = Profile("tiny", divergence=Divergence(start_step=2, rate=1e-7))
    assert ceiling_from(tiny) is None  # too slow a rise to bisect: computed step by step
    assert ceiling_from(make_curve(1, "noisy").profile) is None
