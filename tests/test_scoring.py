"""score_alerts and assert_alerts_match: definitions, exact figures, messages, bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from pytest_synthloss import (
    AlertScore,
    LossAssertionError,
    LossCurve,
    Profile,
    SynthLossError,
    assert_alerts_match,
    make_curve,
    score_alerts,
)
from pytest_synthloss.checks.scoring import NAB_PROFILES
from pytest_synthloss.core.events import Event

SPIKY = make_curve(20, "spiky")
STABLE = make_curve(20, "stable")


def spans(events: tuple[Event, ...]) -> tuple[tuple[int, int], ...]:
    """``(first, last)`` of each event."""
    return tuple(event.span for event in events)


def sigma(y: float) -> float:
    """NAB's scaled sigmoid, written out independently."""
    return 2 / (1 + math.exp(5 * y)) - 1


def test_perfect_detection_of_spiky() -> None:
    score = score_alerts([4, 5], SPIKY)
    assert spans(score.events) == ((4, 5),)
    assert score.alert_groups == ((4, 5),)
    assert spans(score.detected_events) == ((4, 5),)
    assert spans(score.missed_events) == score.false_alarms == spans(score.late_detections) == ()
    assert score.latencies == (0,)
    assert (score.event_precision, score.event_recall, score.event_f1) == (1.0, 1.0, 1.0)
    assert (score.point_true_positives, score.point_false_positives) == (2, 0)
    assert score.point_false_negatives == 0
    assert (score.point_precision, score.point_recall, score.point_f1) == (1.0, 1.0, 1.0)
    assert score.nab_raw == 1.0
    assert score.nab_score == 100.0
    assert score.ok is True
    assert score.mean_latency == 0.0


def test_one_alert_on_the_second_spike_step_is_a_late_but_valid_hit() -> None:
    score = score_alerts([5], SPIKY)
    assert score.latencies == (1,)
    assert score.event_recall == 1.0
    assert score.event_precision == 1.0
    assert (score.point_precision, score.point_recall) == (1.0, 0.5)
    assert score.point_f1 == pytest.approx(2 / 3)
    # Window [4, 5], W = 2: the alert at 5 has relative position -(5 - 5 + 1) / 2.
    assert score.nab_raw == pytest.approx(sigma(-0.5) / sigma(-1.0))
    assert score.nab_raw == pytest.approx(0.859793, abs=1e-6)
    assert score.nab_score == pytest.approx(100 * (score.nab_raw + 1) / 2)


def test_consecutive_alert_steps_are_one_alarm_for_event_precision() -> None:
    score = score_alerts([3, 4, 5, 6, 7, 12], SPIKY)
    assert score.alert_groups == ((3, 7), (12, 12))
    # Each false alert step is named: 3 before the spike, 6-7 after it, 12 alone.
    assert score.false_alarms == ((3, 3), (6, 7), (12, 12))
    assert score.event_precision == 0.5
    assert score.event_recall == 1.0
    assert score.latencies == (0,)
    # Points are strict: 3, 6, 7 and 12 are not spike steps.
    assert (score.point_true_positives, score.point_false_positives) == (2, 4)
    assert score.point_precision == pytest.approx(1 / 3)
    # NAB: 3 precedes every window (full FP cost); 6, 7, 12 follow the window ending at 5.
    expected = 1.0 - 0.11 + 0.11 * (sigma(1 / 1) + sigma(2 / 1) + sigma(7 / 1)) + 0 * sigma(-1.0)
    assert score.nab_raw == pytest.approx(expected)


def test_missed_event_and_false_alarm() -> None:
    score = score_alerts([9], SPIKY)
    assert spans(score.missed_events) == ((4, 5),)
    assert score.false_alarms == ((9, 9),)
    assert score.latencies == (None,)
    assert (score.event_precision, score.event_recall, score.event_f1) == (0.0, 0.0, 0.0)
    assert score.nab_raw == pytest.approx(-1.0 + 0.11 * sigma((9 - 5) / 1))
    assert score.nab_score is not None
    assert score.nab_score < 0
    assert score.mean_latency is None
    assert score.ok is False


