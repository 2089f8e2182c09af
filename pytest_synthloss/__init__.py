"""pytest-synthloss: deterministic synthetic loss curves for testing code that watches training.

The names below are the public API. They load lazily (PEP 562), so importing the package
(as pytest does for the plugin) never imports numpy. Everything else is importable from the
subpackage module that defines it:

- :mod:`pytest_synthloss.core`: profiles, events, the registry, the loss model, curves,
  streams, sparklines and sweeps (pytest-free);
- :mod:`pytest_synthloss.checks`: spike rules, assertions, alert scoring, failure messages;
- :mod:`pytest_synthloss.emulation`: log formats, the emulator, the training-run process;
- :mod:`pytest_synthloss.exports`: promtool, Prometheus, TensorBoard, plots, Hypothesis;
- :mod:`pytest_synthloss.plugin`: the pytest plugin; :mod:`pytest_synthloss.cli`: the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_synthloss.checks.alert_assertions import assert_alerts_match
    from pytest_synthloss.checks.detection import detect_spikes
    from pytest_synthloss.checks.finite_assertions import assert_all_finite
    from pytest_synthloss.checks.scoring import AlertScore, score_alerts
    from pytest_synthloss.checks.spike_assertions import (
        assert_no_spikes,
        assert_spikes_at,
        find_spikes,
    )
    from pytest_synthloss.checks.value_assertions import (
        assert_curve_equal,
        assert_final_loss,
        assert_matches_profile,
        assert_monotonic_decreasing,
        assert_reaches_floor,
    )
    from pytest_synthloss.core.curve import LossCurve, make_curve
    from pytest_synthloss.core.errors import LossAssertionError, SynthLossError
    from pytest_synthloss.core.events import Divergence, Event, Noise
    from pytest_synthloss.core.faults import Faults
    from pytest_synthloss.core.model import synthetic_loss, synthetic_losses
    from pytest_synthloss.core.profiles import Profile
    from pytest_synthloss.core.recorded import recorded_curve
    from pytest_synthloss.core.registry import available_profiles, get_profile, register_profile
    from pytest_synthloss.core.stream import FakeClock, LossStream
    from pytest_synthloss.core.sweep_report import best_config
    from pytest_synthloss.core.sweeps import sweep
    from pytest_synthloss.emulation.logreader import read_log
    from pytest_synthloss.emulation.logwriter import write_log
    from pytest_synthloss.emulation.runner import TrainingRun
    from pytest_synthloss.exports.promtool import write_promtool_test

__version__ = "0.1.0"

#: public name -> the module that defines it (tests check that ``__all__`` and the
#: ``TYPE_CHECKING`` imports list the same names)
_EXPORTS: dict[str, str] = {
    # profiles, the model and curves
    "Profile": "core.profiles",
    "Divergence": "core.events",
    "Noise": "core.events",
    "Event": "core.events",
    "Faults": "core.faults",
    "available_profiles": "core.registry",
    "get_profile": "core.registry",
    "register_profile": "core.registry",
    "synthetic_loss": "core.model",
    "synthetic_losses": "core.model",
    "LossCurve": "core.curve",
    "make_curve": "core.curve",
    "recorded_curve": "core.recorded",
    "LossStream": "core.stream",
    "FakeClock": "core.stream",
    "sweep": "core.sweeps",
    "best_config": "core.sweep_report",
    "SynthLossError": "core.errors",
    "LossAssertionError": "core.errors",
    # checks
    "detect_spikes": "checks.detection",
    "find_spikes": "checks.spike_assertions",
    "assert_no_spikes": "checks.spike_assertions",
    "assert_spikes_at": "checks.spike_assertions",
    "assert_all_finite": "checks.finite_assertions",
    "assert_monotonic_decreasing": "checks.value_assertions",
    "assert_reaches_floor": "checks.value_assertions",
    "assert_final_loss": "checks.value_assertions",
    "assert_curve_equal": "checks.value_assertions",
    "assert_matches_profile": "checks.value_assertions",
    "AlertScore": "checks.scoring",
    "score_alerts": "checks.scoring",
    "assert_alerts_match": "checks.alert_assertions",
    # emulation and exports
    "read_log": "emulation.logreader",
    "write_log": "emulation.logwriter",
    "TrainingRun": "emulation.runner",
    "write_promtool_test": "exports.promtool",
}

__all__ = [
    "AlertScore",
    "Divergence",
    "Event",
    "FakeClock",
    "Faults",
    "LossAssertionError",
    "LossCurve",
    "LossStream",
    "Noise",
    "Profile",
    "SynthLossError",
    "TrainingRun",
    "assert_alerts_match",
    "assert_all_finite",
    "assert_curve_equal",
    "assert_final_loss",
    "assert_matches_profile",
    "assert_monotonic_decreasing",
    "assert_no_spikes",
    "assert_reaches_floor",
    "assert_spikes_at",
    "available_profiles",
    "best_config",
    "detect_spikes",
    "find_spikes",
    "get_profile",
    "make_curve",
    "read_log",
    "recorded_curve",
    "register_profile",
    "score_alerts",
    "sweep",
    "synthetic_loss",
    "synthetic_losses",
    "write_log",
    "write_promtool_test",
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
