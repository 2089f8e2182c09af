"""Expected outcomes of the consumers that react to a loss: early stopping and LR plateaus.

Each oracle replays one framework's decision rule over a curve (one check per step, the
curve's losses as the monitored values) with the framework's own parameter names and
defaults, and returns the step the framework acts at. A parameter the framework does not
have, or a value it refuses, is a :class:`~pytest_synthloss.SynthLossError`. Verified
against the real frameworks (``tests/test_stack_oracles.py``); the rules, the versions and
the deliberate differences are in ``docs/stacks.md``.

* :func:`early_stop_step` ``(curve, framework, **params)``: the step whose check stops
  training, or ``None``. ``"lightning"``: ``EarlyStopping`` (lightning 2.6.6); ``"keras"``:
  ``EarlyStopping`` (keras 3.15.1, the step is epoch + 1); ``"keras-terminate-on-nan"``:
  ``TerminateOnNaN``; ``"hf"``: transformers 5.24 ``EarlyStoppingCallback`` together with
  the Trainer's update of ``state.best_metric`` after each evaluation.
* :func:`lr_plateau_cuts` ``(curve, **params)``: the steps after whose
  ``scheduler.step(loss)`` torch's ``ReduceLROnPlateau`` (torch 2.13) lowered the LR.
* :func:`prune_step` ``(curve, completed, pruner, **params)``: the step at whose
  ``trial.should_prune()`` Optuna's ``MedianPruner``/``PercentilePruner`` (optuna 5.0) prunes
  a trial reporting the curve, given the completed trials' curves.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from pytest_synthloss.checks.series import LossSeries, as_series
from pytest_synthloss.checks.stack_base import finite, integer, number, real
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.text import unknown_parameter

__all__ = [
    "FRAMEWORKS",
    "PLATEAU_PARAMS",
    "PRUNERS",
    "early_stop_step",
    "lr_plateau_cuts",
    "prune_step",
]

_LIGHTNING = {
    "monitor": "val_loss",
    "min_delta": 0.0,
    "patience": 3,
    "verbose": False,
    "mode": "min",
    "strict": True,
    "check_finite": True,
    "stopping_threshold": None,
    "divergence_threshold": None,
    "check_on_train_epoch_end": None,
    "log_rank_zero_only": False,
    "dtype": "float32",
}
_KERAS = {
    "monitor": "val_loss",
    "min_delta": 0,
    "patience": 0,
    "verbose": 0,
    "mode": "auto",
    "baseline": None,
    "restore_best_weights": False,
    "start_from_epoch": 0,
}
_HF = {
    "early_stopping_patience": 1,
    "early_stopping_threshold": 0.0,
    "metric_for_best_model": "loss",
    "greater_is_better": None,
}
#: ``ReduceLROnPlateau``'s parameters and defaults, and ``lr``: the optimizer's LR (SGD's).
PLATEAU_PARAMS: dict[str, object] = {
    "mode": "min",
    "factor": 0.1,
    "patience": 10,
    "threshold": 1e-4,
    "threshold_mode": "rel",
    "cooldown": 0,
    "min_lr": 0,
    "eps": 1e-8,
    "lr": 1e-3,
}


def _params(who: str, defaults: dict[str, object], given: dict[str, object]) -> dict[str, Any]:
    message = unknown_parameter(who, given, list(defaults))
    if message:
        raise SynthLossError(message)
    return {**defaults, **given}


def _lightning(values: np.ndarray, p: dict[str, Any]) -> int | None:
    if p["mode"] not in ("min", "max"):
        raise SynthLossError(f"lightning: `mode` can be min, max, got {p['mode']!r}")
    if p["dtype"] not in ("float32", "float64"):
        raise SynthLossError(f"lightning: dtype must be 'float32' or 'float64', got {p['dtype']!r}")
    kind = np.float32 if p["dtype"] == "float32" else np.float64
    delta = finite("lightning", "min_delta", p["min_delta"]) * (1 if p["mode"] == "max" else -1)
    patience = integer("lightning", "patience", p["patience"], low=-(1 << 62), high=1 << 62)
    stop_at = number("lightning", "stopping_threshold", p["stopping_threshold"], optional=True)
    diverge = number("lightning", "divergence_threshold", p["divergence_threshold"], optional=True)
    better: Callable[[Any, Any], bool] = (
        (lambda a, b: bool(a < b)) if p["mode"] == "min" else (lambda a, b: bool(a > b))
    )
    best: Any = np.float32(math.inf if p["mode"] == "min" else -math.inf)
    wait = 0
    with np.errstate(invalid="ignore", over="ignore"):
        for index, value in enumerate(values.astype(kind)):
            if p["check_finite"] and not np.isfinite(value):
                return index
            if stop_at is not None and better(value, kind(stop_at)):
                return index
            if diverge is not None and better(-value, kind(-diverge)):
                return index
            if better(kind(value - kind(delta)), best):
                best, wait = value, 0
            else:
                wait += 1
                if wait >= patience:
                    return index
    return None


def _keras(values: np.ndarray, p: dict[str, Any]) -> int | None:
    mode = p["mode"] if p["mode"] in ("auto", "min", "max") else "auto"  # keras warns
    if mode == "auto" and str(p["monitor"]).removeprefix("val_") != "loss":
        raise SynthLossError(
            f"keras: EarlyStopping callback received monitor={p['monitor']}, but Keras isn't "
            "able to automatically determine whether that metric should be maximized or "
            "minimized. Pass `mode='max'` or `mode='min'`"
        )
    greater = mode == "max"
    delta = abs(finite("keras", "min_delta", p["min_delta"])) * (1 if greater else -1)
    patience = integer("keras", "patience", p["patience"], low=-(1 << 62), high=1 << 62)
    start = integer(
        "keras", "start_from_epoch", p["start_from_epoch"], low=-(1 << 62), high=1 << 62
    )
    baseline = number("keras", "baseline", p["baseline"], optional=True)

    def improves(value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        a, b = np.float32(value - delta), np.float32(reference)  # ops.less/greater in floatx
        return bool(a > b) if greater else bool(a < b)

    best: float | None = None
    wait = 0
    with np.errstate(invalid="ignore", over="ignore"):
        for epoch, value in enumerate(values.tolist()):
            if epoch < start:
                continue
            wait += 1
            if improves(value, best):
                best = value
                if baseline is None or improves(value, baseline):
                    wait = 0
                continue
            if wait >= patience and epoch > 0:
                return epoch
    return None


def _hf(values: np.ndarray, p: dict[str, Any]) -> int | None:
    patience = integer(
        "hf", "early_stopping_patience", p["early_stopping_patience"], low=-(1 << 62), high=1 << 62
    )
    if p["early_stopping_threshold"] is None:
        raise SynthLossError(
            "hf: early_stopping_threshold=None makes EarlyStoppingCallback raise TypeError "
            "at the first improvement"
        )
    threshold = finite("hf", "early_stopping_threshold", p["early_stopping_threshold"])
    greater = p["greater_is_better"]
    if greater is None:  # TrainingArguments' default
        greater = not str(p["metric_for_best_model"]).endswith("loss")
    best: float | None = None
    counter = 0
    for index, value in enumerate(values.tolist()):
        improved = best is None or (
            ((value > best) if greater else (value < best)) and abs(value - best) > threshold
        )
        if improved:
            counter = 0
        else:
            counter += 1
        if counter >= patience:
            return index
        if best is None:  # Trainer._determine_best_metric, after on_evaluate
            best = -math.inf if greater else math.inf
        if (value > best) if greater else (value < best):
            best = value
    return None


def _terminate_on_nan(values: np.ndarray, p: dict[str, Any]) -> int | None:
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) if bad.size else None


_FRAMEWORKS: dict[
    str, tuple[dict[str, object], Callable[[np.ndarray, dict[str, Any]], int | None]]
] = {
    "lightning": (_LIGHTNING, _lightning),
    "keras": (_KERAS, _keras),
    "keras-terminate-on-nan": ({"raise_error": False}, _terminate_on_nan),
    "hf": (_HF, _hf),
}
#: The frameworks :func:`early_stop_step` knows.
FRAMEWORKS: tuple[str, ...] = tuple(_FRAMEWORKS)


def early_stop_step(curve: LossSeries, framework: str, **params: object) -> int | None:
    """The step whose check makes ``framework`` stop training, or ``None`` (see module docs).

    ``params`` are the framework's own (e.g. ``patience``, ``min_delta``, ``mode``,
    ``check_finite``, ``stopping_threshold``, ``baseline``, ``start_from_epoch``,
    ``early_stopping_threshold``). For ``"lightning"``, ``dtype`` (``"float32"``, what
    ``self.log`` makes of a float, or ``"float64"``) is the logged tensor's dtype.
    """
    if framework not in _FRAMEWORKS:
        raise SynthLossError(
            f"unknown framework {framework!r}; known frameworks: {', '.join(FRAMEWORKS)}"
        )
    defaults, oracle = _FRAMEWORKS[framework]
    series = as_series(curve)
    index = oracle(np.asarray(series.losses, np.float64), _params(framework, defaults, params))
    return None if index is None else series.step_at(index)


def lr_plateau_cuts(curve: LossSeries, **params: object) -> tuple[int, ...]:
    """The steps after whose ``ReduceLROnPlateau.step(loss)`` the LR was lowered.

    ``params``: ``mode``, ``factor``, ``patience``, ``threshold``, ``threshold_mode``,
    ``cooldown``, ``min_lr`` (a number, or a one-item list: one param group), ``eps``, and
    ``lr``, the optimizer's starting LR (1e-3, SGD's default).
    """
    p = _params("ReduceLROnPlateau", PLATEAU_PARAMS, params)
    factor = finite("ReduceLROnPlateau", "factor", p["factor"])
    if factor >= 1.0:
        raise SynthLossError("ReduceLROnPlateau: Factor should be < 1.0.")
    if p["mode"] not in ("min", "max"):
        raise SynthLossError(f"ReduceLROnPlateau: mode {p['mode']} is unknown!")
    if p["threshold_mode"] not in ("rel", "abs"):
        raise SynthLossError(f"ReduceLROnPlateau: threshold mode {p['threshold_mode']} is unknown!")
    min_lr = p["min_lr"]
    if isinstance(min_lr, Sequence) and not isinstance(min_lr, str):
        if len(min_lr) != 1:
            raise SynthLossError(f"ReduceLROnPlateau: expected 1 min_lrs, got {len(min_lr)}")
        min_lr = min_lr[0]
    floor = real("ReduceLROnPlateau", "min_lr", min_lr)
    threshold = real("ReduceLROnPlateau", "threshold", p["threshold"])
    eps = real("ReduceLROnPlateau", "eps", p["eps"])
    lr = real("ReduceLROnPlateau", "lr", p["lr"])
    patience = integer("ReduceLROnPlateau", "patience", p["patience"], low=-(1 << 62), high=1 << 62)
    cooldown = integer("ReduceLROnPlateau", "cooldown", p["cooldown"], low=-(1 << 62), high=1 << 62)
    series = as_series(curve)
    minimize, relative = p["mode"] == "min", p["threshold_mode"] == "rel"
    best = math.inf if minimize else -math.inf
    bad = cool = 0
    cuts: list[int] = []
    for index, value in enumerate(np.asarray(series.losses, np.float64).tolist()):
        if minimize:
            better = value < (best * (1.0 - threshold) if relative else best - threshold)
        else:
            better = value > (best * (threshold + 1.0) if relative else best + threshold)
        if better:
            best, bad = value, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            new = max(lr * factor, floor)
            if lr - new > eps:
                lr = new
                cuts.append(series.step_at(index))
            cool, bad = cooldown, 0
    return tuple(cuts)


_PRUNER_PARAMS: dict[str, object] = {
    "n_startup_trials": 5,
    "n_warmup_steps": 0,
    "interval_steps": 1,
    "n_min_trials": 1,
}
#: The pruners :func:`prune_step` knows, with their parameters and defaults.
PRUNERS: dict[str, dict[str, object]] = {
    "median": dict(_PRUNER_PARAMS),
    "percentile": {"percentile": None, **_PRUNER_PARAMS},
}


def _pruner_params(pruner: str, given: dict[str, object]) -> tuple[float, int, int, int, int]:
    if pruner not in PRUNERS:
        raise SynthLossError(f"unknown pruner {pruner!r}; known pruners: {', '.join(PRUNERS)}")
    p = _params(f"optuna {pruner}", PRUNERS[pruner], given)
    percentile = 50.0 if pruner == "median" else p["percentile"]
    if percentile is None:
        raise SynthLossError("optuna percentile: percentile is required (0..100)")
    percentile = real("optuna", "percentile", percentile)
    if not 0.0 <= percentile <= 100:
        raise SynthLossError(
            f"optuna: Percentile must be between 0 and 100 inclusive, got {percentile}"
        )
    startup = integer("optuna", "n_startup_trials", p["n_startup_trials"], low=0, high=1 << 62)
    warmup = integer("optuna", "n_warmup_steps", p["n_warmup_steps"], low=0, high=1 << 62)
    interval = integer("optuna", "interval_steps", p["interval_steps"], low=1, high=1 << 62)
    least = integer("optuna", "n_min_trials", p["n_min_trials"], low=1, high=1 << 62)
    return percentile, startup, warmup, interval, least


def prune_step(
    curve: LossSeries,
    completed: Iterable[LossSeries],
    pruner: str = "median",
    *,
    direction: str = "minimize",
    **params: object,
) -> int | None:
    """The step at which Optuna's pruner prunes a trial that reports ``curve``, or ``None``.

    The trial calls ``trial.report(loss, step)`` then ``trial.should_prune()`` at each step
    of ``curve``; ``completed`` are the curves of the study's completed trials (their
    intermediate values). ``pruner`` is ``"median"`` (``MedianPruner``) or ``"percentile"``
    (``PercentilePruner``, ``percentile=`` required); ``params`` are Optuna's
    (``n_startup_trials``, ``n_warmup_steps``, ``interval_steps``, ``n_min_trials``).
    At each check the trial's best value so far (NaN if all are NaN: prune) is compared with
    the percentile of the completed trials' values at the same step.
    """
    if direction not in ("minimize", "maximize"):
        raise SynthLossError(
            f"optuna: direction must be 'minimize' or 'maximize', got {direction!r}"
        )
    percentile, startup, warmup, interval, least = _pruner_params(pruner, params)
    others = []
    for other in completed:
        done = as_series(other)
        others.append(dict(zip(done.steps.tolist(), done.losses.tolist(), strict=True)))
    if not others or len(others) < startup:
        return None
    maximize = direction == "maximize"
    series = as_series(curve)
    best = math.nan
    previous = -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy on all-NaN slices, as in Optuna
        for step, value in zip(series.steps.tolist(), series.losses.tolist(), strict=True):
            best = float(np.nanmax([best, value]) if maximize else np.nanmin([best, value]))
            last, previous = previous, step
            if step < warmup:
                continue
            if not last < (step - warmup) // interval * interval + warmup:
                continue  # not the first report in this pruning interval
            if math.isnan(best):
                return int(step)
            at_step = [done[step] for done in others if step in done]
            if len(at_step) < least:
                continue
            level = float(
                np.nanpercentile(
                    np.array(at_step, dtype=float), 100 - percentile if maximize else percentile
                )
            )
            if math.isnan(level):
                continue
            if (best < level) if maximize else (best > level):
                return int(step)
    return None
