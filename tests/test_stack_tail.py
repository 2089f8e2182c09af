"""The constant-tail shortcut of the stack presets gives the full computation's decisions.

A run whose last stretch repeats one finite value is computed only until the stack's state
settles (``StackPreset.settle``; metaseq replays into the tail until its EWM is fixed), and
the last step is repeated. Here the shortcut (``decide``) is compared with the preset's full
pass over every step (``run``; metaseq's step-by-step replay) on random heads (spikes, NaN,
lognormal noise) followed by long constant tails, in float64 and float32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pytest_synthloss import SynthLossError
from pytest_synthloss.checks.rules import get_rule
from pytest_synthloss.checks.stack_base import StackPreset, constant_tail, repeat_last

GRID: list[tuple[str, dict[str, Any]]] = [
    ("lightning", {}),
    ("lightning", {"mode": "max"}),
    ("lightning", {"window": 3, "warmup": 50}),
    ("lightning", {"finite_only": False, "atol": 0.1}),
    ("megatron", {}),
    ("megatron", {"num_samples": 5}),
    ("megatron", {"num_samples": 300, "threshold": 1.5}),
    ("olmo-skip-step", {}),
    ("olmo-skip-step", {"rolling_interval_length": 8, "sigma_factor": 1}),
    ("olmo-skip-step", {"rolling_interval_length": 1}),
    ("olmo-stability", {}),
    ("olmo-stability", {"window_size": 5, "threshold_std": 0.5}),
    ("olmo-stability", {"window_size": 1}),
    ("llm-foundry", {}),
    ("llm-foundry", {"patience": 0, "outlier_multiplier": 1.0}),
    ("llm-foundry", {"loss_cap": 0.5, "patience": 7}),
    ("llm-foundry", {"window_size": 7}),
    ("metaseq", {}),
    ("metaseq", {"ewm_ratio_to_skip_batch": 1.01}),
    ("metaseq", {"ewm_ratio_to_skip_batch": 0.99}),
    ("metaseq", {"ewm_ratio_to_skip_batch": 3.0, "span": 1}),
    ("metaseq", {"ewm_ratio_to_skip_batch": 1.0, "span": 100}),
]


def _runs(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    runs = []
    for index in range(count):
        head = rng.lognormal(0.0, 0.5 if index % 4 else 2.0, int(rng.integers(0, 400)))
        if index % 4 == 3:
            head[rng.random(head.size) < 0.02] = np.nan
        if index % 4 == 2:
            head[rng.random(head.size) < 0.05] *= 20
        last = float(head[-1]) if head.size else 1.0
        value = [last, float(rng.lognormal(0.0, 1.0)), 0.5, 1.05, 3.0, -1.0, 20.0][index % 7]
        runs.append(np.concatenate([head, np.full(int(rng.integers(1, 3000)), value)]))
    return runs


RUNS = _runs(13, 24)


def _full(rule: StackPreset, losses: np.ndarray) -> tuple[np.ndarray, ...] | str:
    values = rule.values(losses)
    try:
        if rule.name == "metaseq":
            return tuple(rule._exact(values.astype(np.float64) / math.log(2)))  # type: ignore[attr-defined]
        return rule.run(values)
    except SynthLossError as error:
        return str(error)


def _short(rule: StackPreset, losses: np.ndarray) -> tuple[np.ndarray, ...] | str:
    try:
        return rule.decide(losses, np.empty(0))
    except SynthLossError as error:
        return str(error)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "params"), GRID, ids=[f"{n}-{p}" for n, p in GRID])
def test_tail_shortcut_matches_the_full_pass(name: str, params: dict[str, Any], dtype: str) -> None:
    rule = get_rule(name, dtype=dtype, **params)
    assert isinstance(rule, StackPreset)
    for losses in RUNS:
        full, short = _full(rule, losses), _short(rule, losses)
        if isinstance(full, str) or isinstance(short, str):
            assert short == full
            continue
        np.testing.assert_array_equal(short[2], full[2])
        np.testing.assert_allclose(short[0], full[0], rtol=1e-9, equal_nan=True)


def test_constant_tail_and_repeat_last() -> None:
    assert constant_tail(np.array([3.0, 1.0, 2.0, 2.0, 2.0])) == 2
    assert constant_tail(np.full(10_000, 1.5)) == 0
    assert constant_tail(np.array([1.0, np.nan, np.nan])) == 3  # NaN: no tail
    assert constant_tail(np.array([1.0, -0.0, 0.0])) == 3  # zeros: no tail (signs differ)
    assert constant_tail(np.empty(0)) == 0
    long = np.concatenate([[9.0], np.full(200_000, 2.0)])
    assert constant_tail(long) == 1
    np.testing.assert_array_equal(repeat_last(np.array([1, 2]), 4), [1, 2, 2, 2])
