"""recorded_curve: a LossCurve of recorded values with labelled events (issue 18)."""

from __future__ import annotations

import copy
import io
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import (
    LossAssertionError,
    LossCurve,
    SynthLossError,
    assert_alerts_match,
    assert_all_finite,
    assert_curve_equal,
    assert_no_spikes,
    assert_reaches_floor,
    find_spikes,
    make_curve,
    read_log,
    score_alerts,
    write_log,
)
from pytest_synthloss.core.events import Event
from pytest_synthloss.core.recorded import RecordedCurve, recorded_curve
from pytest_synthloss.exports.fleet import Fleet
from pytest_synthloss.exports.promtool import promtool_test_file

NAN = math.nan
# A log with a gap (steps 7..9 never logged), a restart (steps 5 and 6 logged again) and a
# NaN: what real logs look like.
STEPS = [1, 2, 3, 4, 5, 6, 5, 6, 10, 11, 12, 13]
LOSSES = [3.0, 2.5, 2.2, 2.1, 2.0, 1.95, 1.9, 8.0, 1.8, NAN, 1.7, 1.6]


def incident() -> RecordedCurve:
    return recorded_curve(
        STEPS, LOSSES, [("spike", 6), ("incident", 10, 13)], name="inc-0412", source="run.jsonl"
    )


def test_a_recorded_curve_is_a_loss_curve_with_its_log_s_quirks() -> None:
    curve = incident()
    assert isinstance(curve, LossCurve)
    assert isinstance(curve, RecordedCurve)
    assert curve.steps.tolist() == [1, 2, 3, 4, 5, 6, 10, 11, 12, 13]
    # a repeated step keeps its last logged loss (after the restart)
    assert curve.losses.tolist()[:6] == [3.0, 2.5, 2.2, 2.1, 1.9, 8.0]
    assert len(curve) == 10
    assert (curve.start_step, curve.last_step) == (1, 13)
    assert curve.gaps == ((7, 9),)
    assert curve.missing_count == 3
    assert curve.repeated_steps == (5, 6)
    assert curve.events == (
        Event("spike", 6, 6, peak=8.0),
        Event("incident", 10, 13),
        Event("nonfinite", 11, 11, values=("nan",)),
    )
    assert curve.spike_steps == (6,)
    assert curve.nonfinite_steps == (11,)
    assert curve.divergence_step is None
    assert curve.floor_step is None
    assert curve.reaches_floor is False
    assert curve.final_loss == 1.6
    assert curve.loss_at(6) == 8.0
    assert curve.config.profile == "inc-0412"
    assert curve.config.steps == 10
    assert curve.name == "inc-0412"
    assert curve.source == "run.jsonl"
    assert curve.profile.name == "inc-0412"
    assert list(curve)[4:7] == [(5, 1.9), (6, 8.0), (10, 1.8)]
    assert repr(curve) == (
        "<LossCurve recorded inc-0412 steps 1..13, 10 logged (1 gap, 2 repeated) "
        "final=1.6 ▂▂▁▁▁█▁×▁▁>"
    )


def test_arrays_are_read_only_and_the_input_is_not_kept() -> None:
    steps, losses = np.arange(1, 6), np.array([2.0, 1.5, 1.2, 1.1, 1.0])
    curve = recorded_curve(steps, losses)
    losses[0] = 99.0
    assert curve.losses[0] == 2.0
    with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
        curve.losses.setflags(write=True)
    with pytest.raises(ValueError, match="read-only"):
        curve.steps[0] = 3


def test_pickle_copy_and_equality_are_by_value() -> None:
    curve = incident()
    for clone in (pickle.loads(pickle.dumps(curve)), copy.deepcopy(curve)):
        assert clone == curve
        assert hash(clone) == hash(curve)
        assert clone.events == curve.events
        assert clone.repeated_steps == (5, 6)
        assert clone.losses.tobytes() == curve.losses.tobytes()
    assert curve != make_curve(10, "stable")
    assert curve != recorded_curve(STEPS, LOSSES, [("spike", 6)], name="inc-0412")


