"""Importing the training loss of a Hugging Face ``trainer_state.json`` (its ``log_history``).

The ``Trainer`` saves ``trainer_state.json`` with each checkpoint. Its ``log_history`` is
a list of the dicts the trainer logged, each with a ``"step"``: the training entries
(``{"loss": 2.31, "grad_norm": ..., "learning_rate": ..., "epoch": 0.1, "step": 10}``),
the evaluation entries (``{"eval_loss": ..., "eval_runtime": ..., "step": 10}``) and one
summary at the end (``{"train_loss": <the mean>, "train_runtime": ..., "step": 100}``).

The value is the key ``"loss"`` (or ``value=``, such as ``"eval_loss"``); the entries
without that key (the evaluation entries and the summary, for ``"loss"``) are skipped and
counted in :attr:`~pytest_synthloss.emulation.recorded_log.RecordedLog.skipped`.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.emulation.import_tables import read_records
from pytest_synthloss.emulation.recorded_log import RecordedLog

__all__ = ["is_trainer_state", "read_trainer_state"]

#: The most bytes of a trainer_state.json read (a real one is a few MB at most).
MAX_STATE_BYTES = 1 << 28


def is_trainer_state(data: object) -> bool:
    """Whether a parsed JSON document looks like a ``trainer_state.json``."""
    return isinstance(data, dict) and isinstance(data.get("log_history"), list)


def read_trainer_state(
    path: str, *, step: str | None = None, value: str | None = None
) -> RecordedLog:
    """The ``value`` (default ``"loss"``) of every ``log_history`` entry that has it."""
    origin = f"log {path!r}"
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise SynthLossError(f"cannot read log {path!r}: {exc.strerror}") from None
    if len(raw) > MAX_STATE_BYTES:
        raise SynthLossError(f"{origin}: larger than {MAX_STATE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        detail = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise SynthLossError(f"{origin}: invalid JSON{detail}") from None
    if not is_trainer_state(data):
        raise SynthLossError(
            f"{origin}: not a trainer_state.json: expected an object with a 'log_history' list"
        )
    step_key = step or "step"
    value_key = value or "loss"
    records: list[tuple[str, dict[str, Any]]] = []
    keys: dict[str, None] = {}
    for index, entry in enumerate(data["log_history"]):
        if not isinstance(entry, dict):
            raise SynthLossError(
                f"{origin}: log_history[{index}]: expected an object, got {type(entry).__name__}"
            )
        keys.update(dict.fromkeys(entry))
        records.append((f"log_history[{index}]", entry))
    if value_key not in keys:
        found = ", ".join(repr(k) for k in keys) or "none (log_history is empty)"
        raise SynthLossError(
            f"{origin}: no log_history entry has the key {value_key!r}; keys found: {found}; "
            "pass value="
        )
    return read_records(
        records, tuple(keys), step_key, value_key, origin, "trainer-state", "entry", "key"
    )
