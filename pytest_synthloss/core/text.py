"""Plain text shared by failure messages, errors and the CLI: aligned columns, "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["align_columns", "count_noun", "did_you_mean", "unknown_parameter"]


def align_columns(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Rows as columns two spaces apart, padded to the widest cell; columns in ``right``
    align right. Trailing spaces are stripped from each line."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` to ``name``, or ``""``.

    The closest is difflib's best match, else the one known name containing ``name``.

    >>> did_you_mean("lightnin", ["lightning", "metaseq"])
    " (did you mean 'lightning'?)"
    >>> did_you_mean("sigma", ["rolling_interval_length", "sigma_factor"])
    " (did you mean 'sigma_factor'?)"
    >>> did_you_mean(3, ["lightning"])
    ''
    """
    if not isinstance(name, str):
        return ""
    names = list(known)
    import difflib  # only when a name is unknown: the plugin's start-up does not pay it

    close = difflib.get_close_matches(name, names, n=1)
    if not close:
        close = [known_name for known_name in names if name and name in known_name][:2]
        close = close if len(close) == 1 else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_parameter(who: str, given: Iterable[str], known: Sequence[str]) -> str | None:
    """The error message for the first of ``given`` not in ``known``, or ``None``.

    >>> unknown_parameter("lightning", ["windw"], ["mode", "window"])
    "lightning: unknown parameter 'windw'; its parameters: mode, window (did you mean 'window'?)"
    """
    for key in given:
        if key not in known:
            hint = did_you_mean(key, known)
            return f"{who}: unknown parameter {key!r}; its parameters: {', '.join(known)}{hint}"
    return None


def count_noun(count: int, word: str) -> str:
    """``1 gap``, ``2 gaps``: a count and its noun, plural with an ``s`` unless it is 1."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
