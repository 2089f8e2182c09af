"""pytest-synthloss: deterministic synthetic loss curves for testing code that watches training.

The public names below load lazily (PEP 562), so importing the package (as pytest does
for the plugin) never imports numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_synthloss.curve import LossCurve, RunConfig, make_curve
    from pytest_synthloss.errors import SynthLossError
    from pytest_synthloss.formats import ParsedLog, read_log, write_log
    from pytest_synthloss.model import synthetic_loss, synthetic_losses
    from pytest_synthloss.profiles import SPIKY, STABLE, Profile
    from pytest_synthloss.registry import (
        available_profiles,
        get_profile,
        register_profile,
        unregister_profile,
    )
    from pytest_synthloss.runner import TrainingRun
    from pytest_synthloss.sparklines import sparkline
    from pytest_synthloss.sweeps import BestConfig, SweepResults, SweepRow, best_config, sweep

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "LossCurve": "curve",
    "RunConfig": "curve",
    "make_curve": "curve",
    "SynthLossError": "errors",
    "synthetic_loss": "model",
    "synthetic_losses": "model",
    "Profile": "profiles",
    "STABLE": "profiles",
    "SPIKY": "profiles",
    "available_profiles": "registry",
    "get_profile": "registry",
    "register_profile": "registry",
    "unregister_profile": "registry",
    "sparkline": "sparklines",
    "ParsedLog": "formats",
    "read_log": "formats",
    "write_log": "formats",
    "TrainingRun": "runner",
    "BestConfig": "sweeps",
    "SweepResults": "sweeps",
    "SweepRow": "sweeps",
    "best_config": "sweeps",
    "sweep": "sweeps",
}

__all__ = [
    "SPIKY",
    "STABLE",
    "BestConfig",
    "LossCurve",
    "ParsedLog",
    "Profile",
    "RunConfig",
    "SweepResults",
    "SweepRow",
    "SynthLossError",
    "TrainingRun",
    "available_profiles",
    "best_config",
    "get_profile",
    "make_curve",
    "read_log",
    "register_profile",
    "sparkline",
    "sweep",
    "synthetic_loss",
    "synthetic_losses",
    "unregister_profile",
    "write_log",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_synthloss' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pytest_synthloss.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