def test_tolerance_extends_the_window_and_max_latency_flags_late_detections() -> None:
    assert spans(score_alerts([6], SPIKY).missed_events) == ((4, 5),)
    score = score_alerts([6], SPIKY, tolerance=1)
    assert spans(score.detected_events) == ((4, 5),)
    assert score.latencies == (2,)
    assert spans(score.late_detections) == ()
    assert (score.point_true_positives, score.point_false_positives) == (0, 1)
    late = score_alerts([6], SPIKY, tolerance=1, max_latency=1)
    assert spans(late.late_detections) == ((4, 5),)
    assert late.ok is False
    assert score_alerts([6], SPIKY, tolerance=1, max_latency=2).ok is True


def test_windows_stop_before_the_next_event() -> None:
    curve = make_curve(12, Profile("two", spikes={4: 9.0, 8: 9.0}))
    score = score_alerts([8], curve, tolerance=10)
    assert spans(score.events) == ((4, 4), (8, 8))
    assert spans(score.missed_events) == ((4, 4),)
    assert {e.span: lat for e, lat in score.latency_by_event.items()} == {(4, 4): None, (8, 8): 0}
    # The second window is cut at the run's last step: [8, 12], W = 5, the alert is first.
    assert score.nab_raw == pytest.approx(-1.0 + 1.0)


def test_empty_cases_are_defined_as_one() -> None:
    silent = score_alerts([], STABLE)
    assert (silent.event_precision, silent.event_recall, silent.event_f1) == (1.0, 1.0, 1.0)
    assert (silent.point_precision, silent.point_recall, silent.point_f1) == (1.0, 1.0, 1.0)
    assert silent.nab_raw == 0.0
    assert silent.nab_score is None
    noisy = score_alerts([3], STABLE)
    assert (noisy.event_precision, noisy.event_recall, noisy.event_f1) == (0.0, 1.0, 0.0)
    assert noisy.nab_raw == pytest.approx(-0.11)
    blind = score_alerts([], SPIKY)
    assert (blind.event_precision, blind.event_recall, blind.event_f1) == (1.0, 0.0, 0.0)
    assert blind.nab_score == 0.0


@pytest.mark.parametrize(
    ("profile", "expected"),
    [("standard", -1.0), ("reward_low_fp", -1.0), ("reward_low_fn", -2.0)],
)
def test_nab_profiles_weigh_a_miss(profile: str, expected: float) -> None:
    assert NAB_PROFILES[profile][2] == -expected
    assert score_alerts([], SPIKY, nab_profile=profile).nab_raw == expected


def test_order_duplicates_and_numpy_input_do_not_matter() -> None:
    a = score_alerts([5, 4, 4, 12], SPIKY)
    b = score_alerts(np.array([12, 4, 5], dtype=np.uint16), SPIKY)
    c = score_alerts((np.int64(s) for s in (4, 5, 12)), SPIKY)
    assert a == b == c
    assert a.alert_steps == (4, 5, 12)
    assert isinstance(a, AlertScore)


def test_resumed_and_huge_runs() -> None:
    resumed = make_curve(10, "spiky", start_step=5)
    assert spans(score_alerts([5], resumed).events) == ((5, 5),)
    assert score_alerts([5], resumed).ok
    huge = make_curve(10**9, "spiky")
    score = score_alerts(np.array([4, 10**9]), huge)
    assert score.false_alarms == ((10**9, 10**9),)
    assert score.latencies == (0,)


def test_assert_alerts_match_passes_and_returns_the_score() -> None:
    assert assert_alerts_match([4, 5], SPIKY).event_f1 == 1.0
    assert assert_alerts_match([], STABLE).ok
    assert assert_alerts_match([6], SPIKY, tolerance=1).latencies == (2,)


def test_assert_alerts_match_message() -> None:
    with pytest.raises(AssertionError) as info:
        assert_alerts_match([9], SPIKY)
    assert str(info.value) == (
        "Alerts do not match ground truth (profile 'spiky', steps 1..20; expect spike, "
        "nonfinite; tolerate divergence, incident; tolerance 0):\n"
        "missed events: 1 / 1 — spike at steps 4-5 (peak 9.7)\n"
        "false alarms: 1 / 1 alert groups — step 9 (loss 1.62)\n"
        "late detections: 0\n"
        "event precision 0.00 recall 0.00 F1 0.00; point precision 0.00 recall 0.00 F1 0.00\n"
        "loss (▲ = alert step):\n"
        "▂▁▁██▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁\n"
        "        ▲"
    )


