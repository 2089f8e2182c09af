"""Export curves as ``promtool test rules`` unit-test files, with expected alerts from ground truth.

Time mapping: step ``k`` of a run is the sample at ``(k - start_step) * interval``, so the
run's first step is at ``0s`` (spiky's step 4 is at ``3m`` with the default ``1m``). The
rules are evaluated at the same times (``evaluation_interval`` = ``interval``), and the
file checks the named alert at every step: firing where ground truth says so, silent
elsewhere (``promtool`` compares only *firing* alerts; pending ones count as silent).

Ground truth comes from the run's events (``curve.events``), with the roles of
:func:`~pytest_synthloss.assert_alerts_match`: ``expect`` (default ``("spike",
"nonfinite")``) are the kinds during which the alert must fire, ``tolerate`` (default
``("divergence", "incident")``) the kinds during which it is not checked at all, and at every other
step it must be silent. Without ``for_``, the alert should fire at every step of each
expected event; with a ``for_`` duration, at the steps ``k`` of an event starting at ``s``
where ``(k - s) * interval >= for_`` (pending before that). ``firing_steps`` overrides the
firing steps for rules that are meant to lag. So a spike rule is tested with
``expect="spike", tolerate=("nonfinite", "divergence")``, a NaN guard with
``expect="nonfinite"``.

Values are written literally, each one the shortest ``repr`` that round-trips the float64
(``1.5499999999999998``), never with the ``a+bxn`` expanding notation, which accumulates
rounding error. The file is YAML whose strings are JSON-quoted. ``interval`` is always
written, as promtool 2.42 needs it (defaulting to ``evaluation_interval`` came in 2.49).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pytest_synthloss.checks.scoring import DEFAULT_EXPECT, DEFAULT_TOLERATE, check_kinds
from pytest_synthloss.checks.scoring import check_roles as scoring_roles
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.core.files import write_atomically
from pytest_synthloss.core.recorded import require_consecutive
from pytest_synthloss.core.truth import runs
from pytest_synthloss.core.validation import check_path, check_step
from pytest_synthloss.exports.prometheus_durations import (
    MAX_DURATION_MS,
    format_duration,
    parse_duration,
)
from pytest_synthloss.exports.promtool_timeline import MAX_EXPORT_STEPS, Timeline, check_roles

__all__ = [
    "MAX_DURATION_MS",
    "MAX_EXPORT_STEPS",
    "check_labels",
    "check_metric_name",
    "expected_firing_steps",
    "format_duration",
    "parse_duration",
    "promtool_test_file",
    "run_promtool_test",
    "unchecked_steps",
    "write_promtool_test",
]

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def check_metric_name(name: object) -> str:
    """Return ``name`` if it is a valid Prometheus metric name, else raise ``SynthLossError``."""
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise SynthLossError(f"metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*, got {name!r}")
    return name


def check_labels(labels: Mapping[str, str] | None, what: str = "labels") -> dict[str, str]:
    """Validate ``{label name: value}`` (names ``[a-zA-Z_][a-zA-Z0-9_]*``, not ``__*``)."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise SynthLossError(f"{what} must be a mapping of label names to strings, got {labels!r}")
    checked: dict[str, str] = {}
    for name, value in labels.items():
        if not isinstance(name, str) or not _LABEL_NAME.match(name) or name.startswith("__"):
            raise SynthLossError(
                f"{what}: label name must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "
                f"'__', got {name!r}"
            )
        if not isinstance(value, str):
            raise SynthLossError(
                f"{what}: the value of label {name!r} must be a string, got {value!r}"
            )
        checked[name] = value
    return checked


def expected_firing_steps(
    curve: LossCurve,
    *,
    interval: str = "1m",
    for_: str | None = None,
    expect: Iterable[str] | str = DEFAULT_EXPECT,
) -> tuple[int, ...]:
    """The steps at which an alert with ``for: for_`` should fire: the ``expect`` events."""
    interval_ms = parse_duration(interval)
    hold_ms = 0 if for_ is None else _hold(for_)
    kinds = check_kinds(expect, "expect")
    firing, _ = Timeline(curve, interval_ms).expected(kinds, (), hold_ms)
    return tuple(sorted(curve.start_step + index for index in firing))


def unchecked_steps(
    curve: LossCurve,
    *,
    expect: Iterable[str] | str = DEFAULT_EXPECT,
    tolerate: Iterable[str] | str = DEFAULT_TOLERATE,
) -> tuple[int, ...]:
    """The steps at which the alert is not checked: in a tolerated event, in no expected one."""
    kinds, allowed = scoring_roles(expect, tolerate)
    _, unchecked = Timeline(curve, 60_000).expected(kinds, allowed, 0)
    return tuple(sorted(curve.start_step + index for index in unchecked))


def _hold(for_: str) -> int:
    if for_ in ("0", "0s"):
        return 0
    return parse_duration(for_, "for_")