def test_nonfinite_losses_are_labelled_automatically_per_run_of_steps() -> None:
    curve = recorded_curve(
        [1, 2, 3, 4, 6, 7], [1.0, NAN, math.inf, 1.0, -math.inf, 2.0], name="bad"
    )
    assert curve.events == (
        Event("nonfinite", 2, 3, values=("nan", "inf")),
        Event("nonfinite", 6, 6, values=("-inf",)),
    )
    # a nonfinite label that matches is accepted, and not listed twice
    same = recorded_curve([1, 2, 3], [1.0, NAN, 1.0], [("nonfinite", 2)])
    assert same.events == (Event("nonfinite", 2, 2, values=("nan",)),)


def test_labels_in_every_form_and_peaks_from_the_values() -> None:
    curve = recorded_curve(
        range(1, 11),
        [5.0, 4.0, 3.0, 9.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0],
        [
            Event("warmup", 1, 2),
            ("spike", 4),
            {"kind": "plateau", "first": 5, "last": 7},
            ("divergence", 8, 10),
            {"kind": "incident", "first": 4, "last": 9},
        ],
    )
    assert curve.events == (
        Event("warmup", 1, 2),
        Event("spike", 4, 4, peak=9.0),
        Event("incident", 4, 9),
        Event("plateau", 5, 7, peak=2.0),
        Event("divergence", 8, 10, peak=5.0),
    )
    assert curve.plateau_windows == ((5, 7),)
    assert curve.divergence_step == 8


