"""What a ``promtool`` export's series hold at each evaluation, with the run's faults.

The export evaluates the rules once per ``interval``; evaluation ``i`` is at ``i * interval``
and is called a *scrape* here. Every step the run goes through takes one scrape, in the
order the run goes through them (see :meth:`~pytest_synthloss.Faults.logged_steps`), and
writes one sample into each of two series: ``train_loss`` (the step's loss) and
``train_loss_step`` (the step number). The run's :class:`~pytest_synthloss.Faults` change
that:

``drop``
    a dropped step still takes its scrape, but writes no sample: ``_`` in both series.
``restart``
    the steps from the checkpoint on are written again, so ``train_loss_step`` goes
    backwards at the first scrape after the restart.
``stall=(k, S)``
    ``S`` seconds of scrapes (a whole number of intervals) before step ``k``, in which the
    run logs nothing new. ``stall="held"`` (default): each of them writes the last sample
    again, as a live endpoint keeps serving its last values (``synthloss train
    --metrics-port``, :class:`~pytest_synthloss.exports.fleet.Fleet`); ``"missing"``: they
    write nothing (``_``), so an instant query still sees the last sample for the 5-minute
    lookback and then nothing; ``"stale"``: the first of them is a staleness marker, as
    Prometheus writes when a scrape fails, and the series is gone until step ``k``.
``crash``
    after the crash step, one ``stale`` marker (the scrape that found the process gone),
    then nothing: the series end. The evaluations go on through the scrapes of the steps
    the run never reached (at least the ``stale`` one).

Ground truth per scrape: a step event of the curve (``spike``, ``nonfinite``, ...) is on
at every scrape whose instant query shows one of its steps (the latest sample at most
:data:`LOOKBACK_MS` old, not stale: promtool 2.42 includes a sample exactly 5 minutes
old); the fault events of :data:`FAULT_KINDS` are on at their scrapes: ``"drop"`` at a
dropped step's, ``"stall"`` at the stall's, ``"restart"`` at the first scrape whose step
is lower than the one shown just before, ``"crash"`` from the ``stale`` marker on. Here
``"stall"`` is the fault's: a curve's own ``"stall"`` events (a linked signal's long step
time) take no scrapes of their own, so the export does not show them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_synthloss.checks.scoring import check_roles as scoring_roles
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import EVENT_KINDS
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.core.validation import check_mode
from pytest_synthloss.exports.prometheus_durations import MAX_DURATION_MS, format_duration

__all__ = [
    "FAULT_KINDS",
    "LOOKBACK_MS",
    "MAX_EXPORT_STEPS",
    "STALL_MODES",
    "Scrape",
    "Timeline",
    "check_roles",
]

#: Most scrapes (evaluations) one exported run may take: every step is a sample and a check.
MAX_EXPORT_STEPS = 100_000
#: How far back an instant query looks for a sample (Prometheus's default 5 minutes).
LOOKBACK_MS = 5 * 60_000
#: Event kinds that come from a run's faults rather than from its curve.
FAULT_KINDS: tuple[str, ...] = ("stall", "restart", "drop", "crash")
#: What the scrapes of a stall hold: the last sample again, nothing, or a staleness marker.
STALL_MODES: tuple[str, ...] = ("held", "missing", "stale")


@dataclass(frozen=True)
class Scrape:
    """One evaluation of the export: the sample written there and the step a query sees.

    ``step`` is the step of the sample written at this scrape (``None``: no sample);
    ``text`` is what the ``values`` of ``train_loss`` hold here (the loss, ``"_"``,
    ``"stale"``, or ``""`` once the series have ended); ``shown`` is the step an instant
    query sees (``None``: none); ``fault`` the fault kind this scrape belongs to, if any;
    ``held`` whether the sample repeats the previous one (a held stall); ``dropped`` the
    step whose sample is missing here (a dropped step).
    """

    step: int | None
    text: str
    shown: int | None
    fault: str | None = None
    held: bool = False
    dropped: int | None = None

    @property
    def note(self) -> str:
        """A comment for the file: ``step 7``, ``step 7 (held)``, ``step 7 dropped``, ..."""
        if self.fault == "drop":
            return f"step {self.dropped} dropped"
        if self.fault == "crash":
            return "crashed" + (f" (step {self.shown} shown)" if self.shown is not None else "")
        if self.fault == "stall" and not self.held:
            shown = f", step {self.shown} shown" if self.shown is not None else ""
            return f"stalled ({'stale' if self.text == 'stale' else 'no sample'}{shown})"
        text = f"step {self.step}"
        if self.held:
            text += " (held: stalled)"
        if self.fault == "restart":
            text += " (restarted)"
        return text


def check_roles(
    expect: Iterable[str] | str, tolerate: Iterable[str] | str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``expect`` and ``tolerate`` as kinds of curve or fault events, in neither both."""
    known = (*EVENT_KINDS, *(kind for kind in FAULT_KINDS if kind not in EVENT_KINDS))
    return scoring_roles(expect, tolerate, known)


