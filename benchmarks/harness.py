"""The benchmark harness: settings, timing, result rows and the case registry.

Every figure is a ratio of two timings taken in the same run, interleaved (``a b b a a b``
...), best of N: machines are noisy, so only ratios are compared with goals.
"""

from __future__ import annotations

import gc
import importlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PASS, MISS, INFO, UNAVAILABLE, ERROR = "PASS", "MISS", "INFO", "UNAVAILABLE", "ERROR"


@dataclass(frozen=True)
class Settings:
    """Sizes and repeat counts of one run; ``quick`` shrinks everything for a smoke run."""

    quick: bool
    curve_sizes: tuple[int, int, int]
    floor_steps: int  # the size of the "vs numpy.full" and assertion figures
    stream_steps: int  # iter_chunks
    chunk_size: int
    suite_tests: int  # tests in a generated collection suite
    collect_repeats: int
    sweep_shape: tuple[int, int, int]  # steps values, lr values, batch sizes per profile
    repeats: int
    min_timing: float  # a timing loops over enough calls to last this long (seconds)

    @classmethod
    def make(cls, quick: bool) -> Settings:
        """The full settings of the issue, or small ones for ``--quick``."""
        if quick:
            return cls(True, (10**3, 10**4, 10**5), 10**5, 10**7, 10**5, 30, 1, (5, 2, 2), 2, 0.002)
        return cls(
            False, (10**3, 10**6, 10**7), 10**7, 10**9, 1_000_000, 1000, 7, (25, 10, 5), 7, 0.02
        )


@dataclass
class Row:
    """One figure: our time, the baseline's time and their ratio (ours / baseline)."""

    id: str
    figure: str
    goal: str
    ours_s: float | None = None
    baseline_s: float | None = None
    ratio: float | None = None
    verdict: str = INFO
    unavailable: str | None = None
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def judge(self, limit: float | None) -> Row:
        """Set the ratio from the timings and the verdict from ``ratio <= limit``."""
        if self.ours_s is not None and self.baseline_s:
            self.ratio = self.ours_s / self.baseline_s
        if limit is not None and self.ratio is not None:
            self.verdict = PASS if self.ratio <= limit else MISS
        return self


@dataclass(frozen=True)
class Case:
    """A registered benchmark: its rows' layout, the function filling them, its imports."""

    layout: Callable[[Settings], list[Row]]  # ids, labels and goals, before measuring
    run: Callable[[Settings, list[Row]], None]  # measures and fills the rows in place
    needs: tuple[str, ...] = ()  # "module" or "module:name" that must import


REGISTRY: list[Case] = []


def case(
    layout: Callable[[Settings], list[Row]], needs: tuple[str, ...] = ()
) -> Callable[[Callable[[Settings, list[Row]], None]], Callable[[Settings, list[Row]], None]]:
    """Register the decorated function as the case filling the rows ``layout`` gives."""

    def register(
        func: Callable[[Settings, list[Row]], None],
    ) -> Callable[[Settings, list[Row]], None]:
        REGISTRY.append(Case(layout, func, needs))
        return func

    return register


def run_case(item: Case, settings: Settings) -> list[Row]:
    """The case's rows, measured; all marked unavailable (with the ImportError) or errored."""
    rows = item.layout(settings)
    reason = missing(item.needs)
    if reason is not None:
        for row in rows:
            row.verdict, row.unavailable = UNAVAILABLE, reason
        return rows
    try:
        item.run(settings, rows)
    except Exception as exc:  # a broken case must not hide the other figures
        for row in rows:
            if row.ratio is None and row.verdict != UNAVAILABLE:
                row.verdict, row.notes = ERROR, f"{type(exc).__name__}: {exc}"
    return rows


def missing(needs: tuple[str, ...]) -> str | None:
    """Why one of ``needs`` does not import (the ImportError's message), or ``None``."""
    for need in needs:
        module, _, name = need.partition(":")
        try:
            imported = importlib.import_module(module)
            if name and not hasattr(imported, name):
                raise ImportError(f"cannot import name {name!r} from {module!r}")
        except ImportError as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def one_thread(func: Callable[[], object]) -> Callable[[], object]:
    """``func`` with ``SYNTHLOSS_THREADS=1`` while it runs: its figure on one thread."""

    def call() -> object:
        before = os.environ.get("SYNTHLOSS_THREADS")
        os.environ["SYNTHLOSS_THREADS"] = "1"
        try:
            return func()
        finally:
            if before is None:
                del os.environ["SYNTHLOSS_THREADS"]
            else:
                os.environ["SYNTHLOSS_THREADS"] = before

    return call


def threads_note(times: dict[str, float], baseline: str) -> str:
    """``"1 thread: 12.3×"``: the ``"one"`` timing as a ratio to ``baseline``'s."""
    return f"1 thread: {times['one'] / times[baseline]:.3g}×"


def best_of(
    funcs: dict[str, Callable[[], object]], repeats: int, min_timing: float = 0.02
) -> dict[str, float]:
    """The best wall time (s) per call of each function over ``repeats`` interleaved rounds.

    Each function first runs once untimed (warm-up), then once timed to choose how many
    calls one timing loops over: enough for about ``min_timing`` seconds. The order of the
    functions rotates every round so none always runs first; the garbage collector is off
    while timing.
    """
    names = list(funcs)
    for func in funcs.values():
        func()
    number = {name: max(1, int(min_timing / _timed(funcs[name], 1))) for name in names}
    best = dict.fromkeys(names, math.inf)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            best[name] = min(best[name], _timed(funcs[name], number[name]) / number[name])
    return best


def _timed(func: Callable[[], object], number: int) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            func()
        return time.perf_counter() - start
    finally:
        gc.enable()


def fmt_time(seconds: float | None) -> str:
    """``1.23 ms``-style time, or an empty string."""
    if seconds is None:
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_steps(n: int) -> str:
    """``10^7`` for powers of ten, else the number with separators."""
    exponent = round(math.log10(n)) if n > 0 else 0
    return f"10^{exponent}" if 10**exponent == n else f"{n:,}"
