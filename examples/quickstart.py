"""Quickstart: print a run, its ground truth, and the engine's agreement with the spec.

Run: ``python examples/quickstart.py [PROFILE] [STEPS]``
"""

from __future__ import annotations

import sys

from pytest_synthloss import make_curve, synthetic_loss


def main(argv: list[str]) -> int:
    """Print the curve of ``PROFILE`` (default spiky) over ``STEPS`` steps (default 20)."""
    profile = argv[0] if argv else "spiky"
    steps = int(argv[1]) if len(argv) > 1 else 20
    curve = make_curve(steps, profile)
    print(curve)
    for step, loss in curve:
        print(f"Step {step}: loss={loss:.2f}")
    print(f"spike steps: {list(curve.spike_steps)}  spike events: {list(curve.spike_events)}")
    where = f"at step {curve.floor_step}" if curve.reaches_floor else "not within this run"
    print(f"floor {curve.floor} reached {where}")
    print(f"final loss: {curve.final_loss}")
    exact = all(loss == synthetic_loss(step, profile) for step, loss in curve)
    print(f"vectorized == scalar formula at every step: {exact}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
