"""The stack presets: exact behaviour, parameters, and the pinned vectors of the stacks that
cannot be installed.

metaseq and llm-foundry cannot be installed next to our torch (metaseq is not published;
llm-foundry needs composer, which pins an older torch). Their vectors in
``tests/data/stack_vectors.json`` were produced by executing their own code (see its
``_provenance``); the llm-foundry scenarios below restate its test suite
(``tests/callbacks/test_kill_loss_spike_callback.py``) as curves. The installable stacks are
compared live in ``tests/test_stack_differential.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_synthloss import (
    SynthLossError,
    assert_spikes_at,
    detect_spikes,
    find_spikes,
    make_curve,
)
from pytest_synthloss.checks.rules import STACK_PRESETS, get_rule
from pytest_synthloss.checks.stack_base import MAX_HISTORY
from pytest_synthloss.core.builtins import SPEC_LINE

VECTORS = json.loads((Path(__file__).parent / "data" / "stack_vectors.json").read_text())
METASEQ_GRID: list[dict[str, Any]] = [
    {},
    {"ewm_ratio_to_skip_batch": 3.0},
    {"ewm_ratio_to_skip_batch": 1.0},
    {"ewm_ratio_to_skip_batch": 1.5, "span": 3},
]
FOUNDRY_GRID: list[dict[str, Any]] = [
    {},
    {"patience": 0},
    {"patience": 1, "outlier_multiplier": 1.5},
    {"loss_cap": 2.0},
    {"window_size": 20, "patience": 0},
]
SPIKY = make_curve(20, "spiky")


def flags(name: str, losses: Any, **params: Any) -> list[int]:
    return list(detect_spikes(losses, get_rule(name, **params)).spike_steps)


# -- the examples ---------------------------------------------------------------


def test_lightning_flags_both_steps_of_the_spike_the_generic_mean_flags_one() -> None:
    assert find_spikes(SPIKY, "lightning").spike_steps == (4, 5)
    assert find_spikes(SPIKY, "running-mean").spike_steps == (4,)
    report = find_spikes(SPIKY, "lightning")
    # the spike never enters the mean: both steps are judged against (2.18 + 2.11 + 2.04) / 3
    assert report.reference[3] == report.reference[4] == pytest.approx(2.11, abs=1e-6)


def test_metaseq_flags_both_the_9_7_and_the_9_5() -> None:
    assert find_spikes(SPIKY, get_rule("metaseq", ewm_ratio_to_skip_batch=3.0)).spike_steps == (
        4,
        5,
    )
    # metaseq's default (-1, "turned off") still runs: every positive loss is over it
    assert find_spikes(SPIKY, "metaseq").spike_steps == tuple(range(1, 21))


def test_the_presets_are_registered_by_name() -> None:
    assert list(STACK_PRESETS) == [
        "lightning",
        "metaseq",
        "megatron",
        "olmo-skip-step",
        "olmo-stability",
        "llm-foundry",
    ]
    for name in STACK_PRESETS:
        assert get_rule(name).name == name
        assert_spikes_at(make_curve(20, "stable"), (), rule=name if name != "metaseq" else None)


# -- pinned vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [20, 150, 400])
@pytest.mark.parametrize("profile", [p.name for p in SPEC_LINE])
def test_metaseq_matches_its_own_skip_spike(profile: str, steps: int) -> None:
    losses = make_curve(steps, profile).losses
    for index, params in enumerate(METASEQ_GRID):
        assert (
            flags("metaseq", losses, **params) == VECTORS["metaseq"][f"{profile}/{steps}/{index}"]
        )


@pytest.mark.parametrize("steps", [20, 150, 400])
@pytest.mark.parametrize("profile", [p.name for p in SPEC_LINE])
def test_llm_foundry_matches_its_own_kill_loss_spike(profile: str, steps: int) -> None:
    losses = make_curve(steps, profile).losses
    for index, params in enumerate(FOUNDRY_GRID):
        expected = VECTORS["llm-foundry"][f"{profile}/{steps}/{index}"]
        assert flags("llm-foundry", losses, **params) == expected


def test_llm_foundry_long_spike_and_high_loss_vectors() -> None:
    spike = [2.0] * 300
    spike[200:206] = [5.0] * 6
    assert flags("llm-foundry", spike) == VECTORS["llm-foundry-long-spike"] == [205, 206]
    high = [2.0] * 100 + [11.0] * 200
    assert flags("llm-foundry", high) == VECTORS["llm-foundry-high-loss"]


def test_llm_foundry_scenarios_of_its_test_suite() -> None:
    # test_detect_loss_spike_no_spike / _with_spike: 4 against a mean of 2 is an outlier; the
    # spike is the 5th consecutive outlier (patience=4). Every loss enters the window, so
    # 4.2 keeps the outliers above 2x the rising mean here.
    losses = [2.0] * 100 + [4.2] * 5
    assert flags("llm-foundry", losses) == [105]
    assert flags("llm-foundry", losses[:104]) == []
    # test_detect_high_losses_*: high when at least half the window is above loss_cap (10),
    # checked from batch 2 * window_size on; [2] * window is not.
    mixed = [9.0, 8.0, 7.0, 6.0, 5.0, 11.0, 12.0, 13.0, 14.0, 15.0] * 20
    assert flags("llm-foundry", mixed) == [200]
    almost = [9.0, 8.0, 7.0, 6.0, 5.0, 10.0, 12.0, 13.0, 14.0, 15.0] * 20  # 10 is not above
    assert flags("llm-foundry", almost) == []
    assert flags("llm-foundry", [2.0] * 201) == []


# -- each stack's rules, exactly -------------------------------------------------------------


def test_lightning_in_float32_rounds_the_loss_first() -> None:
    # ten 1.0 then 2.99999999: |x - 1| >= 2 * 1 only once x is the float32 3.0
    # (checked against the real SpikeDetection with float64 and float32 tensors)
    losses = [1.0] * 10 + [2.99999999]
    assert flags("lightning", losses) == []
    assert flags("lightning", losses, dtype="float32") == [11]
    assert flags("lightning", [1.05] * 10 + [3.15]) == []


def test_lightning_nonfinite_rules() -> None:
    assert flags("lightning", [2.0, math.nan, 1.9, math.inf, 1.8]) == [2, 4]
    # finite_only=False: NaN is neither a spike nor accepted; +inf is a spike (|inf - m|)
    assert flags("lightning", [2.0, math.nan, 1.9, math.inf, 1.8], finite_only=False) == [4]
    # during the warm-up a NaN is accepted: the mean has no weight (NaN), so no ratio holds
    assert flags("lightning", [math.nan, 5.0, 1.0], warmup=1) == []


def test_megatron_samples_the_first_finite_losses() -> None:
    losses = [1.0, math.nan, 2.0, 3.0, 30.0, math.inf, 29.9]
    assert flags("megatron", losses, num_samples=3) == [5]
    assert flags("megatron", losses, num_samples=3, threshold=9.9) == [5, 7]
    assert flags("megatron", losses, num_samples=7) == []
    assert flags("megatron", losses, num_samples=3, resample=True) == []


def test_olmo_skip_step_is_one_sided_and_waits_for_half_the_window() -> None:
    base = [2.0, 2.1] * 40
    assert flags("olmo-skip-step", [*base, 2.05]) == []
    assert flags("olmo-skip-step", [*base, 9.0]) == [81]
    assert flags("olmo-skip-step", [*base, -9.0]) == []  # one-sided
    assert flags("olmo-skip-step", [2.0] * 62 + [9.0]) == []  # 63 < 64 values seen
    assert flags("olmo-skip-step", [2.0] * 63 + [2.0000001]) == [64]  # std 0: any rise


def test_olmo_stability_waits_for_a_full_window_and_ignores_flat_ones() -> None:
    base = [2.0, 2.1] * 64
    assert flags("olmo-stability", [*base[:127], 9.0]) == []
    assert flags("olmo-stability", [*base, 9.0]) == [129]
    assert flags("olmo-stability", [2.0] * 128 + [9.0]) == []  # std < 1e-10


def test_resumed_curves_are_replayed_from_step_one() -> None:
    for name in STACK_PRESETS:
        for profile in ("spiky", "nan", "noisy-spiky", "diverging"):
            full = find_spikes(make_curve(300, profile), name)
            for start in (2, 5, 150):
                tail = find_spikes(make_curve(301 - start, profile, start_step=start), name)
                assert tail.spike_steps == tuple(s for s in full.spike_steps if s >= start)


def test_a_resume_beyond_the_replayable_history_is_refused() -> None:
    curve = make_curve(5, "stable", start_step=MAX_HISTORY + 2)
    with pytest.raises(SynthLossError, match=r"^lightning: replays the run from step 1"):
        find_spikes(curve, "lightning")


def test_nonfinite_policies_apply_on_top_of_the_stack() -> None:
    nan = make_curve(20, "nan")
    rule = get_rule("metaseq", ewm_ratio_to_skip_batch=3.0)
    assert find_spikes(nan, rule).spike_steps == ()  # metaseq: NaN poisons the EWM
    assert find_spikes(nan, rule, nonfinite="spike").spike_steps == (12,)
    assert find_spikes(nan, "lightning", nonfinite="ignore").spike_steps == ()


# -- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "lightning",
            {"windw": 3},
            "lightning: unknown parameter 'windw'; its parameters: mode, window, warmup, atol, "
            "rtol, exclude_batches_path, finite_only, dtype (did you mean 'window'?)",
        ),
        (
            "lightning",
            {"mode": "avg"},
            "lightning: Invalid mode. Has to be min or max, found 'avg'",
        ),
        (
            "lightning",
            {"window": 0},
            "lightning: window must be an integer from 1 to 65536, got 0",
        ),
        ("lightning", {"rtol": "2"}, "lightning: rtol must be a number or None, got '2'"),
        ("metaseq", {"span": -1}, "metaseq: span=-1 divides by zero (alpha = 2 / (span + 1))"),
        (
            "megatron",
            {"num_samples": 0},
            "megatron: num_samples must be an integer from 1 to 4194304, got 0",
        ),
        (
            "olmo-skip-step",
            {"sigma": 3},
            "olmo-skip-step: unknown parameter 'sigma'; its parameters: "
            "rolling_interval_length, sigma_factor, dtype (did you mean 'sigma_factor'?)",
        ),
        (
            "olmo-stability",
            {"threshold_std": math.inf},
            "olmo-stability: threshold_std must be finite, got inf",
        ),
        (
            "llm-foundry",
            {"patience": -1},
            "llm-foundry: patience must be an integer from 0 to 4194304, got -1",
        ),
        (
            "megatron",
            {"dtype": "float16"},
            "megatron: dtype must be one of ('float64', 'float32'), got 'float16'",
        ),
    ],
)
def test_bad_parameters_are_refused(name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        get_rule(name, **params)
    assert str(excinfo.value) == message


def test_metaseq_refuses_what_metaseq_divides_by_zero() -> None:
    with pytest.raises(SynthLossError, match=r"^metaseq: the EWM is 0 at run step 1; metaseq"):
        detect_spikes([0.0, 1.0], "metaseq")


def test_describe_and_repr() -> None:
    rule = get_rule("lightning", window=5, dtype="float32")
    assert rule.describe() == (
        "lightning (mode='min', window=5, warmup=1, atol=None, rtol=2.0, "
        "exclude_batches_path=None, finite_only=True) in float32"
    )
    assert repr(rule) == "get_rule('lightning', window=5, dtype='float32')"
    assert rule == get_rule("lightning", window=5, dtype="float32") != get_rule("lightning")
    with pytest.raises(SynthLossError, match="use detect_spikes"):
        rule.is_spike(np.zeros(1))