class Timeline:
    """The scrapes of one exported run (see the module documentation)."""

    def __init__(
        self,
        curve: LossCurve,
        interval_ms: int,
        faults: Faults | None = None,
        stall: str = "held",
    ) -> None:
        self.curve = curve
        self.interval_ms = interval_ms
        self.faults = faults if faults else Faults()
        self.stall = check_mode("stall", stall, STALL_MODES)
        self.scrapes: tuple[Scrape, ...] = tuple(self._scrapes())
        if len(self.scrapes) > MAX_EXPORT_STEPS:
            what = "curve has" if not self.faults else "run takes"
            raise SynthLossError(
                f"the {what} {len(self.scrapes)} {'steps' if not self.faults else 'scrapes'}; "
                f"an export holds at most {MAX_EXPORT_STEPS}"
            )
        if (len(self.scrapes) - 1) * interval_ms > MAX_DURATION_MS:
            what = "curve's last step" if not self.faults else "run's last scrape"
            raise SynthLossError(
                f"the {what} would be evaluated at "
                f"{format_duration((len(self.scrapes) - 1) * interval_ms)}, past the longest "
                f"Prometheus duration {format_duration(MAX_DURATION_MS)}; "
                "use a shorter interval"
            )

    # -- building ---------------------------------------------------------------------

    def _stall_scrapes(self) -> int:
        step, seconds = self.faults.stall or (0, 0.0)
        ms = seconds * 1000
        if ms != math.floor(ms) or int(ms) % self.interval_ms:
            raise SynthLossError(
                f"the stall of {seconds:g} s before step {step} is not a whole number of "
                f"{format_duration(self.interval_ms)} intervals; the export writes one sample "
                "per interval, so stall a whole number of intervals or use an interval that "
                "divides the stall"
            )
        count = int(ms) // self.interval_ms
        if count > MAX_EXPORT_STEPS:
            raise SynthLossError(
                f"the stall of {seconds:g} s before step {step} takes {count} scrapes of "
                f"{format_duration(self.interval_ms)}; an export holds at most "
                f"{MAX_EXPORT_STEPS} scrapes, so use a longer interval"
            )
        return count

    def _walk(self) -> list[tuple[int, str | None]]:
        """The steps the run goes through, in order, each with its fault (``drop``/``stall``)."""
        faults, curve = self.faults, self.curve
        faults.check_run(len(curve), curve.start_step)
        first, last = curve.start_step, curve.last_step
        end = faults.crash_step if faults.crash_step is not None else last
        passes = [(first, end)]
        if faults.restart is not None:
            passes = [(first, faults.restart[0]), (faults.restart[0] - faults.restart[1] + 1, end)]
        if faults.stall_step == first:
            raise SynthLossError(
                f"a stall before the run's first step {first} looks like a run that has not "
                "started yet (nothing is scraped before the first line); stall before a later step"
            )
        stall_at, stall_scrapes = faults.stall_step, self._stall_scrapes() if faults.stall else 0
        dropped = set(faults.drop)
        walk: list[tuple[int, str | None]] = []
        for low, high in passes:
            for step in range(low, high + 1):
                if step == stall_at:
                    walk += [(step, "stall")] * stall_scrapes
                    stall_at = None
                walk.append((step, "drop" if step in dropped else None))
        return walk

    def _scrapes(self) -> list[Scrape]:
        curve, losses = self.curve, self.curve.losses.tolist()
        per_lookback = LOOKBACK_MS // self.interval_ms  # a sample this many scrapes old is seen
        out: list[Scrape] = []
        last: tuple[int, int] | None = None  # (scrape index, step) of the latest sample
        gone = False  # a staleness marker came after the latest sample
        stall_index = 0
        for index, (step, fault) in enumerate(self._walk()):
            written: int | None = step
            held, dropped = False, None
            text = repr(losses[step - curve.start_step])
            if fault == "drop":
                written, text, dropped = None, "_", step
            elif fault == "stall":
                stall_index += 1
                if self.stall == "held" and last is not None:
                    written, held = last[1], True
                    text = repr(losses[written - curve.start_step])
                elif self.stall == "stale" and stall_index == 1:
                    written, text, gone = None, "stale", True
                else:
                    written, text = None, "_"
            shown_before = out[-1].shown if out else None  # what `offset 1i` sees
            if written is not None:
                last, gone = (index, written), False
            shown = self._shown(index, last, gone, per_lookback)
            if (
                fault is None
                and written is not None
                and shown_before is not None
                and written < shown_before
            ):
                fault = "restart"
            out.append(Scrape(written, text, shown, fault, held, dropped))
        if self.faults.crash_step is not None:
            out.append(Scrape(None, "stale", None, "crash"))
            tail = curve.last_step - self.faults.crash_step
            out += [Scrape(None, "", None, "crash")] * tail
        return out

    @staticmethod
    def _shown(
        index: int, last: tuple[int, int] | None, gone: bool, per_lookback: int
    ) -> int | None:
        if last is None or gone or index - last[0] > per_lookback:
            return None
        return last[1]

    # -- the series ---------------------------------------------------------------------

    def values(self) -> tuple[str, str]:
        """The ``values`` text of the loss series and of the step series."""
        written = [s for s in self.scrapes if s.text]
        loss = " ".join(s.text for s in written)
        steps = " ".join(s.text if s.step is None else str(s.step) for s in written)
        return loss, steps

    # -- ground truth per scrape --------------------------------------------------------

    def active(self, kinds: Sequence[str]) -> list[bool]:
        """Whether an event of one of ``kinds`` is on at each scrape."""
        curve_kinds = {kind for kind in kinds if kind not in FAULT_KINDS}
        steps: set[int] = set()
        for event in self.curve.events:
            if event.kind in curve_kinds:
                steps.update(range(event.first, event.last + 1))
        return [
            (s.fault is not None and s.fault in kinds) or (s.shown is not None and s.shown in steps)
            for s in self.scrapes
        ]

    def expected(
        self, expect: Sequence[str], tolerate: Sequence[str], hold_ms: int
    ) -> tuple[set[int], set[int]]:
        """The scrapes at which the alert must fire and those not checked.

        The alert fires once an ``expect`` event has been on for ``hold_ms`` (``for:``):
        consecutive scrapes with an expected event on count as one stretch. The scrapes of a
        ``tolerate`` event that is not expected are not checked, nor are the first scrapes of
        a stretch that follows one (the alert may have started pending there).
        """
        wait = -(-hold_ms // self.interval_ms)
        on = self.active(expect)
        allowed = self.active(tolerate)
        firing: set[int] = set()
        unchecked = {i for i, (a, b) in enumerate(zip(allowed, on, strict=True)) if a and not b}
        index = 0
        while index < len(on):
            if not on[index]:
                index += 1
                continue
            end = index
            while end + 1 < len(on) and on[end + 1]:
                end += 1
            firing.update(range(index + wait, end + 1))
            if wait and index > 0 and allowed[index - 1]:
                unchecked.update(range(index, min(index + wait, end + 1)))
            index = end + 1
        return firing, unchecked
