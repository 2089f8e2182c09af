"""Linked signals: grad norm, learning rate, loss scale and step time, and their events."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss import FakeClock, LossStream, Profile, SynthLossError, make_curve
from pytest_synthloss.core.loss_scale import (
    LossScale,
    loss_scale_at,
    loss_scales,
    replay_loss_scales,
)
from pytest_synthloss.core.realistic import LLM_PRETRAIN_TROUBLE
from pytest_synthloss.core.signal_series import signal_values, signals_at
from pytest_synthloss.core.signals import SIGNAL_NAMES, Signals
from pytest_synthloss.core.stream import SignalStep

SIGNALS = Signals(
    seed=3,
    first_step_seconds=30.0,
    eval_every=100,
    eval_seconds=20.0,
    stall=(700, 600.0),
    loss_scale=LossScale(overflows=(1, 2, 3, 250, 251, 600), growth_interval=100, hysteresis=2),
)
PROFILE = dataclasses.replace(LLM_PRETRAIN_TROUBLE, name="trouble-signals", signals=SIGNALS)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.tobytes() == b.tobytes()


# -- the loss scale ------------------------------------------------------------------------


def test_loss_scale_follows_grad_scaler_step_by_step() -> None:
    scale = LossScale(overflows=(1, 2, 3, 10, 11, 30), growth_interval=5)
    k = 1024.0
    assert replay_loss_scales(scale, 20) == [
        *(64 * k, 32 * k, 16 * k),  # the first steps overflow: halved after each
        *(8 * k,) * 5,  # steps 4..8: five steps without an overflow ...
        *(16 * k, 16 * k),  # ... grow the scale from step 9; 10 and 11 overflow
        *(8 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k),
        *(8 * k,) * 4,  # steps 12..16 without an overflow: grown from step 17
    ]


def test_hysteresis_delays_the_backoff_until_its_counter_runs_out() -> None:
    scale = LossScale(overflows=(2, 3, 4, 9), growth_interval=3, hysteresis=2)
    # step 2: counter 2 -> 1, no backoff; 3 and 4 back off; 5..7 grow it at 8 (and reset
    # the counter to 2), so the overflow at 9 is absorbed again
    assert replay_loss_scales(scale, 10) == [
        65536.0,
        65536.0,
        65536.0,
        32768.0,
        16384.0,
        16384.0,
        16384.0,
        32768.0,
        32768.0,
        32768.0,
    ]


def test_deepspeed_waits_one_more_clean_step_and_never_goes_below_min_scale() -> None:
    scale = LossScale(
        overflows=(2, 3, 4), growth_interval=2, hysteresis=2, scaler="deepspeed", min_scale=0.5
    )
    assert replay_loss_scales(LossScale(overflows=(2, 3, 4), growth_interval=2, hysteresis=2), 9)[
        4:
    ] == [16384.0, 16384.0, 32768.0, 32768.0, 65536.0]  # torch: grows after 2 clean steps
    assert replay_loss_scales(scale, 9)[4:] == [16384.0, 16384.0, 16384.0, 32768.0, 32768.0]
    low = LossScale(overflows=(1, 2, 3), init_scale=2.0, scaler="deepspeed", min_scale=0.5)
    assert replay_loss_scales(low, 4) == [2.0, 1.0, 0.5, 0.5]


def test_the_scale_stays_within_float32() -> None:
    top = LossScale(init_scale=2.0**126, growth_interval=1)
    assert replay_loss_scales(top, 4) == [2.0**126, 2.0**127, 2.0**127, 2.0**127]
    bottom = LossScale(overflows=(1, 2, 3), init_scale=2.0**-148, growth_interval=1)
    assert replay_loss_scales(bottom, 6) == [2.0**-148, 2.0**-149, 0.0, 0.0, 0.0, 0.0]
    assert loss_scales(bottom, np.arange(1, 7)).tolist() == replay_loss_scales(bottom, 6)


@st.composite
def _schedules(draw: st.DrawFn) -> tuple[LossScale, int]:
    last = draw(st.integers(1, 400))
    overflows = draw(st.lists(st.integers(1, last), unique=True, max_size=40))
    if draw(st.booleans()):
        init = draw(st.integers(-149, 127))
        deepspeed = LossScale(
            overflows=tuple(overflows),
            init_scale=2.0**init,
            growth_interval=draw(st.integers(1, 30)),
            hysteresis=draw(st.integers(1, 4)),
            scaler="deepspeed",
            min_scale=2.0 ** draw(st.integers(-149, init)),
        )
        return deepspeed, last
    scale = LossScale(
        overflows=tuple(overflows),
        init_scale=2.0 ** draw(st.integers(-149, 127)),
        growth_factor=2.0 ** draw(st.integers(1, 3)),
        backoff_factor=2.0 ** -draw(st.integers(1, 3)),
        growth_interval=draw(st.integers(1, 30)),
        hysteresis=draw(st.integers(1, 4)),
    )
    return scale, last


@settings(max_examples=60, deadline=None)
@given(_schedules())
def test_the_closed_form_equals_the_step_by_step_replay(case: tuple[LossScale, int]) -> None:
    scale, last = case
    replayed = replay_loss_scales(scale, last)
    assert loss_scales(scale, np.arange(1, last + 1, dtype=np.int64)).tolist() == replayed
    assert [loss_scale_at(scale, s) for s in range(1, last + 1)] == replayed
    grown = [s for s in range(2, last + 1) if replayed[s - 1] > replayed[s - 2]]
    assert list(scale.growth_steps(1, last)) == grown


# -- the signals of a run --------------------------------------------------------------------


def test_a_grad_norm_spike_comes_one_step_before_each_loss_spike() -> None:
    curve = make_curve(profile=PROFILE)
    spikes = [e.first for e in curve.events if e.kind == "spike"]
    grad_spikes = [e for e in curve.events if e.kind == "grad_spike"]
    assert spikes == [300, 450, 600]
    assert [e.first for e in grad_spikes] == [299, 449, 599]
    grad = curve.signals["grad_norm"]
    unspiked = Signals(seed=3, grad_spike=1.0)
    plain = signal_values(dataclasses.replace(PROFILE, signals=unspiked), curve.steps)
    for event in grad_spikes:
        assert grad[event.first - 1] == 10.0 * plain["grad_norm"][event.first - 1]
        assert event.peak == grad[event.first - 1]
    assert grad[798 - 1] == plain["grad_norm"][798 - 1]


def test_an_overflow_skips_the_step_and_halves_the_scale_from_the_next() -> None:
    curve = make_curve(profile=PROFILE)
    scale, grad = curve.signals["loss_scale"], curve.signals["grad_norm"]
    overflows = [e.span for e in curve.events if e.kind == "overflow"]
    assert overflows == [(1, 3), (250, 251), (600, 600)]
    assert [s for s in range(1, 1001) if math.isinf(grad[s - 1])] == [1, 2, 3, 250, 251, 600]
    # hysteresis 2: the first overflow only lowers the counter
    assert scale[:5].tolist() == [65536.0, 65536.0, 32768.0, 16384.0, 16384.0]
    growths = [(e.first, e.peak) for e in curve.events if e.kind == "scale_growth"]
    assert growths[:3] == [(104, 32768.0), (204, 65536.0), (352, 65536.0)]
    assert scale[249:253].tolist() == [65536.0, 65536.0, 32768.0, 32768.0]
    assert math.isnan(grad[800 - 1])  # the NaN loss step


def test_step_times_mark_the_first_step_evals_and_the_stall() -> None:
    curve = make_curve(profile=PROFILE)
    time = curve.signals["step_time"]
    kinds = {kind: [e.first for e in curve.events if e.kind == kind] for kind in SIGNAL_KINDS}
    assert kinds["first_step"] == [1]
    assert kinds["eval"] == list(range(100, 1001, 100))
    assert kinds["stall"] == [700]
    assert time[0] == 30.0
    jitter = np.abs(time[1:99] / 0.5 - 1.0)
    assert float(jitter.max()) < 0.05 * 5  # five sigma
    plain = signal_values(dataclasses.replace(PROFILE, signals=Signals(seed=3)), curve.steps)
    assert time[99] == plain["step_time"][99] + 20.0
    assert time[699] == plain["step_time"][699] + 20.0 + 600.0


SIGNAL_KINDS = ("first_step", "eval", "stall")


def test_the_learning_rate_follows_the_profile_schedule() -> None:
    curve = make_curve(profile=PROFILE)
    assert _same(curve.signals["learning_rate"], 3e-4 * np.asarray(curve.lrs))
    assert curve.signals["learning_rate"][49] == 3e-4  # the end of the 50-step warm-up
    flat = make_curve(5, Profile("flat", signals=Signals(peak_lr=0.1)))
    assert flat.signals["learning_rate"].tolist() == [0.1] * 5
    assert flat.signals["loss_scale"].tolist() == [1.0] * 5  # no fp16: no scaling


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 1000), st.integers(1, 1000))
def test_scalar_equals_vector_bit_for_bit(first: int, count: int) -> None:
    last = min(1000, first + count - 1)
    steps = np.arange(first, last + 1, dtype=np.int64)
    vector = signal_values(PROFILE, steps)
    for step in {first, last, (first + last) // 2}:
        scalar = signals_at(PROFILE, step)
        for name in SIGNAL_NAMES:
            assert np.float64(scalar[name]).tobytes() == vector[name][step - first].tobytes()


def test_chunks_compute_the_same_signals() -> None:
    curve = make_curve(profile=PROFILE)
    for name in SIGNAL_NAMES:
        chunks = [chunk.signals[name] for chunk in curve.iter_chunks(77)]
        assert _same(np.concatenate(chunks), curve.signals[name])


def test_signal_arrays_are_read_only_and_absent_without_signals() -> None:
    curve = make_curve(profile=PROFILE)
    with pytest.raises(ValueError, match="read-only"):
        curve.signals["grad_norm"][0] = 1.0
    assert dict(make_curve(5, "spiky").signals) == {}
    with pytest.raises(SynthLossError, match=r"^profile 'spiky' declares no signals"):
        signals_at(make_curve(5, "spiky").profile, 1)


def test_a_stream_hands_out_the_signals() -> None:
    curve = make_curve(profile=PROFILE)
    stream = LossStream(curve, interval=0.5, clock=FakeClock(), signals=True)
    records = [record for record in stream if isinstance(record, SignalStep)]
    assert len(records) == 1000
    assert records[699].time == 350.0
    for name in SIGNAL_NAMES:
        assert _same(np.array([r.signals[name] for r in records]), curve.signals[name])
    with pytest.raises(SynthLossError, match=r"^signals=True: profile 'spiky' declares no"):
        LossStream(make_curve(5, "spiky"), signals=True)


def test_profiles_with_signals_compare_hash_and_pickle_by_value() -> None:
    again = pickle.loads(pickle.dumps(PROFILE))
    assert again == PROFILE
    assert hash(again) == hash(PROFILE)
    assert "signals=Signals(seed=3" in repr(PROFILE)
    assert dataclasses.replace(PROFILE, signals=Signals(seed=4)) != PROFILE


def test_the_signals_are_the_same_in_another_interpreter() -> None:
    code = (
        "import dataclasses, hashlib\n"
        "from tests.test_signals import PROFILE\n"
        "from pytest_synthloss import make_curve\n"
        "c = make_curve(profile=PROFILE)\n"
        "print(hashlib.sha256(b''.join(c.signals[n].tobytes() for n in sorted(c.signals)))"
        ".hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    import hashlib

    curve = make_curve(profile=PROFILE)
    here = b"".join(curve.signals[n].tobytes() for n in sorted(curve.signals))
    assert done.stdout.strip() == hashlib.sha256(here).hexdigest()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LossScale(overflows=(3, 3)), "loss_scale overflows[1]: step 3 is listed twice"),
        (
            lambda: LossScale(overflows=(0,)),
            "loss_scale overflows[0] must be an integer >= 1, got 0",
        ),
        (
            lambda: LossScale(init_scale=1000.0),
            "loss_scale init_scale must be a power of two from 2**-149 to 2**127 "
            "(exact in float32), got 1000.0",
        ),
        (
            lambda: LossScale(growth_factor=1.5),
            "loss_scale growth_factor must be a power of two from 2 to 2**64, got 1.5",
        ),
        (
            lambda: LossScale(backoff_factor=2.0),
            "loss_scale backoff_factor must be a power of two from 2**-64 to 0.5, got 2.0",
        ),
        (
            lambda: LossScale(scaler="apex"),
            "loss_scale scaler must be 'torch' or 'deepspeed', got 'apex'",
        ),
        (
            lambda: LossScale(min_scale=1.0),
            "loss_scale min_scale applies to scaler='deepspeed' only (GradScaler has none), "
            "got 1.0",
        ),
        (
            lambda: LossScale(scaler="deepspeed", growth_factor=4.0),
            "loss_scale growth_factor must be 2.0 with scaler='deepspeed' (its scale factor is "
            "fixed), got 4.0",
        ),
        (
            lambda: LossScale(scaler="deepspeed", init_scale=2.0, min_scale=4.0),
            "loss_scale min_scale must be a power of two from 2**-149 to init_scale, got 4.0",
        ),
        (
            lambda: LossScale(hysteresis=0),
            "loss_scale hysteresis must be an integer from 1 to 1048576, got 0",
        ),
        (lambda: Signals(seed=-1), "signals seed must be an integer in [0, 2**128), got -1"),
        (
            lambda: Signals(peak_lr=0),
            "signals peak_lr must be a finite number > 0 and <= 1e+06, got 0",
        ),
        (
            lambda: Signals(grad_noise=2),
            "signals grad_noise must be a finite number from 0 to 1, got 2",
        ),
        (
            lambda: Signals(grad_spike=0.5),
            "signals grad_spike must be a finite number from 1 to 1e+06, got 0.5",
        ),
        (
            lambda: Signals(step_seconds=0),
            "signals step_seconds must be a finite number of seconds > 0 and <= 86400, got 0",
        ),
        (
            lambda: Signals(eval_every=10),
            "signals eval_seconds must be > 0 when eval_every is set (an eval takes time), got 0.0",
        ),
        (
            lambda: Signals(stall=(5,)),  # type: ignore[arg-type]
            "signals stall must be a (step, seconds) pair, got (5,)",
        ),
        (lambda: Signals(stall=(0, 1.0)), "signals stall step must be an integer >= 1, got 0"),
        (
            lambda: Signals(loss_scale=3),  # type: ignore[arg-type]
            "signals loss_scale must be a LossScale or None, got 3",
        ),
        (
            lambda: Profile("x", signals="no"),  # type: ignore[arg-type]
            "profile 'x': signals must be a Signals or None, got 'no'",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_them(build: Callable[[], object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        build()
    assert str(info.value) == message


def test_the_fixtures_hand_out_the_fp16_overflow_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_synthloss.core.stream import SignalStep

        def test_curve(synthloss_curve):
            scale = synthloss_curve.signals["loss_scale"]
            assert synthloss_curve.profile.name == "fp16-overflow"
            assert scale[:6].tolist() == [65536.0, 32768.0, 16384.0, 8192.0, 4096.0, 2048.0]
            overflows = [e.span for e in synthloss_curve.events if e.kind == "overflow"]
            assert overflows == [(1, 5), (212, 213), (530, 532), (860, 860)]

        def test_stream(synthloss_stream):
            from pytest_synthloss import LossStream

            stream = LossStream(synthloss_stream.curve, signals=True)
            first = next(stream)
            assert isinstance(first, SignalStep)
            assert first.signals["step_time"] == 30.0
        """
    )
    result = pytester.runpytest("--synthloss-profile", "fp16-overflow", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