def test_assert_alerts_match_reports_late_detections() -> None:
    with pytest.raises(AssertionError) as info:
        assert_alerts_match([6, 7], SPIKY, tolerance=3, max_latency=1)
    assert str(info.value).splitlines()[:4] == [
        "Alerts do not match ground truth (profile 'spiky', steps 1..20; expect spike, "
        "nonfinite; tolerate divergence, incident; tolerance 3; max_latency 1):",
        "missed events: 0 / 1",
        "false alarms: 0 / 1 alert groups",
        "late detections: 1 — spike at steps 4-5 (peak 9.7) first alerted at step 6 "
        "(latency 2 > 1)",
    ]


def test_long_lists_are_bounded() -> None:
    with pytest.raises(AssertionError) as info:
        assert_alerts_match(list(range(8, 60, 2)), make_curve(60, "spiky"), width=30)
    lines = str(info.value).splitlines()
    assert lines[2].startswith("false alarms: 26 / 26 alert groups — step 8 (loss 1.69), ")
    assert lines[2].endswith("step 26 (loss 1.05), … (+16 more)")
    assert len(lines[-2]) == 30


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        (
            [4, True],
            "alert steps must be integers within the run's steps 1..20, got True (bool) at index 1",
        ),
        (
            [4.0],
            "alert steps must be integers within the run's steps 1..20, got 4.0 (float) at index 0",
        ),
        (
            ["4"],
            "alert steps must be integers within the run's steps 1..20, got '4' (str) at index 0",
        ),
        ([3, 21], "alert step 21 (index 1) is outside the run's steps 1..20"),
        ([0], "alert step 0 (index 0) is outside the run's steps 1..20"),
        (
            np.array([4.0, 5.5]),
            "alert steps must be integers >= 1, got 5.5 at index 1 "
            "(a float step must be a whole number)",
        ),
        (
            np.array([True]),
            "alert steps must be integers >= 1, got True at index 0 (dtype bool)",
        ),
        (
            np.array([2, 2**40]),
            "alert step 1099511627776 (index 1) is outside the run's steps 1..20",
        ),
        ([2**70], f"alert step {2**70} (index 0) is outside the run's steps 1..20"),
        (4, "alert_steps must be an iterable of integer step numbers, got 4 (int)"),
        ("45", "alert_steps must be an iterable of integer step numbers, got '45' (str)"),
    ],
)
def test_bad_alert_steps(alerts: object, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        score_alerts(alerts, SPIKY)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_bad_alert_step_in_a_resumed_run_names_its_range() -> None:
    with pytest.raises(
        SynthLossError,
        match=r"^alert step 4 \(index 0\) is outside the run's "
        r"steps 5\.\.14$",
    ):
        score_alerts([4], make_curve(10, "spiky", start_step=5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"tolerance": -1},
            "tolerance must be an integer from 0 to 9223372036854775807 (steps), got -1",
        ),
        (
            {"tolerance": 1.5},
            "tolerance must be an integer from 0 to 9223372036854775807 (steps), got 1.5 (float)",
        ),
        (
            {"tolerance": True},
            "tolerance must be an integer from 0 to 9223372036854775807 (steps), got True (bool)",
        ),
        ({"max_latency": -2}, "max_latency must be an integer >= 0 (steps), got -2"),
        (
            {"tolerance": 10**30},
            f"tolerance must be an integer from 0 to 9223372036854775807 (steps), got {10**30}",
        ),
        (
            {"tolerance": 2**63},
            "tolerance must be an integer from 0 to 9223372036854775807 (steps), "
            "got 9223372036854775808",
        ),
        (
            {"nab_profile": "strict"},
            "unknown nab_profile 'strict'; known: standard, reward_low_fp, reward_low_fn",
        ),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        score_alerts([4], SPIKY, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_curve_must_be_a_loss_curve() -> None:
    with pytest.raises(
        SynthLossError,
        match=r"^curve must be a LossCurve \(see make_curve and recorded_curve\), or losses "
        r"or \(steps, losses\) with events= \(the labelled events, \(\) for none\), "
        r"got 'spiky' \(str\)$",
    ):
        score_alerts([4], "spiky")


def test_core_modules_do_not_import_optional_extras() -> None:
    code = (
        "import sys, pytest_synthloss.checks.scoring, pytest_synthloss.exports.promtool;"
        "print(sorted(m for m in ('hypothesis', 'prometheus_client', 'tensorboard', 'pytest')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- event types -----------------------------------------------------------------------


def test_each_kind_scores_its_own_events() -> None:
    def events(curve: LossCurve, kind: str) -> tuple[tuple[int, int], ...]:
        return spans(score_alerts([], curve, expect=kind, tolerate=()).events)

    assert events(SPIKY, "spike") == ((4, 5),)
    assert events(make_curve(20, "nan"), "nonfinite") == ((12, 12),)
    assert events(make_curve(20, "inf"), "nonfinite") == ((12, 12),)
    assert events(make_curve(20, "diverging"), "divergence") == ((10, 20),)
    assert events(make_curve(20, "plateau"), "plateau") == ((6, 12),)
    for kind in ("nonfinite", "divergence", "plateau"):
        assert events(SPIKY, kind) == ()
    assert events(make_curve(9, "diverging"), "divergence") == ()
    # Restricted to the run: a resumed run starts inside the event.
    assert events(make_curve(5, "diverging", start_step=15), "divergence") == ((15, 19),)
    assert events(make_curve(10, "plateau", start_step=8), "plateau") == ((8, 12),)
    runs = Profile("runs", nonfinite={3: math.nan, 4: math.inf, 5: -math.inf, 9: math.nan})
    assert events(make_curve(20, runs), "nonfinite") == ((3, 5), (9, 9))
    both = score_alerts([], make_curve(20, "spiky"), expect=("nonfinite", "spike"))
    assert (both.expect, both.tolerate) == (("nonfinite", "spike"), ("divergence", "incident"))
    # The default tolerate gives way to expect: a diverging run's divergence is then required.
    diverging = score_alerts([11], make_curve(20, "diverging"), expect="divergence")
    assert (diverging.expect, diverging.tolerate) == (("divergence",), ("incident",))
    assert (diverging.event_recall, diverging.latencies) == (1.0, (1,))


def test_nan_guard_fired_at_the_first_non_finite_step() -> None:
    score = assert_alerts_match([12], make_curve(20, "nan"), expect="nonfinite", tolerate=())
    assert score.expect == ("nonfinite",)
    assert spans(score.events) == ((12, 12),)
    assert (score.event_f1, score.point_f1, score.nab_score) == (1.0, 1.0, 100.0)
    # For a spike-only monitor, the same alert is a false alarm: nan has no spike...
    assert score_alerts([12], make_curve(20, "nan"), expect="spike", tolerate=()).false_alarms == (
        (12, 12),
    )
    # ... unless NaN/inf are tolerated; by default they must be caught.
    assert score_alerts([12], make_curve(20, "nan"), expect="spike", tolerate="nonfinite").ok
    assert spans(score_alerts([], make_curve(20, "nan")).missed_events) == ((12, 12),)


def test_a_run_of_non_finite_steps_is_one_event() -> None:
    curve = make_curve(20, Profile("runs", nonfinite={3: math.nan, 4: math.inf, 5: -math.inf}))
    score = score_alerts([4], curve, expect="nonfinite", tolerate=())
    assert score.latencies == (1,)
    assert (score.point_true_positives, score.point_false_negatives) == (1, 2)
    assert score.point_recall == pytest.approx(1 / 3)


def test_divergence_is_one_event_to_the_end_of_the_run() -> None:
    curve = make_curve(20, "diverging")
    score = score_alerts([12, 13], curve, expect="divergence", tolerate=(), max_latency=1)
    assert spans(score.events) == ((10, 20),)
    assert score.latencies == (2,)
    assert spans(score.late_detections) == ((10, 20),)
    assert (score.event_precision, score.event_recall) == (1.0, 1.0)
    # Every step from the onset on is an event step: 2 of 11 alerted.
    assert (score.point_true_positives, score.point_false_negatives) == (2, 9)
    # Window [10, 20], W = 11; the first alert, at 12, has position -(20 - 12 + 1) / 11.
    assert score.nab_raw == pytest.approx(sigma(-9 / 11) / sigma(-1.0))
    assert score_alerts([10], curve, expect="divergence", tolerate=()).nab_score == 100.0
    assert spans(score_alerts([9], curve, expect="divergence", tolerate=()).missed_events) == (
        (10, 20),
    )
    # A billion-step run does not materialise its event steps.
    huge = score_alerts([10], make_curve(10**9, "diverging"), expect="divergence", tolerate=())
    assert huge.point_false_negatives == 10**9 - 10


def test_plateaus_are_each_window() -> None:
    curve = make_curve(40, Profile("two-plateaus", plateaus=((3, 5), (20, 24))))
    score = score_alerts([5, 6, 26], curve, expect="plateau", tolerate=(), tolerance=2)
    assert spans(score.events) == ((3, 5), (20, 24))
    assert score.alert_groups == ((5, 6), (26, 26))
    # 26 is inside the second window's tolerance (20..24 + 2): a hit, 6 steps late.
    assert {e.span: lat for e, lat in score.latency_by_event.items()} == {(3, 5): 2, (20, 24): 6}
    assert spans(score.missed_events) == score.false_alarms == ()
    # Point metrics are strict: only 5 is a plateau step.
    assert (score.point_true_positives, score.point_false_positives) == (1, 2)
    assert score.point_false_negatives == 3 + 5 - 1
    late = score_alerts([5, 6, 27], curve, expect="plateau", tolerate=(), tolerance=2)
    assert spans(late.missed_events) == ((20, 24),)
    assert late.false_alarms == ((27, 27),)


def test_assert_alerts_match_names_the_event_kinds() -> None:
    with pytest.raises(LossAssertionError) as info:
        assert_alerts_match([11], make_curve(20, "nan"), expect="nonfinite", tolerate=())
    assert str(info.value) == (
        "Alerts do not match ground truth (profile 'nan', steps 1..20; expect nonfinite; "
        "tolerate nothing; tolerance 0):\n"
        "missed events: 1 / 1 — nonfinite at step 12 (nan)\n"
        "false alarms: 1 / 1 alert groups — step 11 (loss 1.48)\n"
        "late detections: 0\n"
        "event precision 0.00 recall 0.00 F1 0.00; point precision 0.00 recall 0.00 F1 0.00\n"
        "loss (▲ = alert step):\n"
        "███▇▇▆▆▅▅▄▄×▃▂▂▁▁▁▁▁\n"
        "          ▲"
    )
    with pytest.raises(LossAssertionError) as info:
        assert_alerts_match(
            [13], make_curve(20, "diverging"), expect="divergence", tolerate=(), max_latency=2
        )
    assert str(info.value).splitlines()[:4] == [
        "Alerts do not match ground truth (profile 'diverging', steps 1..20; expect "
        "divergence; tolerate nothing; tolerance 0; max_latency 2):",
        "missed events: 0 / 1",
        "false alarms: 0 / 1 alert groups",
        "late detections: 1 — divergence at steps 10-20 (last loss 12.04) first alerted at "
        "step 13 (latency 3 > 2)",
    ]
    assert assert_alerts_match([6], make_curve(20, "plateau"), expect="plateau", tolerate=()).ok


def test_an_alert_inside_an_event_of_another_kind_is_a_false_alarm_naming_it() -> None:
    with pytest.raises(LossAssertionError) as info:
        assert_alerts_match([7], make_curve(20, "plateau"))
    assert str(info.value).splitlines()[2] == (
        "false alarms: 1 / 1 alert groups — step 7 (loss 1.83, inside plateau at steps 6-12 "
        "(held 1.83))"
    )
    # Alerts in a tolerated divergence are not counted as alert groups at all.
    score = score_alerts([4, 15, 16, 17], make_curve(20, "diverging"))
    assert (score.false_alarms, score.tolerated_alerts) == (((4, 4),), (15, 16, 17))
    assert (score.event_precision, score.point_false_positives) == (0.0, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"expect": "spikes"},
            "unknown event kind 'spikes' in expect= (index 0); known kinds: spike, nonfinite, "
            "divergence, plateau, warmup, schedule, epoch, incident, stall, grad_spike, "
            "overflow, scale_growth, first_step, eval (did you mean 'spike'?)",
        ),
        (
            {"tolerate": ("divergence", "nan")},
            "unknown event kind 'nan' in tolerate= (index 1); known kinds: spike, nonfinite, "
            "divergence, plateau, warmup, schedule, epoch, incident, stall, grad_spike, "
            "overflow, scale_growth, first_step, eval",
        ),
        (
            {"expect": ("spike", 3)},
            "unknown event kind 3 in expect= (index 1); known kinds: spike, nonfinite, "
            "divergence, plateau, warmup, schedule, epoch, incident, stall, grad_spike, "
            "overflow, scale_growth, first_step, eval",
        ),
        (
            {"expect": None},
            "expect= must be an event kind or a sequence of kinds (spike, nonfinite, "
            "divergence, plateau, warmup, schedule, epoch, incident, stall, grad_spike, "
            "overflow, scale_growth, first_step, eval), got None (NoneType)",
        ),
        ({"expect": ("spike", "spike")}, "event kind 'spike' is listed twice in expect="),
        (
            {"expect": "divergence", "tolerate": ("incident", "divergence")},
            "event kind 'divergence' is in both expect= and tolerate=; a kind is either "
            "required (expect) or allowed (tolerate), not both",
        ),
    ],
)
def test_bad_event_kinds(kwargs: dict[str, object], message: str) -> None:
    for call in (score_alerts, assert_alerts_match):
        with pytest.raises(SynthLossError) as info:
            call([4], SPIKY, **kwargs)  # type: ignore[arg-type]
        assert str(info.value) == message


