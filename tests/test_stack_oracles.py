"""Consumer oracles: exact outcomes, bad parameters, and the real frameworks step by step.

The differential tests drive Lightning ``EarlyStopping._run_early_stopping_check`` (float32
and float64 metric tensors), Keras ``EarlyStopping.on_epoch_end`` and
``TerminateOnNaN.on_batch_end`` (``KERAS_BACKEND=torch``), transformers'
``EarlyStoppingCallback.on_evaluate`` followed by ``Trainer._determine_best_metric``, and
torch ``ReduceLROnPlateau.step``, and Optuna's ``MedianPruner``/``PercentilePruner`` (a
study with the completed trials added, then ``trial.report``/``should_prune``), on every
built-in profile at several lengths and on
Hypothesis profiles and raw values, for a grid of each framework's parameters. Without a
framework its test skips with the reason; ``.ci/run`` installs them.
"""

from __future__ import annotations

import math
import os
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

from pytest_synthloss import SynthLossError, available_profiles, make_curve
from pytest_synthloss.checks.oracles import FRAMEWORKS, early_stop_step, lr_plateau_cuts, prune_step
from pytest_synthloss.exports.strategies import profiles

LENGTHS = (1, 5, 20, 60, 150)
GENERATED = profiles(
    max_step=150,
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
VALUES = st.one_of(
    st.floats(0.01, 20, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 1.05, 1.0500001, 3.15, 0.0]),
)


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def importorskip(module: str, package: str) -> Any:
    with quiet():
        return pytest.importorskip(module, reason=f"{package} is not installed (CI installs it)")


# -- drivers of the real frameworks ----------------------------------------------------------


def real_lightning(values: list[float], params: dict[str, Any]) -> int | None:
    torch = importorskip("torch", "torch")
    callbacks = importorskip("lightning.pytorch.callbacks", "lightning")
    params = dict(params)
    dtype = getattr(torch, params.pop("dtype", "float32"))

    class Strategy:
        def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
            return decision

    with quiet():
        callback = callbacks.EarlyStopping(monitor="loss", **params)
        trainer = types.SimpleNamespace(
            callback_metrics={}, fast_dev_run=False, strategy=Strategy(), should_stop=False
        )
        for index, value in enumerate(values):
            trainer.callback_metrics = {"loss": torch.tensor(value, dtype=dtype)}
            trainer.current_epoch = index
            callback._run_early_stopping_check(trainer)
            if trainer.should_stop:
                return index + 1
    return None


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return importorskip("keras", "keras")


def real_keras(values: list[float], params: dict[str, Any]) -> int | None:
    keras = _keras()
    model = types.SimpleNamespace(stop_training=False)
    with quiet():
        callback = keras.callbacks.EarlyStopping(monitor="loss", **params)
        callback.set_model(model)
        callback.on_train_begin()
        for epoch, value in enumerate(values):
            callback.on_epoch_end(epoch, {"loss": value})
            if model.stop_training:
                return epoch + 1
    return None


def real_terminate_on_nan(values: list[float], params: dict[str, Any]) -> int | None:
    keras = _keras()
    model = types.SimpleNamespace(stop_training=False)
    callback = keras.callbacks.TerminateOnNaN(**params)
    callback.set_model(model)
    with quiet():
        for batch, value in enumerate(values):
            callback.on_batch_end(batch, {"loss": value})
            if model.stop_training:
                return batch + 1
    return None


_HF_ARGS: dict[bool, Any] = {}


def real_hf(values: list[float], params: dict[str, Any]) -> int | None:
    transformers = importorskip("transformers", "transformers")
    params = dict(params)
    greater = params.pop("greater_is_better", False)
    with quiet():
        if greater not in _HF_ARGS:
            _HF_ARGS[greater] = transformers.TrainingArguments(
                output_dir=tempfile.mkdtemp(),
                metric_for_best_model="loss",
                greater_is_better=greater,
                eval_strategy="steps",
                report_to=[],
            )
        args = _HF_ARGS[greater]
        callback = transformers.EarlyStoppingCallback(**params)
        state, control = transformers.TrainerState(), transformers.TrainerControl()
        trainer = types.SimpleNamespace(args=args, state=state)
        for index, value in enumerate(values):
            metrics = {"eval_loss": value}
            callback.on_evaluate(args, state, control, metrics=metrics)
            if control.should_training_stop:
                return index + 1
            transformers.Trainer._determine_best_metric(trainer, metrics=metrics, trial=None)
    return None


def real_plateau(values: list[float], params: dict[str, Any]) -> tuple[int, ...]:
    torch = importorskip("torch", "torch")
    params = dict(params)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=params.pop("lr", 1e-3))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **params)
    cuts = []
    for index, value in enumerate(values):
        before = optimizer.param_groups[0]["lr"]
        scheduler.step(value)
        if optimizer.param_groups[0]["lr"] < before:
            cuts.append(index + 1)
    return tuple(cuts)


