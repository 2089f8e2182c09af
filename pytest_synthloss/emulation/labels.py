"""Labels for a recorded log: the incidents a person marked, from a sidecar file or code.

A label is ``{"kind": ..., "start": STEP, "end": STEP, "note": "..."}`` (``end`` defaults
to ``start``; ``note`` is optional free text). The kinds are the
:data:`~pytest_synthloss.core.events.EVENT_KINDS` (``"spike"``, ``"nonfinite"``,
``"divergence"``, ``"plateau"``, the benign ``"warmup"``, ``"schedule"`` and ``"epoch"``,
``"incident"`` for anything else worth an alert and ``"stall"`` for steps a recorded run
never logged).

The sidecar file sits next to the log: ``run.csv.labels.json`` for ``run.csv`` (or
``.labels.yaml``/``.labels.yml`` when PyYAML is installed). It holds a list of labels or
an object ``{"labels": [...], "source": "..."}``. Each error names the file, the label
(its position in the list, from 0) and the field, and says what is allowed;
:func:`label_events` checks them against the recorded steps.

What may overlap, and what a label may cover, is the recorded curve's rule
(:func:`~pytest_synthloss.core.validation_recorded.check_labels` and
:data:`~pytest_synthloss.core.validation_recorded.INCOMPATIBLE_KINDS`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import EVENT_KINDS, Event
from pytest_synthloss.core.validation import MAX_STEP, check_path, show

__all__ = [
    "LABEL_KINDS",
    "SIDECAR_SUFFIXES",
    "Label",
    "find_sidecar",
    "label_events",
    "labels_to_json",
    "parse_labels",
    "read_labels",
    "shift_labels",
]

#: Every kind a label may have: the profiles' event kinds and ``"incident"``.
LABEL_KINDS: tuple[str, ...] = tuple(dict.fromkeys((*EVENT_KINDS, "incident")))
#: The sidecar file names tried next to a log, in order (YAML only with PyYAML).
SIDECAR_SUFFIXES = (".labels.json", ".labels.yaml", ".labels.yml")
_KEYS = ("kind", "start", "end", "note")
_TOP_KEYS = ("labels", "source")


@dataclass(frozen=True)
class Label:
    """One labelled event of a recorded run: ``kind`` over steps ``start..end`` (inclusive)."""

    kind: str
    start: int
    end: int
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The label as the sidecar file writes it (``end`` and ``note`` only when set)."""
        record: dict[str, Any] = {"kind": self.kind, "start": self.start}
        if self.end != self.start:
            record["end"] = self.end
        if self.note is not None:
            record["note"] = self.note
        return record


def find_sidecar(log_path: str | os.PathLike[str]) -> str | None:
    """The labels file next to ``log_path`` (``<log>.labels.json``...), or ``None``."""
    path = check_path(log_path, "log path")
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.rstrip("/") + suffix
        if os.path.isfile(candidate) and (suffix == ".labels.json" or _has_yaml()):
            return candidate
    return None


