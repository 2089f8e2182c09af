"""Built-in profiles that look like real training runs (power laws, warm-up, schedules).

Each declares its natural length (``steps``): fixtures, ``make_curve`` and the CLI run it
that long when no length is given. Their ground truth (spikes, the NaN, the divergence and
the benign warm-up, schedule and epoch events) is derived from the fields, as for every
profile; see :mod:`pytest_synthloss.core.shapes` for the formulas.
"""

from __future__ import annotations

import math

from pytest_synthloss.core.events import Divergence
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.shapes import (
    WSD,
    Cosine,
    Epochs,
    Exponential,
    PowerLaw,
    Shape,
    Spike,
    StepDecay,
    TrainingNoise,
)

__all__ = [
    "FINETUNE_EPOCHS",
    "LLM_PRETRAIN",
    "LLM_PRETRAIN_TROUBLE",
    "LLM_TREND",
    "REALISTIC",
    "SLOW_DIVERGENCE",
    "STEP_DECAY",
    "WSD_COOLDOWN",
]

#: The pre-training power law the LLM-like built-ins share: 2 + 8 / (tau + 10) ** 0.35.
LLM_TREND = PowerLaw(E=2.0, A=8.0, alpha=0.35, t0=10.0)

_PRETRAIN = Shape(
    trend=LLM_TREND,
    warmup=50,
    schedule=Cosine(first=51, last=1000, final=0.1),
    anneal=0.2,
    noise=TrainingNoise(sigma=0.02, seed=14, ar=0.5),
)

LLM_PRETRAIN = Profile(
    name="llm-pretrain",
    shape=_PRETRAIN,
    steps=1000,
    description=(
        "LLM pre-training, 1000 steps: a 50-step linear warm-up (a 'warmup' event), the power "
        "law 2 + 8 / (tau + 10) ** 0.35, a cosine decay to 10% of the peak LR, 2% "
        "heteroscedastic AR(1) noise (seed 14, ar 0.5); no spikes."
    ),
)
LLM_PRETRAIN_TROUBLE = Profile(
    name="llm-pretrain-trouble",
    shape=Shape(
        trend=_PRETRAIN.trend,
        warmup=_PRETRAIN.warmup,
        schedule=_PRETRAIN.schedule,
        anneal=_PRETRAIN.anneal,
        noise=_PRETRAIN.noise,
        precision="bf16",
        spikes=(
            Spike(step=300, peak=12.0, tail=40),
            Spike(step=450, peak=11.0, tail=30, level=1.05),
            Spike(step=600, peak=11.0, width=2),
        ),
    ),
    nonfinite={800: math.nan},
    steps=1000,
    description=(
        "As llm-pretrain, logged in bf16, with trouble: a spike at step 300 (12) with a "
        "40-step recovery tail, one at 450 (11) recovering to a 5% higher level, a "
        "two-step spike at 600-601 (11) and a NaN at step 800."
    ),
)
WSD_COOLDOWN = Profile(
    name="wsd",
    shape=Shape(
        trend=LLM_TREND,
        warmup=50,
        schedule=WSD(decay_start=801, decay_steps=200, final=0.0),
        anneal=0.4,
        noise=TrainingNoise(sigma=0.015, seed=15),
    ),
    steps=1000,
    description=(
        "Warmup-stable-decay, 1000 steps: a 50-step warm-up, a stable LR, then the cool-down "
        "from step 801 to 1000 (a 'schedule' event) drops the loss by 0.4; 1.5% noise."
    ),
)
FINETUNE_EPOCHS = Profile(
    name="finetune-epochs",
    shape=Shape(
        trend=Exponential(E=0.8, A=1.2, tau0=150.0),
        warmup=20,
        epochs=Epochs(length=300, drop=0.15, rise=0.03),
        noise=TrainingNoise(sigma=0.02, seed=16),
    ),
    steps=900,
    description=(
        "Fine-tuning over 3 epochs of 300 steps: exponential decay to 0.8, a slight rise "
        "within each epoch and a 15% drop at each boundary (steps 301 and 601, 'epoch' "
        "events), 2% noise."
    ),
)
STEP_DECAY = Profile(
    name="step-decay",
    shape=Shape(
        trend=Exponential(E=0.5, A=2.0, tau0=200.0),
        schedule=StepDecay(steps=(300, 600), factor=0.1),
        anneal=0.3,
        noise=TrainingNoise(sigma=0.01, seed=17, ar=0.3),
        precision="fp16",
    ),
    steps=900,
    description=(
        "Step decay (the LR x0.1 at steps 300 and 600, 'schedule' events), exponential "
        "decay to 0.5, 1% AR(1) noise, logged in fp16."
    ),
)
SLOW_DIVERGENCE = Profile(
    name="slow-divergence",
    shape=Shape(
        trend=LLM_TREND,
        warmup=50,
        noise=TrainingNoise(sigma=0.01, seed=18),
    ),
    divergence=Divergence(start_step=500, rate=0.002),
    steps=1000,
    description=(
        "A healthy start (warm-up, power law, 1% noise) that slowly diverges from step 500: "
        "0.2% a step, for good."
    ),
)

#: The realistic built-ins, in the order ``available_profiles()`` lists them.
REALISTIC = (
    LLM_PRETRAIN,
    LLM_PRETRAIN_TROUBLE,
    WSD_COOLDOWN,
    FINETUNE_EPOCHS,
    STEP_DECAY,
    SLOW_DIVERGENCE,
)