def test_the_largest_tolerance_reaches_the_next_event_or_the_run_end() -> None:
    curve = make_curve(20, "spiky")
    score = score_alerts([20], curve, tolerance=2**63 - 1)
    assert score.tolerance == 2**63 - 1
    assert (spans(score.detected_events), score.false_alarms, score.latencies) == (
        ((4, 5),),
        (),
        (16,),
    )
    at_the_end = make_curve(5, "spiky", start_step=2**63 - 5)
    assert spans(score_alerts([], at_the_end, tolerance=2**63 - 1).missed_events) == (
        at_the_end.spike_events
    )


@pytest.mark.parametrize(
    ("width", "text"),
    [
        (2.5, "width must be an integer >= 1 (columns), got 2.5 (float)"),
        (0, "width must be an integer >= 1 (columns), got 0"),
        (-1, "width must be an integer >= 1 (columns), got -1"),
        (True, "width must be an integer >= 1 (columns), got True (bool)"),
        (None, "width must be an integer >= 1 (columns), got None (NoneType)"),
    ],
)
def test_bad_width(width: object, text: str) -> None:
    # Checked up front: the alerts here match, so a late check would never run.
    with pytest.raises(SynthLossError) as info:
        assert_alerts_match([4], SPIKY, width=width)  # type: ignore[arg-type]
    assert str(info.value) == text
    with pytest.raises(SynthLossError, match=r"^width must be"):
        assert_alerts_match([9], SPIKY, width=width)  # type: ignore[arg-type]


def test_width_one_draws_one_column() -> None:
    with pytest.raises(LossAssertionError) as info:
        assert_alerts_match([9], SPIKY, width=1)
    assert str(info.value).split("\n")[-3:] == ["loss (▲ = alert step):", "▁", "▲"]


def test_an_alert_during_a_labelled_incident_is_tolerated_unless_expected() -> None:
    from pytest_synthloss import recorded_curve

    curve = recorded_curve(range(1, 11), [2.0] * 10, [("incident", 4, 6)], name="lost-node")
    score = score_alerts([5], curve)  # the default oracle: neither required nor false
    assert (score.ok, score.tolerate, score.tolerated_alerts) == (
        True,
        ("divergence", "incident"),
        (5,),
    )
    required = score_alerts([5], curve, expect=("spike", "nonfinite", "incident"))
    assert (required.ok, required.tolerate, required.latencies) == (True, ("divergence",), (1,))
    assert not score_alerts([], curve, expect="incident").ok  # missed when required
    strict = score_alerts([5], curve, tolerate=("divergence",))
    assert strict.false_alarms == ((5, 5),)  # an explicit tolerate without it: a false alarm
