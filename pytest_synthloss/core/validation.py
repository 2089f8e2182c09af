"""The one validation module: every layer checks its inputs here.

Each check returns the value normalised (``int``, ``float``, ``str``, an array) or raises
``SynthLossError`` with a message that names the bad value (and, in an array, its index)
and what is allowed. Nothing is coerced: booleans, floats for integers, NaN and strings
are refused. Values are shown safely: an integer too large to print (or to convert to a
float) is described by its number of digits, never an ``OverflowError``/``ValueError``.

Text parsers (``parse_*``) use a strict ASCII grammar: ``٥``, ``1_000``, ``2.`` are refused.
Arrays (:func:`step_array`, :func:`loss_array`) name the *first* offending element and
its index; float step arrays of whole numbers (``np.arange(1.0, 11.0)``) are steps.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core.errors import SynthLossError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LOSS_CEILING",
    "MAX_ARRAY_SIZE",
    "MAX_NAME_CHARS",
    "MAX_NUMBER_CHARS",
    "MAX_SLEEP_SECONDS",
    "MAX_STEP",
    "MAX_WALL_TIME",
    "SPECIAL_FLOATS",
    "as_numeric_array",
    "check_float",
    "check_int",
    "check_lr",
    "check_mode",
    "check_name",
    "check_number",
    "check_path",
    "check_port",
    "check_real",
    "check_step",
    "first_index",
    "loss_array",
    "parse_float",
    "parse_int",
    "parse_port",
    "show",
    "step_array",
]

#: Largest step the model accepts: steps are stored as int64.
MAX_STEP = 2**63 - 1
#: Diverging and noisy losses are capped here, and no profile value may exceed it, so a
#: run's non-finite losses are exactly its declared ``nonfinite`` steps, in float64 and in
#: float32 alike: 1e38 is below float32's largest finite value (about 3.4028e38).
LOSS_CEILING = 1e38
#: Longest sleep between emulated steps: a day per step (``time.sleep`` overflows near 9e9 s).
MAX_SLEEP_SECONDS = 86_400
#: Longest profile name (and other names logged on every line).
MAX_NAME_CHARS = 200
#: Latest wall time accepted (seconds since the epoch): the end of the year 9999.
MAX_WALL_TIME = 253_402_300_799.0
#: Most elements of an array computed at once (a curve's steps, say): 2**28 float64
#: values are 2 GiB. Larger runs are written in chunks (``iter_chunks``) instead.
MAX_ARRAY_SIZE = 2**28
MAX_PORT = 65535
_DIGITS = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: :func:`parse_float`'s non-finite spellings (lower-cased), and its longest number.
SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "+inf": math.inf}
MAX_NUMBER_CHARS = 400


def show(value: object, limit: int = 200) -> str:
    """``repr(value)``, safe and short: a huge integer is described by its digits."""
    bits = int(value).bit_length() if isinstance(value, numbers.Integral) else 0
    if bits > 166:  # 51+ digits: too long to read (past 4300, too long for str())
        number = abs(int(value))  # type: ignore[call-overload]
        digits = len(str(number)) if bits < 14000 else f"about {int(bits * 0.30103)}"
        return f"an integer of {digits} digits"
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return text


def check_int(
    what: str,
    value: object,
    minimum: int | None = None,
    maximum: int | None = None,
    unit: str = "",
) -> int:
    """An integer (Python or numpy, not bool) within ``minimum..maximum`` (of ``unit``)."""
    if maximum is None:
        allowed = "an integer" if minimum is None else f"an integer >= {minimum}"
    else:
        allowed = f"an integer from {minimum} to {maximum}"
    if unit:
        allowed += f" ({unit})"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SynthLossError(
            f"{what} must be {allowed}, got {show(value)} ({type(value).__name__})"
        )
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise SynthLossError(f"{what} must be {allowed}, got {show(number)}")
    return number


def check_step(step: object, what: str = "step") -> int:
    """Return ``step`` as an ``int`` if it is an integer >= 1, else raise ``SynthLossError``.

    Booleans, floats (even ``2.0``), NaN and strings are refused: nothing is coerced.
    """
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise SynthLossError(
            f"{what} must be an integer >= 1, got {show(step)} ({type(step).__name__})"
        )
    value = int(step)
    if value < 1:
        raise SynthLossError(f"{what} must be an integer >= 1, got {show(value)}")
    if value > MAX_STEP:
        raise SynthLossError(f"{what} must be an integer from 1 to {MAX_STEP}, got {show(value)}")
    return value


def check_float(
    what: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    allowed: str | None = None,
) -> float:
    """A finite real number (Python or numpy, not bool) within the bounds.

    ``positive`` excludes 0; ``allowed`` words the bounds in the message (default:
    ``> 0``, ``>= minimum``, ``from minimum to maximum``). Integers too large for a
    float are refused like any other out-of-range value.
    """
    if allowed is None:
        if positive:
            allowed = "> 0" if maximum is None else f"> 0 and <= {maximum:g}"
        elif minimum is not None and maximum is not None:
            allowed = f"from {minimum:g} to {maximum:g}"
        elif minimum is not None:
            allowed = f">= {minimum:g}"
        elif maximum is not None:
            allowed = f"<= {maximum:g}"
        else:
            allowed = ""
    message = f"{what} must be a finite number {allowed}".rstrip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SynthLossError(f"{message}, got {show(value)} ({type(value).__name__})")
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise SynthLossError(f"{message}, got {show(value)}") from None
    if (
        not math.isfinite(number)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
        or (positive and number <= 0)
    ):
        raise SynthLossError(f"{message}, got {show(value)}")
    return number + 0.0  # normalises -0.0 to 0.0


def check_real(what: str, value: object) -> float:
    """A real number as a float, NaN and inf allowed (a loss); bools and non-numbers refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SynthLossError(f"{what} must be a number, got {show(value)} ({type(value).__name__})")
    try:
        return float(value)
    except (OverflowError, ValueError):
        raise SynthLossError(f"{what} must fit in a float, got {show(value)}") from None