Real = Callable[[list[float], dict[str, Any]], object]
GRIDS: dict[str, tuple[Real, list[dict[str, Any]]]] = {
    "lightning": (
        real_lightning,
        [
            {**params, "dtype": dtype}
            for dtype in ("float32", "float64")
            for params in (
                {},
                {"patience": 1},
                {"min_delta": 0.05, "patience": 2},
                {"check_finite": False, "patience": 2},
                {"stopping_threshold": 1.2},
                {"divergence_threshold": 3.0, "patience": 5},
                {"mode": "max", "patience": 2},
                {"min_delta": 1e-9, "patience": 4},
            )
        ],
    ),
    "keras": (
        real_keras,
        [
            {},
            {"patience": 2},
            {"min_delta": 0.05, "patience": 2},
            {"baseline": 1.5, "patience": 3},
            {"start_from_epoch": 3, "patience": 1},
            {"mode": "max", "patience": 1},
            {"min_delta": 1e-9, "patience": 3},
        ],
    ),
    "keras-terminate-on-nan": (real_terminate_on_nan, [{}]),
    "hf": (
        real_hf,
        [
            {},
            {"early_stopping_patience": 3},
            {"early_stopping_threshold": 0.05, "early_stopping_patience": 2},
            {"greater_is_better": True, "early_stopping_patience": 2},
        ],
    ),
    "plateau": (
        real_plateau,
        [
            {},
            {"patience": 2},
            {"patience": 0, "cooldown": 2},
            {"threshold": 0.01, "threshold_mode": "abs", "patience": 1},
            {"mode": "max", "patience": 1},
            {"factor": 0.5, "patience": 1, "min_lr": 2e-4},
            {"patience": 1, "eps": 1e-3},
        ],
    ),
}


def oracle(name: str, values: list[float], params: dict[str, Any]) -> object:
    if name == "plateau":
        return lr_plateau_cuts(values, **params)
    return early_stop_step(values, name, **params)


def compare(name: str, values: list[float]) -> None:
    real, grid = GRIDS[name]
    for params in grid:
        assert oracle(name, values, params) == real(values, params), (name, params, values)


@pytest.mark.parametrize("steps", LENGTHS)
@pytest.mark.parametrize("profile", available_profiles())
@pytest.mark.parametrize("name", list(GRIDS))
def test_builtin_profiles_match_the_framework(name: str, profile: str, steps: int) -> None:
    compare(name, make_curve(steps, profile).losses.tolist())


@pytest.mark.parametrize("name", list(GRIDS))
def test_generated_curves_match_the_framework(name: str) -> None:
    GRIDS[name][0]([1.0], GRIDS[name][1][0])  # skips here when the framework is missing

    @HYPOTHESIS
    @given(GENERATED, st.integers(1, 160))
    def check(profile: Any, steps: int) -> None:
        compare(name, make_curve(steps, profile).losses.tolist())

    check()


@pytest.mark.parametrize("name", list(GRIDS))
def test_raw_values_match_the_framework(name: str) -> None:
    GRIDS[name][0]([1.0], GRIDS[name][1][0])

    @HYPOTHESIS
    @given(st.lists(VALUES, min_size=1, max_size=25))
    def check(values: list[float]) -> None:
        compare(name, [float(v) for v in values])

    check()


# -- exact outcomes without the frameworks ---------------------------------------------------


def test_patience_means_different_things() -> None:
    plateau = [2.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5]
    assert early_stop_step(plateau, "lightning", patience=2) == 4  # wait_count >= 2
    assert early_stop_step(plateau, "keras", patience=2) == 4
    assert early_stop_step(plateau, "hf", early_stopping_patience=2) == 4
    assert lr_plateau_cuts(plateau, patience=2) == (5,)  # num_bad_epochs > 2


def test_nan_is_a_stop_for_lightning_and_keras_terminate_but_bad_for_the_others() -> None:
    curve = make_curve(20, "nan")
    assert early_stop_step(curve, "lightning") == 12
    assert early_stop_step(curve, "keras-terminate-on-nan") == 12
    assert early_stop_step(curve, "keras", patience=3) is None  # NaN is no improvement, then 1.27..
    assert early_stop_step(curve, "lightning", check_finite=False) is None
    assert early_stop_step(curve, "hf") == 12


