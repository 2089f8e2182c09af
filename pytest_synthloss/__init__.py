"""pytest-synthloss: deterministic synthetic loss curves for testing code that watches training.

The public names below load lazily (PEP 562), so importing the package (as pytest does
for the plugin) never imports numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_synthloss.assertions import (
        LossAssertionError,
        LossSeries,
        assert_all_finite,
        assert_curve_equal,
        assert_final_loss,
        assert_matches_profile,
        assert_monotonic_decreasing,
        assert_no_spikes,
        assert_reaches_floor,
        assert_spikes_at,
        find_spikes,
    )
    from pytest_synthloss.curve import LossCurve, RunConfig, make_curve
    from pytest_synthloss.detectors import (
        NONFINITE_POLICIES,
        SPIKE_RULES,
        EMARatio,
        RollingZScore,
        RunningMeanRatio,
        RunningMinRatio,
        SpikeReport,
        SpikeRule,
        detect_spikes,
    )
    from pytest_synthloss.errors import SynthLossError
    from pytest_synthloss.factory import CurveFactory
    from pytest_synthloss.faults import Faults
    from pytest_synthloss.formats import ParsedLog, read_log, write_log
    from pytest_synthloss.model import synthetic_loss, synthetic_losses
    from pytest_synthloss.profiles import SPIKY, STABLE, Divergence, Noise, Profile
    from pytest_synthloss.promtool import promtool_test_file, write_promtool_test
    from pytest_synthloss.registry import (
        available_profiles,
        get_profile,
        register_profile,
        unregister_profile,
    )
    from pytest_synthloss.runner import TrainingRun
    from pytest_synthloss.scoring import (
        EVENT_TYPES,
        AlertScore,
        assert_alerts_match,
        ground_truth_events,
        score_alerts,
    )
    from pytest_synthloss.sparklines import sparkline
    from pytest_synthloss.stream import Clock, FakeClock, LossStream, StreamStep, SystemClock
    from pytest_synthloss.sweeps import BestConfig, SweepResults, SweepRow, best_config, sweep

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "LossAssertionError": "assertions",
    "LossSeries": "series",
    "assert_all_finite": "assertions",
    "assert_curve_equal": "assertions",
    "assert_final_loss": "assertions",
    "assert_matches_profile": "assertions",
    "assert_monotonic_decreasing": "assertions",
    "assert_no_spikes": "assertions",
    "assert_reaches_floor": "assertions",
    "assert_spikes_at": "assertions",
    "find_spikes": "assertions",
    "LossCurve": "curve",
    "RunConfig": "curve",
    "make_curve": "curve",
    "NONFINITE_POLICIES": "detectors",
    "SPIKE_RULES": "detectors",
    "EMARatio": "detectors",
    "RollingZScore": "detectors",
    "RunningMeanRatio": "detectors",
    "RunningMinRatio": "detectors",
    "SpikeReport": "detectors",
    "SpikeRule": "detectors",
    "detect_spikes": "detectors",
    "SynthLossError": "errors",
    "CurveFactory": "factory",
    "Faults": "faults",
    "synthetic_loss": "model",
    "synthetic_losses": "model",
    "Profile": "profiles",
    "Divergence": "profiles",
    "Noise": "profiles",
    "STABLE": "profiles",
    "SPIKY": "profiles",
    "available_profiles": "registry",
    "get_profile": "registry",
    "register_profile": "registry",
    "unregister_profile": "registry",
    "promtool_test_file": "promtool",
    "write_promtool_test": "promtool",
    "EVENT_TYPES": "scoring",
    "AlertScore": "scoring",
    "ground_truth_events": "scoring",
    "assert_alerts_match": "scoring",
    "score_alerts": "scoring",
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
    "Clock": "stream",
    "FakeClock": "stream",
    "LossStream": "stream",
    "StreamStep": "stream",
    "SystemClock": "stream",
}

__all__ = [
    "EVENT_TYPES",
    "NONFINITE_POLICIES",
    "SPIKE_RULES",
    "SPIKY",
    "STABLE",
    "AlertScore",
    "BestConfig",
    "Clock",
    "CurveFactory",
    "Divergence",
    "EMARatio",
    "FakeClock",
    "Faults",
    "LossAssertionError",
    "LossCurve",
    "LossSeries",
    "LossStream",
    "Noise",
    "ParsedLog",
    "Profile",
    "RollingZScore",
    "RunConfig",
    "RunningMeanRatio",
    "RunningMinRatio",
    "SpikeReport",
    "SpikeRule",
    "StreamStep",
    "SweepResults",
    "SweepRow",
    "SynthLossError",
    "SystemClock",
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
    "ground_truth_events",
    "make_curve",
    "promtool_test_file",
    "read_log",
    "register_profile",
    "score_alerts",
    "sparkline",
    "sweep",
    "synthetic_loss",
    "synthetic_losses",
    "unregister_profile",
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