def check_number(what: str, value: object, allowed: str) -> float:
    """A finite real number, ``> 0`` or ``>= 0`` as ``allowed`` says; bools are refused."""
    if allowed == "> 0":
        return check_float(what, value, positive=True, allowed=allowed)
    return check_float(what, value, minimum=0.0, allowed=allowed)


def check_lr(value: object, what: str = "lr") -> float | None:
    """A learning rate: a finite number > 0, or ``None`` (not logged)."""
    if value is None:
        return None
    return check_float(what, value, positive=True, allowed="> 0 or None")


def check_port(value: object, what: str = "port") -> int:
    """A TCP port number 0..65535 (0: any free port)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not (0 <= int(value) <= MAX_PORT)
    ):
        raise SynthLossError(
            f"{what} must be a port number from 0 to {MAX_PORT} (0: any free port), "
            f"got {show(value)}"
        )
    return int(value)


def check_mode(what: str, mode: object, allowed: tuple[str, ...]) -> str:
    """One of the strings ``allowed``."""
    if not isinstance(mode, str) or mode not in allowed:
        choices = " or ".join(repr(m) for m in allowed)
        raise SynthLossError(f"{what} must be {choices}, got {show(mode)}")
    return mode


def check_name(name: object, what: str = "profile name") -> str:
    """A name logged and selected by text: a non-empty string of at most 200 printable
    characters, without surrounding whitespace, control characters or lone surrogates."""
    rule = (
        f"{what} must be a non-empty string of at most {MAX_NAME_CHARS} printable characters "
        "without surrounding whitespace"
    )
    if not isinstance(name, str):
        raise SynthLossError(f"{rule}, got {show(name)} ({type(name).__name__})")
    if not name or len(name) > MAX_NAME_CHARS or name != name.strip():
        raise SynthLossError(f"{rule}, got {show(name)}")
    for index, char in enumerate(name):
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and char != "\u200d"):
            raise SynthLossError(
                f"{rule}, got {show(name)}: character {index} ({char!r}) is not printable"
            )
    return name


def check_path(path: object, what: str = "path") -> str:
    """A file system path: ``str`` or ``os.PathLike`` of ``str``, non-empty, no NUL."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(text, str):
        raise SynthLossError(f"{what} must be a path (str or os.PathLike), got {show(path)}")
    if not text or "\0" in text:
        raise SynthLossError(f"{what} must be a non-empty path without NUL bytes, got {show(path)}")
    return text


# -- text (command line, ini files, logs) --------------------------------------------------


def parse_int(text: str, what: str, minimum: int = 1, maximum: int = MAX_STEP) -> int:
    """ASCII digits (surrounding spaces allowed) for an integer within the bounds."""
    digits = text.strip()
    if (
        not _DIGITS.fullmatch(digits)
        or len(digits.lstrip("0")) > len(str(maximum))
        or not minimum <= int(digits) <= maximum
    ):
        allowed = f">= {minimum}" if maximum == MAX_STEP else f"from {minimum} to {maximum}"
        raise SynthLossError(f"{what} must be an integer {allowed}, got {show(text)}")
    return int(digits)


def parse_float(text: str, what: str) -> float:
    """A decimal number in ASCII (``1.5``, ``-2e-3``, ``.5``), or ``nan``/``inf``/``-inf``.

    Refused: ``2.``, ``1_000``, non-ASCII digits, hexadecimal, and numbers of more than
    400 characters (a 200-million-digit loss is not read as inf).
    """
    if len(text) <= MAX_NUMBER_CHARS:
        if _FLOAT.fullmatch(text):
            return float(text)
        special = SPECIAL_FLOATS.get(text.lower())
        if special is not None:
            return special
    raise SynthLossError(f"{what} must be a number, got {show(text)}")