@pytest.mark.parametrize(
    ("steps", "losses", "labels", "message"),
    [
        (
            [1, 2, 0],
            [1.0, 1.0, 1.0],
            (),
            "recorded steps must be integers >= 1, got 0 at index 2",
        ),
        (
            [1, 2, 2.5],
            [1.0, 1.0, 1.0],
            (),
            "recorded steps must be integers >= 1, got 2.5 at index 2 (a float step must be a "
            "whole number)",
        ),
        (
            [1, 2, 3],
            [1.0, "x", 1.0],
            (),
            "recorded losses must be numbers, got 'x' (str) at index 1",
        ),
        (
            [1, 2, 3],
            [1.0, 1.0],
            (),
            "recorded steps and losses differ in length (3 steps, 2 losses); "
            "each step needs one loss",
        ),
        ([], [], (), "a recorded run needs at least one step, got no steps"),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            [("spike", 2), ("spike", 0, 4)],
            "label 1: event first step must be an integer >= 1, got 0",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            [("spike", 2, 4)],
            "label 0 (spike at steps 2-4) is outside the recorded steps 1..3; labels must "
            "lie within them",
        ),
        (
            [1, 5],
            [1.0, 2.0],
            [("incident", 2, 4)],
            "label 0 (incident at steps 2-4) covers no recorded step (the log has no step in "
            "2..4); labels must cover a recorded step",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            [("spikes", 2)],
            "label 0: unknown event kind 'spikes'; allowed: spike, nonfinite, divergence, "
            "plateau, warmup, schedule, epoch, incident, stall, grad_spike, "
            "overflow, scale_growth, first_step, eval (did you mean 'spike'?)",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            [("spike", 1, 2), ("plateau", 2, 3)],
            "label 0 (spike at steps 1-2) overlaps label 1 (plateau at steps 2-3): a step "
            "cannot be both spike and plateau; incompatible kinds: divergence/plateau, "
            "nonfinite/plateau, nonfinite/spike, plateau/spike",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            [("spike", 1, 2), ("spike", 2, 3)],
            "label 0 (spike at steps 1-2) overlaps label 1 (spike at steps 2-3): two spike "
            "labels may not share a step; make them one label",
        ),
        (
            [1, 2, 3],
            [1.0, NAN, 3.0],
            [("spike", 2, 3)],
            "label 0 (spike at steps 2-3) overlaps the non-finite losses (nonfinite at step 2 "
            "(nan)), labelled automatically: a step cannot be both spike and nonfinite",
        ),
        (
            [1, 2, 3],
            [1.0, NAN, 3.0],
            [("nonfinite", 2, 3)],
            "label 0 (nonfinite at steps 2-3): the loss at step 3 is finite (3.0); a "
            "nonfinite label holds only NaN/inf/-inf losses (they are labelled automatically)",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            ["spike"],
            "label 0 must be an Event, (kind, step), (kind, first, last) or a mapping, got 'spike'",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            [{"kind": "spike", "step": 2}],
            "label 0 must have the keys kind, first and optionally last and peak, "
            "got {'kind': 'spike', 'step': 2}",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            ("spike", 2),
            "label 0 must be an Event, (kind, step), (kind, first, last) or a mapping, got 'spike'",
        ),
        (
            [1, 2, 3],
            [1.0, 2.0, 3.0],
            Event("spike", 2, 2),
            "events must be a sequence of labels (Event or (kind, first, last)), got "
            "Event(kind='spike', first=2, last=2, peak=None, values=())",
        ),
    ],
)
def test_bad_input_names_the_value_and_what_is_allowed(
    steps: object, losses: object, labels: object, message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        recorded_curve(steps, losses, labels)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_a_stall_label_may_span_a_gap() -> None:
    curve = recorded_curve([1, 2, 6, 7], [2.0, 1.9, 1.8, 1.7], [("stall", 3, 5), ("stall", 7)])
    assert curve.events == (Event("stall", 3, 5), Event("stall", 7, 7))
    assert curve.gaps == ((3, 5),)


def test_bad_name_and_source() -> None:
    with pytest.raises(SynthLossError, match=r"^recorded run name must be a non-empty"):
        recorded_curve([1], [1.0], name=" x")
    with pytest.raises(SynthLossError) as info:
        recorded_curve([1], [1.0], source=3)  # type: ignore[arg-type]
    assert str(info.value) == "source must be a string or None, got 3"


def test_missing_steps_are_clear_errors() -> None:
    curve = incident()
    with pytest.raises(SynthLossError) as info:
        curve.loss_at(8)
    assert str(info.value) == (
        "step 8 was not recorded in 'inc-0412' (the log has no steps 7..9); use a recorded step"
    )
    with pytest.raises(SynthLossError) as info:
        curve.loss_at(14)
    assert str(info.value) == "step 14 is outside this run (steps 1..13)"
    with pytest.raises(SynthLossError) as info:
        assert_reaches_floor(curve)
    assert str(info.value) == (
        "the recorded run 'inc-0412' has no known floor; pass floor= explicitly"
    )
    assert_reaches_floor(curve, floor=1.6)


def test_the_oracle_scores_a_recorded_curve() -> None:
    curve = incident()
    expect = ("spike", "nonfinite", "incident")
    score = assert_alerts_match([6, 10, 11], curve, expect=expect)
    assert [e.span for e in score.detected_events] == [(6, 6), (10, 13), (11, 11)]
    with pytest.raises(LossAssertionError) as info:
        assert_alerts_match([2, 11], curve, expect=expect)
    assert str(info.value) == "\n".join(
        [
            "Alerts do not match ground truth (profile 'inc-0412', steps 1..13; expect spike, "
            "nonfinite, incident; tolerate divergence; tolerance 0):",
            "missed events: 1 / 3 — spike at step 6 (peak 8)",
            "false alarms: 1 / 2 alert groups — step 2 (loss 2.5)",
            "late detections: 0",
            "event precision 0.50 recall 0.67 F1 0.57; point precision 0.50 recall 0.20 F1 0.29",
            "loss (▲ = alert step):",
            "▂▂▁▁▁█▁×▁▁",
            " ▲     ▲",
        ]
    )
    with pytest.raises(SynthLossError) as err:
        score_alerts([8], curve)
    assert str(err.value) == (
        "alert step 8 (index 0) was not logged in the recorded run 'inc-0412' (it has no "
        "steps 7..9); a monitor alerts at logged steps"
    )


def test_plain_arrays_with_events_are_scored_with_the_same_contract() -> None:
    losses = [2.0, 1.8, 6.0, 1.7, 1.6]
    score = score_alerts([3], losses, events=[("spike", 3)])
    assert score.profile == "series"
    assert score.ok
    assert score.latencies == (0,)
    pair = ([10, 20, 30, 40], [2.0, NAN, 1.5, 1.4])
    missed = score_alerts([], pair, events=())
    assert [e.describe() for e in missed.missed_events] == ["nonfinite at step 20 (nan)"]
    with pytest.raises(LossAssertionError, match=r"missed events: 1 / 1 — spike at step 3"):
        assert_alerts_match([], losses, events=[("spike", 3)])
    with pytest.raises(SynthLossError) as info:
        score_alerts([3], make_curve(5, "spiky"), events=[("spike", 3)])
    assert str(info.value) == (
        "events= is only for plain losses or (steps, losses); a LossCurve brings its own "
        "events (curve.events): build one with recorded_curve(steps, losses, events)"
    )
    with pytest.raises(SynthLossError) as info:
        score_alerts([3], losses)
    assert str(info.value) == (
        "curve must be a LossCurve (see make_curve and recorded_curve), or losses or "
        "(steps, losses) with events= (the labelled events, () for none), got "
        "[2.0, 1.8, 6.0, 1.7, 1.6] (list)"
    )


def test_value_and_spike_assertions_work_on_a_recorded_curve() -> None:
    curve = incident()
    assert find_spikes(curve, nonfinite="ignore").spike_steps == (6,)
    with pytest.raises(LossAssertionError) as info:
        assert_all_finite(curve)
    assert str(info.value).startswith(
        "Non-finite losses found: 1 / 10 steps (10.0%): 1 nan (profile 'inc-0412', steps 1..13)"
        "\nFirst: step 11 loss=nan\n"
    )
    with pytest.raises(LossAssertionError) as info:
        assert_no_spikes(curve, nonfinite="ignore")
    text = str(info.value)
    assert "(profile 'inc-0412', steps 1..13)" in text
    assert text.endswith("Reproduce: the recorded run 'inc-0412' (run.jsonl)")
    assert_curve_equal(curve, (curve.steps, curve.losses))
    # a recorded run starting late has no history: its first step is never a spike
    late = recorded_curve([100, 101], [9.0, 1.0])
    assert find_spikes(late).spike_steps == ()


def test_chunks_cut_the_labels() -> None:
    curve = incident()
    chunks = list(curve.iter_chunks(4))
    assert [c.steps.tolist() for c in chunks] == [[1, 2, 3, 4], [5, 6, 10, 11], [12, 13]]
    assert [c.events for c in chunks] == [
        (),
        (
            Event("spike", 6, 6, peak=8.0),
            Event("incident", 10, 11),
            Event("nonfinite", 11, 11, values=("nan",)),
        ),
        (Event("incident", 12, 13),),
    ]
    assert isinstance(chunks[1], RecordedCurve)
    assert chunks[1].repeated_steps == (5, 6)
    assert list(curve.iter_chunks()) == [curve]


def test_exports_write_a_recorded_curve_or_refuse_clearly(tmp_path: Path) -> None:
    curve = incident()
    out = io.StringIO()
    write_log(curve, out)
    back = read_log(out.getvalue().splitlines())
    assert back.steps.tolist() == curve.steps.tolist()
    assert back.gaps == ((7, 9),)
    assert back.losses.tobytes() == curve.losses.tobytes()
    with pytest.raises(SynthLossError) as info:
        promtool_test_file(curve, alertname="LossSpike", rule_files="rules.yml")
    assert str(info.value) == (
        "a promtool test needs a loss at every step, but the recorded run 'inc-0412' has 1 "
        "gap (first: steps 7..9 never logged)"
    )
    with pytest.raises(SynthLossError) as info:
        Fleet([curve], step_seconds=1.0)
    assert str(info.value) == (
        "runs[0]: a fleet needs a loss at every step, but the recorded run 'inc-0412' has 1 "
        "gap (first: steps 7..9 never logged)"
    )
    whole = recorded_curve([1, 2, 3], [2.0, 9.0, 1.0], [("spike", 2)], name="whole")
    text = promtool_test_file(whole, alertname="LossSpike", rule_files="rules.yml")
    assert "  # profile 'whole', steps 1..3; spike steps: 2; expected firing at steps: 2" in text
    assert '        values: "2.0 9.0 1.0"' in text


def test_tensorboard_and_plot_take_a_recorded_curve(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    pytest.importorskip("matplotlib", reason="needs the plot extra")
    from matplotlib.figure import Figure
    from tensorboard.backend.event_processing import plugin_event_accumulator
    from tensorboard.util import tensor_util

    from pytest_synthloss.exports.plotting import plot_curve
    from pytest_synthloss.exports.tensorboard import write_tensorboard

    curve = incident()
    write_tensorboard(curve, tmp_path, dtype="float64", wall_time=100.0, seconds_per_step=1.0)
    acc = plugin_event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    events = acc.Tensors("train/loss")
    assert [e.step for e in events] == curve.steps.tolist()
    assert [e.wall_time for e in events][-2:] == [111.0, 112.0]
    values = [tensor_util.make_ndarray(e.tensor_proto).item() for e in events]
    assert np.array(values).tobytes() == curve.losses.tobytes()
    ax = plot_curve(curve, Figure().subplots())
    assert ax.get_title() == "synthloss: inc-0412, steps 1..13"
    assert [line.get_label() for line in ax.get_lines()] == ["loss"]  # no floor line


def test_the_emulator_replays_a_recorded_run_without_gaps_only() -> None:
    from pytest_synthloss.emulation.emulator import emulate
    from pytest_synthloss.emulation.logwriter import LogWriter

    whole = recorded_curve([3, 4, 5], [2.0, 9.0, 1.5], [("spike", 4)], name="whole")
    out = io.StringIO()
    result = emulate(whole, LogWriter(out, "jsonl", whole.config))
    assert result.steps_written == 3
    back = read_log(out.getvalue().splitlines())
    assert back.steps.tolist() == [3, 4, 5]
    assert back.losses.tolist() == [2.0, 9.0, 1.5]
    with pytest.raises(SynthLossError) as info:
        emulate(incident(), LogWriter(io.StringIO(), "jsonl", incident().config))
    assert str(info.value) == (
        "an emulated run needs a loss at every step, but the recorded run 'inc-0412' has 1 "
        "gap (first: steps 7..9 never logged)"
    )


def test_a_training_run_of_a_recorded_run_with_gaps_never_starts(tmp_path: Path) -> None:
    from pytest_synthloss import TrainingRun
    from pytest_synthloss.core.recorded_runs import RecordedProfile

    gappy = RecordedProfile("inc-0412", "code", incident)
    with pytest.raises(SynthLossError) as info:
        TrainingRun(tmp_path / "run.log", steps=10, profile=gappy)
    assert str(info.value) == (
        "an emulated run needs a loss at every step, but the recorded run 'inc-0412' has 1 "
        "gap (first: steps 7..9 never logged)"
    )
    assert not (tmp_path / "run.log").exists()
    whole = RecordedProfile("inc-0412", "code", incident)  # its steps before the gap replay
    TrainingRun(tmp_path / "run.log", steps=3, profile=whole).close()