def promtool_test_file(
    curves: LossCurve | Sequence[LossCurve],
    *,
    alertname: str,
    rule_files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    interval: str | datetime.timedelta = "1m",
    for_: str | None = None,
    metric: str = "train_loss",
    labels: Mapping[str, str] | None = None,
    exp_labels: Mapping[str, str] | None = None,
    exp_annotations: Mapping[str, str] | None = None,
    firing_steps: Iterable[int] | None = None,
    expect: Iterable[str] | str = DEFAULT_EXPECT,
    tolerate: Iterable[str] | str = DEFAULT_TOLERATE,
    faults: Faults | Sequence[Faults | None] | None = None,
    stall: str = "held",
) -> str:
    """The text of a ``promtool test rules`` file checking ``alertname`` against ground truth.

    Each curve becomes one test group: the series ``metric{labels}`` (the loss) and
    ``metric_step{labels}`` (the step) with one literal sample per scrape, and a check of
    ``alertname`` at every scrape. A firing alert is expected to carry ``labels`` plus
    ``exp_labels`` (the rule's own labels, such as ``severity``) and exactly
    ``exp_annotations`` (rendered text). ``rule_files`` are written as given (promtool
    resolves them against the test file's directory). ``expect`` and ``tolerate`` give the
    event kinds the alert must fire on and those it is not checked on: the curve's kinds
    and the fault kinds ``"stall"``, ``"restart"``, ``"drop"`` and ``"crash"`` (see the
    module documentation); ``firing_steps`` (one curve, no faults) replaces the firing
    steps. ``faults`` (one :class:`~pytest_synthloss.Faults` for every curve, or one per
    curve; default: each curve's profile's) and ``stall`` (``"held"``, ``"missing"`` or
    ``"stale"``) shape the series as described in
    :mod:`pytest_synthloss.exports.promtool_timeline`; what the export cannot express is
    refused with a ``SynthLossError`` naming the reason.
    """
    runs = [curves] if isinstance(curves, LossCurve) else list(curves)
    if not runs or not all(isinstance(c, LossCurve) for c in runs):
        raise SynthLossError(
            f"curves must be a LossCurve or a non-empty sequence of them, got {curves!r}"
        )
    if not isinstance(alertname, str) or not alertname:
        raise SynthLossError(f"alertname must be a non-empty string, got {alertname!r}")
    files = _rule_files(rule_files)
    interval_ms = parse_duration(interval)
    hold_ms = 0 if for_ is None else _hold(for_)
    name = check_metric_name(metric)
    series = _selector(name, check_labels(labels))
    step_series = _selector(f"{name}_step", check_labels(labels))
    alert_labels = {**check_labels(labels), **check_labels(exp_labels, "exp_labels")}
    annotations = check_labels(exp_annotations, "exp_annotations") if exp_annotations else {}
    kinds, allowed = check_roles(expect, tolerate)
    run_faults = _run_faults(faults, runs)
    override = None
    if firing_steps is not None:
        if len(runs) != 1:
            raise SynthLossError("firing_steps applies to one curve; export the curves one by one")
        if run_faults[0]:
            raise SynthLossError(
                "firing_steps names steps, but with faults a step can be shown at several "
                "times (held by a stall, repeated after a restart); give the alert's event "
                "kinds with expect= and for_= instead"
            )
        override = _firing_override(firing_steps, runs[0])

    period = format_duration(interval_ms)
    lines = [
        "# promtool unit tests generated by pytest-synthloss.",
        f"# Step k is the sample at (k - start_step) * {period}; the run's first step is at 0s."
        if not any(run_faults)
        else f"# One scrape every {period}, the first step at 0s; faults move the later steps.",
        "rule_files:",
        *(f"  - {_q(f)}" for f in files),
        f"evaluation_interval: {period}",
        "tests:",
    ]
    for curve, run_fault in zip(runs, run_faults, strict=True):
        require_consecutive(curve, "a promtool test")
        timeline = Timeline(curve, interval_ms, run_fault, stall)
        firing, skipped = timeline.expected(kinds, allowed, hold_ms)
        if override is not None:
            firing = {step - curve.start_step for step in override}
        skipped -= firing
        loss_values, step_values = timeline.values()
        lines += [
            _group_comment(curve, timeline, firing, skipped, period),
            f"  - interval: {period}",
            "    input_series:",
            f"      - series: {_q(series)}",
            f"        values: {_q(loss_values)}",
            f"      - series: {_q(step_series)}",
            f"        values: {_q(step_values)}",
            "    alert_rule_test:",
        ]
        for index, scrape in enumerate(timeline.scrapes):
            if index in skipped:
                continue
            lines += [
                f"      - eval_time: {format_duration(index * interval_ms)}  # {scrape.note}",
                f"        alertname: {_q(alertname)}",
            ]
            if index in firing:
                lines += ["        exp_alerts:", "          - exp_labels:"]
                lines += [f"              {k}: {_q(v)}" for k, v in sorted(alert_labels.items())]
                if not alert_labels:
                    lines[-1] += " {}"
                if annotations:
                    lines.append("            exp_annotations:")
                    lines += [f"              {k}: {_q(v)}" for k, v in sorted(annotations.items())]
    return "\n".join(lines) + "\n"