def parse_port(text: str, what: str = "port") -> int:
    """A port number 0..65535 from its ASCII digits."""
    if not _DIGITS.fullmatch(text) or len(text) > 5 or int(text) > MAX_PORT:
        raise SynthLossError(
            f"{what} must be a port number from 0 to {MAX_PORT} (0: any free port), "
            f"got {show(text)}"
        )
    return int(text)


# -- arrays -----------------------------------------------------------------------------------


def first_index(mask: np.ndarray) -> int:
    """The flat index of the first ``True`` in ``mask`` (``-1`` if none)."""
    import numpy as np

    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else -1


def as_numeric_array(what: str, values: Any, allowed: str = "numbers") -> np.ndarray:
    """``values`` as a numpy array of numbers (ints, floats; no bools, strings, None).

    Accepted: sequences, numpy arrays (numpy scalars inside), objects with ``__array__``;
    a tensor that needs a gradient is detached first. Refused: masked arrays (their
    hidden values would be used), and any element that is not a real number, named with
    its index. Returns an integer or float array (object input is converted).
    """
    import numpy as np

    if isinstance(values, np.ma.MaskedArray):
        raise SynthLossError(
            f"{what} must not be a masked array (the masked values would be used); "
            "pass values.compressed() or values.filled(np.nan)"
        )
    detach = getattr(values, "detach", None)
    if callable(detach) and getattr(values, "requires_grad", False):
        values = detach()
    if isinstance(values, (str, bytes)):
        raise SynthLossError(f"{what} must be an array-like of numbers, got {show(values)}")
    try:
        if isinstance(values, np.ndarray):
            arr = values
        elif hasattr(values, "__array__"):  # a tensor, a pandas Series: its own dtype
            arr = np.asarray(values)
        else:  # Python containers as objects, so that True or "2" is seen, not coerced
            arr = np.asarray(values, dtype=object)
    except (ValueError, TypeError) as exc:
        raise SynthLossError(f"{what} must be an array-like of numbers: {exc}") from None
    kind = arr.dtype.kind
    if kind in "iuf":
        return arr
    if kind != "O":
        shown = show(arr.ravel()[0].item()) if arr.size else "nothing"
        raise SynthLossError(
            f"{what} must be {allowed}, got {shown} at index 0 (dtype {arr.dtype})"
        )
    flat = arr.ravel()
    for index, item in enumerate(flat):
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
            raise SynthLossError(
                f"{what} must be {allowed}, got {show(item)} ({type(item).__name__}) at index "
                f"{_position(arr.shape, index)}"
            )
    if all(isinstance(item, numbers.Integral) for item in flat):
        if all(-MAX_STEP - 1 <= int(item) <= MAX_STEP for item in flat):
            return arr.astype(np.int64)
        if all(0 <= int(item) < 2**64 for item in flat):
            return arr.astype(np.uint64)
    try:
        return arr.astype(np.float64)
    except OverflowError:
        for index, item in enumerate(flat):
            try:
                float(item)
            except OverflowError:
                raise SynthLossError(
                    f"{what} must be numbers a float can hold, got {show(item)} at index "
                    f"{_position(arr.shape, index)}"
                ) from None
        raise


def step_array(what: str, values: Any) -> np.ndarray:
    """``values`` as an int64 array of steps (any shape): integers from 1 to :data:`MAX_STEP`.

    Float arrays are accepted when every element is a whole number (``np.arange(1.0, 11.0)``);
    the first element that is not, or is out of range, is named with its index.
    """
    import numpy as np

    rule = "integers >= 1"
    arr = as_numeric_array(what, values, rule)
    flat = arr.ravel()
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = first_index(~np.isfinite(flat) | (flat != np.floor(flat)))
        if bad >= 0:
            raise SynthLossError(
                f"{what} must be {rule}, got {show(flat[bad].item())} at index "
                f"{_position(arr.shape, bad)} (a float step must be a whole number)"
            )
    low = first_index(flat < 1)
    if low >= 0:
        raise SynthLossError(
            f"{what} must be {rule}, got {show(flat[low].item())} at index "
            f"{_position(arr.shape, low)}"
        )
    if arr.dtype.kind != "i":
        high = first_index(flat >= 2.0**63 if arr.dtype.kind == "f" else flat > MAX_STEP)
        if high >= 0:
            raise SynthLossError(
                f"{what} must be <= {MAX_STEP}, got {show(flat[high].item())} at index "
                f"{_position(arr.shape, high)}"
            )
    return arr.astype(np.int64)


def loss_array(what: str, values: Any) -> np.ndarray:
    """``values`` as a 1-D float64 array of losses (NaN and inf allowed: they are data)."""
    import numpy as np

    arr = as_numeric_array(what, values)
    if arr.ndim != 1:
        raise SynthLossError(f"{what} must be 1-D, got an array of shape {arr.shape}")
    return arr.astype(np.float64)


def _position(shape: tuple[int, ...], flat_index: int) -> str:
    import numpy as np

    where = tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else (0,)
    return str(where[0]) if len(where) == 1 else str(where)