def _has_yaml() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def read_labels(path: str | os.PathLike[str]) -> tuple[tuple[Label, ...], str | None]:
    """The labels of a sidecar file and its ``source`` text (``None`` if it has none)."""
    where = check_path(path, "labels file")
    try:
        with open(where, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SynthLossError(f"cannot read labels file {where!r}: {reason}") from None
    if where.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise SynthLossError(
                f"labels file {where!r}: reading YAML needs PyYAML (pip install pyyaml); "
                "or write the labels as JSON (.labels.json)"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" (line {mark.line + 1})" if mark is not None else ""
            raise SynthLossError(f"labels file {where!r}: invalid YAML{line}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SynthLossError(
                f"labels file {where!r}: invalid JSON at line {exc.lineno} ({exc.msg})"
            ) from None
    source = None
    if isinstance(data, dict):
        unknown = [key for key in data if key not in _TOP_KEYS]
        if unknown or "labels" not in data:
            problem = f"unknown key {unknown[0]!r}" if unknown else "no 'labels' key"
            raise SynthLossError(
                f"labels file {where!r}: {problem}; a labels file holds a list of labels "
                "or an object with 'labels' (a list) and an optional 'source' (text)"
            )
        source = data.get("source")
        if source is not None and not isinstance(source, str):
            raise SynthLossError(f"labels file {where!r}: source must be text, got {show(source)}")
        data = data["labels"]
    return parse_labels(data, where), source


def parse_labels(data: object, origin: str = "labels") -> tuple[Label, ...]:
    """Labels from a list of dicts, :class:`Label` or :class:`Event` objects.

    ``origin`` (a file name) starts every error message.
    """
    prefix = f"labels file {origin!r}" if origin != "labels" else "labels"
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise SynthLossError(
            f"{prefix}: expected a list of labels ({{kind, start, end?, note?}}), got {show(data)}"
        )
    labels = []
    for number, item in enumerate(data):
        labels.append(_label(item, f"{prefix}: label {number}"))
    return tuple(labels)


def _label(item: object, where: str) -> Label:
    if isinstance(item, Label):
        record: Mapping[str, Any] = item.as_dict()
    elif isinstance(item, Event):
        record = {"kind": item.kind, "start": item.first, "end": item.last}
    elif isinstance(item, Mapping):
        record = item
    else:
        raise SynthLossError(
            f"{where}: expected an object {{kind, start, end?, note?}}, got {show(item)}"
        )
    unknown = [key for key in record if key not in _KEYS]
    if unknown:
        raise SynthLossError(
            f"{where}: unknown field {show(unknown[0])}; the fields are kind, start, end "
            "(default: start) and note"
        )
    kind = record.get("kind")
    if kind not in LABEL_KINDS:
        raise SynthLossError(
            f"{where}: kind {show(kind)} is unknown; allowed: {', '.join(LABEL_KINDS)}"
        )
    if "start" not in record:
        raise SynthLossError(f"{where}: the field 'start' (the first step) is missing")
    start = _step(record["start"], f"{where}: start")
    end = start if record.get("end") is None else _step(record["end"], f"{where}: end")
    if end < start:
        raise SynthLossError(f"{where}: end {end} is before start {start}; end must be >= start")
    note = record.get("note")
    if note is not None and not isinstance(note, str):
        raise SynthLossError(f"{where}: note must be text, got {show(note)}")
    return Label(str(kind), start, end, note)


def _step(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEP:
        raise SynthLossError(f"{what} must be a step (an integer >= 0), got {show(value)}")
    return value


def label_events(
    labels: Sequence[Label], steps: np.ndarray, origin: str = "labels", offset: int = 0
) -> tuple[Event, ...]:
    """The labels as events on the curve's steps, checked against ``steps`` (the curve's).

    ``offset`` is added to each label's steps (a log counted from 0 becomes a curve from
    1). The checks are the recorded curve's own
    (:func:`~pytest_synthloss.core.validation_recorded.check_labels`: labels within the
    recorded steps, no overlap of incompatible kinds); the error names the labels file.
    """
    from pytest_synthloss.core.validation_recorded import check_labels

    prefix = f"labels file {origin!r}" if origin != "labels" else "labels"
    if offset:
        prefix += f" (steps shifted by {offset})"
    events = []
    for number, label in enumerate(labels):
        try:
            events.append(Event(label.kind, label.start + offset, label.end + offset))
        except SynthLossError as exc:
            raise SynthLossError(f"{prefix}: label {number}: {exc}") from None
    try:
        return check_labels(events, np.unique(steps))
    except SynthLossError as exc:
        raise SynthLossError(f"{prefix}: {exc}") from None


def shift_labels(labels: Sequence[Label], offset: int) -> tuple[Label, ...]:
    """The labels with ``offset`` added to their steps."""
    return tuple(Label(x.kind, x.start + offset, x.end + offset, x.note) for x in labels)


def labels_to_json(labels: Sequence[Label], source: str | None = None) -> str:
    """The sidecar file text for ``labels`` (read back by :func:`read_labels`)."""
    record: dict[str, Any] = {"labels": [label.as_dict() for label in labels]}
    if source is not None:
        record["source"] = source
    lines = ",\n".join(f"    {json.dumps(item)}" for item in record["labels"])
    body = f'{{\n  "labels": [\n{lines}\n  ]' if lines else '{\n  "labels": []'
    if source is not None:
        body += f',\n  "source": {json.dumps(source)}'
    return body + "\n}\n"