def _run_faults(
    faults: Faults | Sequence[Faults | None] | None, curves: list[LossCurve]
) -> list[Faults | None]:
    if faults is None:
        return [curve.profile.faults for curve in curves]
    if isinstance(faults, Faults):
        return [faults] * len(curves)
    if isinstance(faults, str | bytes) or not isinstance(faults, Sequence):
        raise SynthLossError(
            "faults must be a Faults, a sequence of Faults or None (one per curve), or None, "
            f"got {faults!r}"
        )
    given = list(faults)
    for index, item in enumerate(given):
        if item is not None and not isinstance(item, Faults):
            raise SynthLossError(f"faults[{index}] must be a Faults or None, got {item!r}")
    if len(given) != len(curves):
        raise SynthLossError(
            f"faults lists {len(given)} entries for {len(curves)} curves; give one per curve "
            "(None for a run without faults) or one Faults for all"
        )
    return given


def _group_comment(
    curve: LossCurve, timeline: Timeline, firing: set[int], skipped: set[int], period: str
) -> str:
    spikes = ", ".join(map(str, curve.spike_steps)) or "none"
    text = (
        f"  # profile {curve.profile.name!r}, steps {curve.start_step}..{curve.last_step}; "
        f"spike steps: {spikes}"
    )
    if not timeline.faults:
        fired = ", ".join(str(curve.start_step + i) for i in sorted(firing)) or "none"
        text += f"; expected firing at steps: {fired}"
        if skipped:
            unchecked = {curve.start_step + i for i in skipped}
            text += f"; not checked at steps: {_steps_text(unchecked)}"
        return text
    every = timeline.interval_ms
    text += f"; faults: {timeline.faults.describe()}; stall samples: {timeline.stall}"
    text += f"; expected firing at: {_times_text(firing, every) or 'never'}"
    if skipped:
        text += f"; not checked at: {_times_text(skipped, every)}"
    return text


def _times_text(scrapes: set[int], interval_ms: int) -> str:
    spans = runs(sorted(scrapes))
    return ", ".join(
        format_duration(a * interval_ms)
        if a == b
        else f"{format_duration(a * interval_ms)}-{format_duration(b * interval_ms)}"
        for a, b in spans
    )


def write_promtool_test(
    path: str | os.PathLike[str], curves: LossCurve | Sequence[LossCurve], **kwargs: object
) -> Path:
    """Write :func:`promtool_test_file` ``(curves, **kwargs)`` to ``path`` and return it.

    Written whole or not at all (see :mod:`pytest_synthloss.core.files`): a path that cannot be
    written raises ``SynthLossError`` naming it, and leaves any previous file intact.
    """
    check_path(path, "promtool test file")
    text = promtool_test_file(curves, **kwargs)  # type: ignore[arg-type]
    write_atomically(path, iter([text.encode("utf-8")]), "promtool test file")
    return Path(path)


def run_promtool_test(
    *paths: str | os.PathLike[str], promtool: str = "promtool", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``promtool test rules PATHS`` and return the completed process (not checked)."""
    executable = shutil.which(promtool)
    if executable is None:
        raise SynthLossError(
            f"{promtool!r} was not found on PATH; install Prometheus (Debian: apt-get install "
            "prometheus) or pass promtool='/path/to/promtool'"
        )
    return subprocess.run(
        [executable, "test", "rules", *(os.fspath(p) for p in paths)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _rule_files(
    rule_files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> list[str]:
    items = [rule_files] if isinstance(rule_files, str | os.PathLike) else rule_files
    if isinstance(items, bytes) or not isinstance(items, Sequence) or not items:
        raise SynthLossError(
            f"rule_files must be a path or a non-empty list of paths, got {rule_files!r}"
        )
    out = []
    for item in items:
        if not isinstance(item, str | os.PathLike) or not os.fspath(item):
            raise SynthLossError(f"rule_files entries must be non-empty paths, got {item!r}")
        out.append(os.fspath(item))
    return out


def _firing_override(steps: Iterable[int], curve: LossCurve) -> tuple[int, ...]:
    out = []
    for step in steps:
        checked = check_step(step, "firing step")
        if not curve.start_step <= checked <= curve.last_step:
            raise SynthLossError(
                f"firing step {checked} is outside the run's steps "
                f"{curve.start_step}..{curve.last_step}"
            )
        out.append(checked)
    return tuple(out)


def _steps_text(steps: set[int]) -> str:
    spans = runs(sorted(steps))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _selector(metric: str, labels: Mapping[str, str]) -> str:
    if not labels:
        return metric
    inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels.items())
    return f"{metric}{{{inner}}}"


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)