def test_steps_follow_the_curve() -> None:
    curve = make_curve(30, "plateau", start_step=10)
    on_array = early_stop_step(curve.losses, "lightning", patience=1)
    assert on_array is not None
    assert early_stop_step(curve, "lightning", patience=1) == on_array + 9


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: early_stop_step([1.0], "pl"),
            "unknown framework 'pl'; known frameworks: lightning, keras, "
            "keras-terminate-on-nan, hf",
        ),
        (
            lambda: early_stop_step([1.0], "keras", patiense=2),
            "keras: unknown parameter 'patiense'; its parameters: monitor, min_delta, patience, "
            "verbose, mode, baseline, restore_best_weights, start_from_epoch "
            "(did you mean 'patience'?)",
        ),
        (
            lambda: early_stop_step([1.0], "lightning", mode="avg"),
            "lightning: `mode` can be min, max, got 'avg'",
        ),
        (
            lambda: early_stop_step([1.0], "hf", early_stopping_threshold=None),
            "hf: early_stopping_threshold=None makes EarlyStoppingCallback raise TypeError at "
            "the first improvement",
        ),
        (lambda: lr_plateau_cuts([1.0], factor=1.0), "ReduceLROnPlateau: Factor should be < 1.0."),
        (
            lambda: lr_plateau_cuts([1.0], threshold_mode="pct"),
            "ReduceLROnPlateau: threshold mode pct is unknown!",
        ),
        (
            lambda: lr_plateau_cuts([1.0], min_lr=[0.0, 0.1]),
            "ReduceLROnPlateau: expected 1 min_lrs, got 2",
        ),
        (
            lambda: lr_plateau_cuts([1.0], last_epoch=3),
            "ReduceLROnPlateau: unknown parameter 'last_epoch'; its parameters: mode, factor, "
            "patience, threshold, threshold_mode, cooldown, min_lr, eps, lr",
        ),
    ],
)
def test_bad_parameters(call: Callable[[], object], message: str) -> None:
    with pytest.raises(SynthLossError) as excinfo:
        call()
    assert str(excinfo.value) == message


def test_frameworks() -> None:
    assert FRAMEWORKS == ("lightning", "keras", "keras-terminate-on-nan", "hf")
    assert np.isnan(make_curve(20, "nan").losses[11])


# -- Optuna pruners --------------------------------------------------------------------------

PRUNER_GRID: list[tuple[str, str, dict[str, Any]]] = [
    ("median", "minimize", {}),
    ("median", "minimize", {"n_startup_trials": 2, "n_warmup_steps": 3, "interval_steps": 2}),
    ("median", "maximize", {"n_startup_trials": 1}),
    ("percentile", "minimize", {"percentile": 25.0, "n_startup_trials": 3, "n_min_trials": 3}),
    ("percentile", "minimize", {"percentile": 90.0, "n_startup_trials": 0}),
]


def real_prune(
    values: list[float],
    completed: list[list[float]],
    pruner: str,
    direction: str,
    params: dict[str, Any],
) -> int | None:
    optuna = importorskip("optuna", "optuna")
    with quiet():
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        kind = (
            optuna.pruners.MedianPruner if pruner == "median" else optuna.pruners.PercentilePruner
        )
        study = optuna.create_study(direction=direction, pruner=kind(**params))
        for done in completed:
            study.add_trial(
                optuna.trial.create_trial(
                    value=0.0,
                    intermediate_values={step: v for step, v in enumerate(done, start=1)},
                )
            )
        trial = study.ask()
        for step, value in enumerate(values, start=1):
            trial.report(value, step)
            if trial.should_prune():
                return step
    return None


def compare_pruners(values: list[float], completed: list[list[float]]) -> None:
    for pruner, direction, params in PRUNER_GRID:
        ours = prune_step(values, completed, pruner, direction=direction, **params)
        real = real_prune(values, completed, pruner, direction, params)
        assert ours == real, (pruner, direction, params, values, completed)


@pytest.mark.parametrize("steps", LENGTHS)
@pytest.mark.parametrize("profile", available_profiles())
def test_pruners_match_optuna_on_builtin_profiles(profile: str, steps: int) -> None:
    others = [
        make_curve(steps + 3, p).losses.tolist() for p in available_profiles() if p != profile
    ]
    compare_pruners(make_curve(steps, profile).losses.tolist(), others)


def test_pruners_match_optuna_on_generated_curves() -> None:
    real_prune([1.0], [], "median", "minimize", {})  # skips here without optuna

    @HYPOTHESIS
    @given(
        st.lists(st.tuples(GENERATED, st.integers(1, 60)), min_size=1, max_size=6),
        st.lists(st.lists(VALUES, min_size=1, max_size=30), max_size=6),
    )
    def check(trials: list[tuple[Any, int]], raw: list[list[float]]) -> None:
        curves = [make_curve(steps, profile).losses.tolist() for profile, steps in trials]
        compare_pruners(curves[0], curves[1:] + raw)

    check()


def test_prune_step_bad_parameters() -> None:
    with pytest.raises(SynthLossError, match=r"^unknown pruner 'hyperband'; known pruners: "):
        prune_step([1.0], [], "hyperband")
    with pytest.raises(SynthLossError, match=r"^optuna percentile: percentile is required"):
        prune_step([1.0], [], "percentile")
    with pytest.raises(SynthLossError, match=r"^optuna median: unknown parameter 'percentile'"):
        prune_step([1.0], [], "median", percentile=10.0)
    with pytest.raises(SynthLossError, match=r"^optuna: interval_steps must be an integer from 1"):
        prune_step([1.0], [], interval_steps=0)
