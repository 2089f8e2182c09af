"""Prometheus durations (``"1m"``, ``"1h30m"``, ``"500ms"``), parsed to and formatted from ms.

Bounded as Prometheus bounds them: a duration is int64 nanoseconds, so at most
:data:`MAX_DURATION_MS` (about 292 years).
"""

from __future__ import annotations

import datetime
import re

from pytest_synthloss.core.errors import SynthLossError

__all__ = ["MAX_DURATION_MS", "format_duration", "parse_duration"]

#: Longest duration Prometheus accepts, in milliseconds: ``2**63 - 1`` nanoseconds (about
#: 292 years; promtool reports "duration out of range" beyond).
MAX_DURATION_MS = (2**63 - 1) // 1_000_000


_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?\Z"
)
_UNITS_MS = (
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
)
_DURATION_FORM = "a Prometheus duration such as '1m', '30s', '1h30m' or '500ms'"


def parse_duration(value: str | datetime.timedelta, what: str = "interval") -> int:
    """A positive Prometheus duration (``"1m"``, ``"1h30m"``) or timedelta, in milliseconds."""
    if isinstance(value, datetime.timedelta):
        ms = value / datetime.timedelta(milliseconds=1)
        if ms <= 0 or ms != int(ms):
            raise SynthLossError(
                f"{what} must be a positive whole number of milliseconds, got {value!r}"
            )
        return _check_range(int(ms), what, value)
    match = _DURATION.match(value) if isinstance(value, str) and value else None
    if match is None:
        raise SynthLossError(f"{what} must be {_DURATION_FORM}, got {value!r}")
    parts = [(part, unit) for part, (_, unit) in zip(match.groups(), _UNITS_MS, strict=True)]
    if any(part and len(part.lstrip("0")) > 20 for part, _ in parts):
        total = MAX_DURATION_MS + 1  # too many digits to convert: out of range anyway
    else:
        total = sum(int(part) * unit for part, unit in parts if part)
    if total <= 0:
        raise SynthLossError(
            f"{what} must be a positive duration ({_DURATION_FORM}), got {value!r}"
        )
    return _check_range(total, what, value)


def _check_range(ms: int, what: str, value: object) -> int:
    if ms > MAX_DURATION_MS:
        raise SynthLossError(
            f"{what} must be at most {format_duration(MAX_DURATION_MS)} (Prometheus durations "
            f"are int64 nanoseconds, about 292 years), got {value!r}"
        )
    return ms


def format_duration(ms: int) -> str:
    """Milliseconds as a Prometheus duration, largest units first: ``210000`` -> ``"3m30s"``."""
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS_MS:
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
