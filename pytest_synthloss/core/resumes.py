"""Resumes with data effects: what the data loader does when a run restarts from a checkpoint.

``Faults(restart=(k, back), resume=Resume(mode, batches, dip))``: after logging step ``k``
the run restarts from the checkpoint of step ``c = k - back`` (the model's state at ``c``),
and the data loader

============  ===========================================================================
``mode``      what is logged after the restart
============  ===========================================================================
``"same"``    steps ``c + 1 ..`` again with the same losses (the default, a clean resume)
``"replay"``  steps ``c + 1 ..``; the first ``batches`` of them replay batches the model
              has already seen, so their loss dips to ``(1 - dip)`` times the step's loss,
              then bumps back (the data loader restarted from the start of its epoch)
``"skip"``    the step counter and the data loader skip ``batches`` steps ahead: logged
              step ``s`` is the model's step ``s - batches`` (steps ``k + 1 .. c + batches``
              are never logged when ``batches > back``; the loss is the checkpoint's)
``"reset"``   the step counter starts again at 1: logged step ``s`` is model step ``c + s``
============  ===========================================================================

Each logged loss is ``scale * loss(model_step)``, a pure function of the step. Ground truth
(:func:`resume_truth`): the jump in the logged steps (what ``read_log`` reports as a
resume), the steps logged twice, the steps never logged and the steps whose loss dips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_float, check_int, check_mode

if TYPE_CHECKING:
    from pytest_synthloss.core.faults import Faults

__all__ = ["RESUME_MODES", "Resume", "ResumeTruth", "parse_resume", "resume_truth", "resumed_pass"]

RESUME_MODES = ("same", "replay", "skip", "reset")


@dataclass(frozen=True)
class Resume:
    """The data loader's behaviour at a restart: ``mode`` (see the module docs), ``batches``
    (replayed or skipped; 0 for ``same`` and ``reset``) and ``dip`` (replay's relative drop,
    0 < dip < 1)."""

    mode: str = "same"
    batches: int = 0
    dip: float = 0.1

    def __post_init__(self) -> None:
        mode = check_mode("resume mode", self.mode, RESUME_MODES)
        object.__setattr__(self, "mode", mode)
        if mode in ("replay", "skip"):
            batches = check_int(f"resume batches ({mode})", self.batches, 1, 10**9)
        else:
            batches = check_int(f"resume batches ({mode})", self.batches, 0, 0)
        object.__setattr__(self, "batches", batches)
        dip = check_float(
            "resume dip", self.dip, positive=True, maximum=0.999, allowed="> 0 and < 1"
        )
        object.__setattr__(self, "dip", dip)

    def text(self) -> str:
        """``mode[:batches[:dip]]``, as ``--restart`` takes it after ``STEP:BACK``."""
        if self.mode == "replay":
            return f"replay:{self.batches}:{self.dip!r}"
        return self.mode if self.mode in ("same", "reset") else f"{self.mode}:{self.batches}"

    def describe(self) -> str:
        """A few words: ``data replays 3 batches (loss -10%)`` and the like."""
        return {
            "same": "same data",
            "replay": f"data replays {self.batches} batches (loss -{self.dip:.0%})",
            "skip": f"data and step counter skip {self.batches} steps",
            "reset": "step counter reset to 1",
        }[self.mode]


def parse_resume(parts: list[str]) -> Resume:
    """A :class:`Resume` from ``--restart``'s fields after ``STEP:BACK``."""
    if not parts:
        return Resume()
    mode, numbers = parts[0], parts[1:]
    try:
        batches = int(numbers[0]) if numbers else 0
        dip = float(numbers[1]) if len(numbers) > 1 else 0.1
    except ValueError:
        raise SynthLossError(f"resume: bad numbers in {':'.join(parts)!r}") from None
    if len(numbers) > (2 if mode == "replay" else 1):
        raise SynthLossError(f"resume: too many fields in {':'.join(parts)!r}")
    return Resume(mode, batches, dip)


def resumed_pass(
    resume: Resume | None, restart: int, back: int, end: int
) -> list[tuple[int, int, int, float]]:
    """The logged passes after a restart: ``(first, last, shift, scale)``, logged step ``s``
    showing ``scale * loss(s - shift)``; ``end`` is the run's last model step."""
    checkpoint = restart - back
    mode = "same" if resume is None else resume.mode
    if mode == "reset":
        return [(1, end - checkpoint, -checkpoint, 1.0)]
    if mode == "skip":
        assert resume is not None
        if checkpoint + 1 + resume.batches > end:
            raise SynthLossError(
                f"a resume skipping {resume.batches} steps after restarting from step "
                f"{checkpoint} would log nothing: the run ends at step {end}"
            )
        return [(checkpoint + 1 + resume.batches, end, resume.batches, 1.0)]
    if mode == "replay":
        assert resume is not None
        dipped = min(checkpoint + resume.batches, end)
        return [(checkpoint + 1, dipped, 0, 1.0 - resume.dip), (dipped + 1, end, 0, 1.0)]
    return [(checkpoint + 1, end, 0, 1.0)]


@dataclass(frozen=True)
class ResumeTruth:
    """The ground truth of a restart with its data effect.

    ``jump`` is ``(k, s)``: logged step ``k`` is followed by logged step ``s`` (``s <= k``:
    the steps go back, what ``read_log`` reports in ``resumes``; ``s > k + 1``: a gap);
    ``repeated`` the steps logged twice, ``skipped`` the steps never logged because of the
    restart, ``dipped`` the logged steps whose loss is a replayed batch's, ``checkpoint``
    the model's step at the restart.
    """

    mode: str
    checkpoint: int
    jump: tuple[int, int]
    repeated: tuple[int, ...]
    skipped: tuple[int, ...]
    dipped: tuple[int, ...]


def resume_truth(faults: Faults, steps: int, start_step: int = 1) -> ResumeTruth | None:
    """The :class:`ResumeTruth` of ``faults`` in a run of ``steps`` steps from ``start_step``
    (``None`` without a restart). Dropped steps are never logged, and not counted here."""
    logged = faults.logged_steps(steps, start_step)  # checks the faults against the run
    if faults.restart is None:
        return None
    restart, back = faults.restart
    checkpoint = restart - back
    resume = faults.resume or Resume()
    first_pass = logged[: logged.index(restart) + 1]
    second = logged[len(first_pass) :]
    seen = set(first_pass)
    repeated = tuple(s for s in second if s in seen)
    skipped: tuple[int, ...] = ()
    if resume.mode == "skip":
        dropped = set(faults.drop)
        skipped = tuple(
            s for s in range(restart + 1, checkpoint + resume.batches + 1) if s not in dropped
        )
    dipped: tuple[int, ...] = ()
    if resume.mode == "replay":
        dipped = tuple(s for s in second if s <= checkpoint + resume.batches)
    jump = (restart, second[0]) if second else (restart, restart)
    return ResumeTruth(resume.mode, checkpoint, jump, repeated, skipped, dipped)
