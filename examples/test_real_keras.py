"""Keras's own ``EarlyStopping`` and ``TerminateOnNaN`` (torch backend), tested against the
oracles ``early_stop_step(curve, "keras", ...)`` and ``"keras-terminate-on-nan"``.

Keras counts ``wait`` before it checks, compares in float32 and never stops at epoch 0; the
oracle knows. Skipped, with the reason shown, without keras.
"""

from __future__ import annotations

import os
import types

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("keras", reason="needs keras (with KERAS_BACKEND=torch)")

import keras

from pytest_synthloss import LossCurve
from pytest_synthloss.checks.oracles import early_stop_step


def fit(callback: keras.callbacks.Callback, curve: LossCurve, per_batch: bool) -> int | None:
    """Feed the curve as epochs (or batches) to ``callback``; the step it stops at."""
    model = types.SimpleNamespace(stop_training=False)
    callback.set_model(model)
    callback.on_train_begin()
    for index, (step, loss) in enumerate(curve):
        if per_batch:
            callback.on_batch_end(index, {"loss": loss})
        else:
            callback.on_epoch_end(index, {"loss": loss})
        if model.stop_training:
            return step
    return None


@pytest.mark.parametrize("patience", [0, 2])
def test_early_stopping_stops_where_the_oracle_says(
    synthloss_curve: LossCurve, patience: int
) -> None:
    callback = keras.callbacks.EarlyStopping(monitor="loss", patience=patience, baseline=2.0)
    stopped = fit(callback, synthloss_curve, per_batch=False)
    assert stopped == early_stop_step(synthloss_curve, "keras", patience=patience, baseline=2.0)


def test_terminate_on_nan_stops_at_the_first_non_finite_loss(synthloss_curve: LossCurve) -> None:
    stopped = fit(keras.callbacks.TerminateOnNaN(), synthloss_curve, per_batch=True)
    assert stopped == early_stop_step(synthloss_curve, "keras-terminate-on-nan")
    first = synthloss_curve.nonfinite_steps[0] if synthloss_curve.nonfinite_steps else None
    assert stopped == first
