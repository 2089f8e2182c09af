"""The stack presets against the real stacks: the same flags at every step.

Each test drives the real class step by step (Lightning ``SpikeDetection``, Megatron's
``RerunStateMachine.is_unexpectedly_large``, OLMo-core's ``SkipStepOptimizer`` and
``StabilityMonitorCallback``) and compares the steps it flags with the preset's, on every
built-in profile at several lengths and on Hypothesis-generated profiles (multi-step spikes,
NaN/inf, divergence, noise), for a grid of the stack's parameters, in float64 and float32
where the stack computes in the tensor's dtype. Without the stack installed a test skips
with the reason; ``.ci/run`` installs them (``pip install ".[stacks]"``), so they run in CI.
metaseq and llm-foundry cannot be installed: ``tests/test_stack_presets.py`` pins their
vectors.
"""

from __future__ import annotations

import tempfile
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss import available_profiles, make_curve
from pytest_synthloss.checks.detection import detect_spikes
from pytest_synthloss.checks.rules import get_rule
from pytest_synthloss.exports.strategies import profiles

LENGTHS = (1, 20, 150, 400)
DTYPES = ("float64", "float32")
GENERATED = profiles(
    max_step=300,
    max_event_length=6,
    max_nonfinite=2,
    divergence=True,
    noise=True,
    spike_factor=(2.0, 10.0),
    flagged_only=False,
)
HYPOTHESIS = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@contextmanager
def quiet() -> Iterator[None]:
    """The stacks warn (NaN dropped, missing CUDA extensions); not our concern here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def importorskip(module: str, package: str) -> Any:
    with quiet():
        return pytest.importorskip(module, reason=f"{package} is not installed (CI installs it)")


def ours(name: str, losses: np.ndarray, dtype: str, params: dict[str, Any]) -> list[int]:
    rule = get_rule(name, dtype=dtype, **params)
    return [int(s) for s in detect_spikes(losses, rule).spike_steps]


# -- drivers of the real classes ----------------------------------------------------------


def lightning_flags(losses: np.ndarray, dtype: str, params: dict[str, Any]) -> list[int]:
    torch = importorskip("torch", "torch")
    spike = importorskip("lightning.fabric.utilities.spike", "lightning")

    class Strategy:
        root_device = torch.device("cpu")

        def barrier(self) -> None:
            pass

        def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
            return decision

    fabric = types.SimpleNamespace(strategy=Strategy(), global_rank=0)
    flagged = []
    with quiet(), tempfile.TemporaryDirectory() as tmp:
        detector = spike.SpikeDetection(exclude_batches_path=tmp, **params)
        for index, loss in enumerate(losses.tolist()):
            tensor = torch.tensor(loss, dtype=getattr(torch, dtype))
            try:
                detector.on_train_batch_end(fabric, tensor, None, index)
            except spike.TrainingSpikeException:
                flagged.append(index + 1)
    return flagged


def megatron_flags(losses: np.ndarray, dtype: str, params: dict[str, Any]) -> list[int]:
    torch = importorskip("torch", "torch")
    rsm = importorskip("megatron.core.rerun_state_machine", "megatron-core")
    params = {"threshold": 10, **params}  # pretrain_gpt.py's SPIKY_LOSS_FACTOR
    with quiet():
        machine = rsm.RerunStateMachine()
        return [
            index + 1
            for index, loss in enumerate(losses.tolist())
            if machine.is_unexpectedly_large(
                torch.tensor(loss, dtype=getattr(torch, dtype)), context="loss", **params
            )
        ]


def olmo_skip_flags(losses: np.ndarray, dtype: str, params: dict[str, Any]) -> list[int]:
    torch = importorskip("torch", "torch")
    module = importorskip("olmo_core.optim.skip_step_optimizer", "ai2-olmo-core")
    flagged = []
    with quiet():
        optimizer = module.SkipStepOptimizer([torch.nn.Parameter(torch.zeros(1))], {}, **params)
        for index, loss in enumerate(losses.tolist()):
            optimizer.latest_loss = torch.tensor(loss, dtype=getattr(torch, dtype))
            if float(optimizer.step_skipped) == 1.0:
                flagged.append(index + 1)
    return flagged


def olmo_stability_flags(losses: np.ndarray, dtype: str, params: dict[str, Any]) -> list[int]:
    module = importorskip("olmo_core.train.callbacks.stability_monitor", "ai2-olmo-core")
    callback = module.StabilityMonitorCallback(**params)
    flagged = []
    for index, loss in enumerate(np.asarray(losses, dtype=dtype).tolist()):
        before = callback._total_spike_count
        callback.pre_log_metrics(index + 1, {callback.loss_metric_name: loss})
        if callback._total_spike_count > before:
            flagged.append(index + 1)
    return flagged


Driver = Callable[[np.ndarray, str, dict[str, Any]], list[int]]
#: preset name -> (driver, dtypes, parameter grid in the stack's names)
STACKS: dict[str, tuple[Driver, tuple[str, ...], list[dict[str, Any]]]] = {
    "lightning": (
        lightning_flags,
        DTYPES,
        [
            {},
            {"window": 3},
            {"warmup": 0},
            {"warmup": 5, "rtol": 0.5},
            {"finite_only": False},
            {"atol": 0.5, "rtol": None},
            {"mode": "max"},
        ],
    ),
    "megatron": (
        megatron_flags,
        DTYPES,
        [{}, {"threshold": 2.0, "num_samples": 5}, {"threshold": 1.5, "num_samples": 1}],
    ),
    "olmo-skip-step": (
        olmo_skip_flags,
        DTYPES,
        [
            {},
            {"rolling_interval_length": 6, "sigma_factor": 2},
            {"rolling_interval_length": 3, "sigma_factor": 1},
            {"rolling_interval_length": 40, "sigma_factor": 3},
        ],
    ),
    "olmo-stability": (
        olmo_stability_flags,
        DTYPES,
        [
            {},
            {"window_size": 5, "threshold_std": 2.0},
            {"window_size": 2, "threshold_std": 0.5},
            {"window_size": 40, "threshold_std": 3.0},
        ],
    ),
}


def compare(name: str, losses: np.ndarray, dtype: str) -> None:
    driver, _, grid = STACKS[name]
    for params in grid:
        real = driver(losses, dtype, params)
        assert ours(name, losses, dtype, params) == real, (name, dtype, params, losses.tolist())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("steps", LENGTHS)
@pytest.mark.parametrize("profile", available_profiles())
@pytest.mark.parametrize("name", list(STACKS))
def test_builtin_profiles_flag_what_the_stack_flags(
    name: str, profile: str, steps: int, dtype: str
) -> None:
    compare(name, make_curve(steps, profile).losses, dtype)


@pytest.mark.parametrize("name", list(STACKS))
def test_generated_profiles_flag_what_the_stack_flags(name: str) -> None:
    STACKS[name][0](np.ones(1), "float64", {})  # skips here when the stack is missing

    @HYPOTHESIS
    @given(GENERATED, st.integers(1, 320), st.sampled_from(DTYPES))
    def check(profile: Any, steps: int, dtype: str) -> None:
        compare(name, make_curve(steps, profile).losses, dtype)

    check()


@pytest.mark.parametrize("name", list(STACKS))
def test_raw_values_flag_what_the_stack_flags(name: str) -> None:
    """Arbitrary values: zeros, ties at the float32 rounding of 1.05, NaN/inf anywhere."""
    STACKS[name][0](np.ones(1), "float64", {})
    values = st.one_of(
        st.floats(0.01, 20, allow_nan=False),
        st.sampled_from([float("nan"), float("inf"), -float("inf"), 1.05, 3.15, 0.0]),
    )

    @HYPOTHESIS
    @given(st.lists(values, max_size=45), st.sampled_from(DTYPES))
    def check(losses: list[float], dtype: str) -> None:
        compare(name, np.asarray(losses, dtype=np.float64), dtype)

    check()
