"""LossCurve: data, ground truth, value semantics, streaming and bad input."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from pytest_synthloss import LossCurve, SynthLossError, make_curve, synthetic_losses
from pytest_synthloss.core.curve import CACHE_MAX_STEPS, RunConfig, _cached_losses

#: The built-in profiles, as error messages list them.
KNOWN = "stable, spiky, nan, inf, diverging, plateau, noisy, noisy-spiky"


def test_spiky_curve_ground_truth() -> None:
    curve = make_curve(20, "spiky", lr=3e-4, batch_size=32)
    assert len(curve) == 20
    assert curve.steps.tolist() == list(range(1, 21))
    assert curve.losses.tolist() == synthetic_losses(range(1, 21), "spiky").tolist()
    assert curve.spike_steps == (4, 5)
    assert curve.spike_events == ((4, 5),)
    assert curve.floor == 1.05
    assert curve.floor_step == 18
    assert curve.reaches_floor is True
    assert curve.final_loss == 1.05
    assert curve.config == RunConfig("spiky", 20, 1, 3e-4, 32)


def test_short_and_resumed_runs() -> None:
    short = make_curve(5)
    assert short.floor_step is None
    assert short.reaches_floor is False
    assert short.final_loss == 1.9
    resumed = make_curve(10, "spiky", start_step=5)
    assert resumed.steps.tolist() == list(range(5, 15))
    assert resumed.spike_steps == (5,)
    assert resumed.losses[0] == 9.5
    late = make_curve(3, "spiky", start_step=100)
    assert late.floor_step == 100
    assert late.spike_steps == ()


def test_iteration_yields_python_pairs() -> None:
    pairs = list(make_curve(6, "spiky"))
    assert pairs == [(1, 2.18), (2, 2.11), (3, 2.04), (4, 9.7), (5, 9.5), (6, 1.83)]
    assert all(type(s) is int and type(v) is float for s, v in pairs)


def test_arrays_are_read_only() -> None:
    curve = make_curve(20, "spiky")
    with pytest.raises(ValueError, match="read-only"):
        curve.losses[3] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        curve.steps[0] = 7
    assert make_curve(20, "spiky").losses[3] == 9.7


def test_lr_and_batch_size_never_change_the_loss() -> None:
    a = make_curve(30, "spiky", lr=0.1, batch_size=8)
    b = make_curve(30, "spiky", lr=1e-5, batch_size=4096)
    assert np.array_equal(a.losses, b.losses)
    assert a != b


def test_equality_and_hash() -> None:
    assert make_curve(20, "spiky") == make_curve(20, "spiky")
    assert hash(make_curve(20, "spiky")) == hash(make_curve(20, "spiky"))
    assert make_curve(20, "spiky") != make_curve(20, "stable")
    assert make_curve(20) != make_curve(21)
    assert make_curve(20) != make_curve(20, start_step=2)
    assert make_curve(20) != "curve"


def test_repr_is_short_with_a_sparkline() -> None:
    assert repr(make_curve(20, "spiky")) == (
        "<LossCurve spiky steps 1..20 final=1.05 floor@18 ▂▁▁██▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁>"
    )
    assert repr(make_curve(5)) == "<LossCurve stable steps 1..5 final=1.9 floor not reached █▆▅▃▁>"
    huge = repr(make_curve(10**9, "spiky"))
    assert huge.startswith("<LossCurve spiky steps 1..1000000000 final=1.05 floor@18 █▁")
    assert len(huge) < 120


def test_loss_at() -> None:
    curve = make_curve(10, "spiky", start_step=3)
    assert curve.loss_at(4) == 9.7
    with pytest.raises(SynthLossError) as info:
        curve.loss_at(2)
    assert str(info.value) == "step 2 is outside this run (steps 3..12)"


def test_iter_chunks_cover_the_run_exactly() -> None:
    curve = make_curve(25, "spiky", start_step=2)
    chunks = list(curve.iter_chunks(7))
    assert [len(c) for c in chunks] == [7, 7, 7, 4]
    assert [c.start_step for c in chunks] == [2, 9, 16, 23]
    assert np.array_equal(np.concatenate([c.losses for c in chunks]), curve.losses)
    assert chunks[0].spike_steps == (4, 5)


def test_iter_chunks_streams_a_billion_steps_in_constant_memory() -> None:
    curve = make_curve(10**9, "spiky")
    tracemalloc.start()
    try:
        total = 0
        for count, chunk in enumerate(curve.iter_chunks(10**7), start=1):
            total += int(chunk.losses.size)
            if count == 20:  # 2e8 steps is enough to show memory does not grow
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 2 * 10**8
    assert peak < 3 * 8 * 10**7  # a few chunks of 80 MB at most, never the whole run


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0,), {}, "steps (the number of steps in the run) must be an integer >= 1, got 0"),
        ((-4,), {}, "steps (the number of steps in the run) must be an integer >= 1, got -4"),
        (
            (2.5,),
            {},
            "steps (the number of steps in the run) must be an integer >= 1, got 2.5 (float)",
        ),
        ((10,), {"start_step": 0}, "start_step must be an integer >= 1, got 0"),
        ((10, "nope"), {}, f"unknown profile 'nope'; known profiles: {KNOWN}"),
        ((10,), {"lr": -0.1}, "lr must be a finite number > 0 or None, got -0.1"),
        ((10,), {"lr": math.nan}, "lr must be a finite number > 0 or None, got nan"),
        ((10,), {"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        (
            (10,),
            {"start_step": 2**63 - 5},
            f"the run would end at step {2**63 + 4}, past the last step {2**63 - 1}",
        ),
    ],
)
def test_make_curve_bad_input(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        make_curve(*args, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_iter_chunks_bad_size() -> None:
    with pytest.raises(SynthLossError) as info:
        list(make_curve(5).iter_chunks(0))
    assert str(info.value) == "chunk_size must be an integer >= 1, got 0"


def test_curve_type_is_exported_for_annotations() -> None:
    assert isinstance(make_curve(3), LossCurve)


def test_chunks_stay_out_of_the_shared_cache_and_each_stream_has_its_own_arrays() -> None:
    curve = make_curve(10 * CACHE_MAX_STEPS, "spiky")
    _cached_losses.cache_clear()
    chunks = list(curve.iter_chunks(CACHE_MAX_STEPS))
    arrays = [chunk.losses for chunk in chunks]
    assert _cached_losses.cache_info().currsize == 0  # a stream does not fill the cache
    assert arrays[0][3:5].tolist() == [9.7, 9.5]  # the head is computed
    # The floor chunks of one stream share the stream's own floor array...
    assert all(a is arrays[1] for a in arrays[2:])
    # ... which no other stream or curve shares.
    again = [chunk.losses for chunk in curve.iter_chunks(CACHE_MAX_STEPS)]
    assert not np.shares_memory(again[1], arrays[1])
    assert not np.shares_memory(
        make_curve(CACHE_MAX_STEPS, "spiky", start_step=30).losses, arrays[1]
    )
    assert arrays[1].tolist() == [1.05] * CACHE_MAX_STEPS
    assert not arrays[1].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        arrays[1][0] = 0.0


def test_short_runs_at_the_floor_are_cached_but_never_shared() -> None:
    late = make_curve(1000, "nan", start_step=18)  # the floor step
    other = make_curve(1000, "stable", start_step=5000)
    assert late.losses.tobytes() == other.losses.tobytes()
    assert not np.shares_memory(late.losses, other.losses)
    assert make_curve(1000, "nan", start_step=12).losses[0] != 1.05  # NaN step 12 is inside
    assert make_curve(1000, "diverging", start_step=5000).losses[0] == 1e38


def test_repr_of_the_longest_run() -> None:
    # The bucket after the last step starts at 2**63, one past int64.
    assert repr(make_curve(2**63 - 1, "spiky")) == (
        "<LossCurve spiky steps 1..9223372036854775807 final=1.05 floor@18 "
        "█▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁>"
    )
