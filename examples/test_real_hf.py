"""transformers' own ``EarlyStoppingCallback``, tested against ``early_stop_step(curve, "hf")``.

The Trainer calls the callback's ``on_evaluate`` before it updates ``state.best_metric``, so
each evaluation is compared with the best *before* it; this replays both halves. Skipped,
with the reason shown, without transformers.
"""

from __future__ import annotations

import tempfile
import types
import warnings

import pytest

pytest.importorskip("transformers", reason="needs transformers")

import transformers

from pytest_synthloss import LossCurve
from pytest_synthloss.checks.oracles import early_stop_step


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_callback_stops_where_the_oracle_says(
    synthloss_curve: LossCurve, patience: int
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = transformers.TrainingArguments(
            output_dir=tempfile.mkdtemp(), metric_for_best_model="loss", report_to=[]
        )
    callback = transformers.EarlyStoppingCallback(early_stopping_patience=patience)
    state, control = transformers.TrainerState(), transformers.TrainerControl()
    trainer = types.SimpleNamespace(args=args, state=state)
    stopped = None
    for step, loss in synthloss_curve:
        metrics = {"eval_loss": loss}
        callback.on_evaluate(args, state, control, metrics=metrics)
        if control.should_training_stop:
            stopped = step
            break
        transformers.Trainer._determine_best_metric(trainer, metrics=metrics, trial=None)
    expected = early_stop_step(synthloss_curve, "hf", early_stopping_patience=patience)
    assert stopped == expected
