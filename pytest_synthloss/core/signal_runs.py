"""Built-in runs with linked signals (:mod:`pytest_synthloss.core.signals`).

``fp16-overflow`` is an LLM pre-training run in fp16 under dynamic loss scaling, as
``torch.amp.GradScaler`` runs it: the first steps overflow at the initial scale of 2**16
(each one skipped, the scale halved), the scale then doubles every 100 overflow-free
steps until gradients overflow again. Its grad norm spikes one step before its loss
spike, its first step is slow (compilation), every 250th step runs an eval, and step 700
stalls for ten minutes.
"""

from __future__ import annotations

from pytest_synthloss.core.loss_scale import LossScale
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.realistic import LLM_TREND
from pytest_synthloss.core.shapes import Cosine, Shape, Spike, TrainingNoise
from pytest_synthloss.core.signals import Signals

__all__ = ["FP16_OVERFLOW", "SIGNAL_RUNS"]

FP16_OVERFLOW = Profile(
    name="fp16-overflow",
    shape=Shape(
        trend=LLM_TREND,
        warmup=50,
        schedule=Cosine(first=51, last=1000, final=0.1),
        anneal=0.2,
        noise=TrainingNoise(sigma=0.02, seed=19, ar=0.5),
        precision="fp16",
        spikes=(Spike(step=420, peak=9.0),),
    ),
    signals=Signals(
        seed=19,
        peak_lr=3e-4,
        grad_norm=1.0,
        grad_noise=0.1,
        grad_spike=10.0,
        step_seconds=0.5,
        step_jitter=0.05,
        first_step_seconds=30.0,
        eval_every=250,
        eval_seconds=20.0,
        stall=(700, 600.0),
        loss_scale=LossScale(
            overflows=(1, 2, 3, 4, 5, 212, 213, 530, 531, 532, 860),
            growth_interval=100,
        ),
    ),
    steps=1000,
    description=(
        "LLM pre-training in fp16 with dynamic loss scaling (GradScaler, growth every 100 "
        "steps): overflows at steps 1-5, 212-213, 530-532 and 860 skip the step and halve "
        "the scale; a grad-norm spike at step 419 before the loss spike at 420 (9); "
        "a slow first step, evals every 250 steps and a 600 s stall at step 700."
    ),
)

#: The built-in runs with linked signals, in the order ``available_profiles()`` lists them.
SIGNAL_RUNS = (FP16_OVERFLOW,)
