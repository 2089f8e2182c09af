"""Issue 17 figures: every spike rule and stack preset on a curve that never settles, and
the engines of the ``diverging`` and ``noisy`` profiles.

The rules run on the ``noisy`` built-in: its loss changes at every step, so no rule can
take the constant-tail shortcut the ``spiky``/``stable`` figures of ``cases.py`` hit. Each
rule has two rows: against ``numpy.full`` (the floor) and against the pandas
rolling/ewm/expanding expression of the same rule (reference and decision), a
benchmark-only baseline: without pandas those rows say so and carry no ratio.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import UNAVAILABLE, Row, Settings, best_of, case, fmt_steps, one_thread, threads_note

from pytest_synthloss import make_curve
from pytest_synthloss.core.curve import _cached_losses
from pytest_synthloss.core.draws import NOISE_BLOCK

#: Rule name -> (parameters timed, the pandas baseline's label).
RULES: dict[str, tuple[dict[str, object], str]] = {
    "running-min": ({}, "cummin().shift()"),
    "running-mean": ({}, "rolling(10, min_periods=1).mean().shift()"),
    "ema": ({}, "ewm(span=9, adjust=False).mean().shift()"),
    "zscore": ({}, "rolling(128, min_periods=64) mean and std(ddof=0), shifted"),
    "lightning": ({}, "rolling(10).mean().shift()"),
    "metaseq": ({"ewm_ratio_to_skip_batch": 3.0}, "ewm(span=9, adjust=False).mean()"),
    "megatron": ({}, "abs().cummax()"),
    "olmo-skip-step": ({}, "rolling(128) mean and std, shifted"),
    "olmo-stability": ({}, "rolling(128) mean and std(ddof=0), shifted"),
    "llm-foundry": ({}, "rolling(100).mean().shift()"),
}

#: The rules that split a long run over threads (``core.parallel``): their rows also show
#: the figure on one thread.
THREADED = frozenset({"ema", "zscore", "olmo-skip-step", "olmo-stability", "llm-foundry"})


def pandas() -> Any:
    """The pandas module, or ``None`` when it is not installed (a benchmark-only baseline)."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        return None


def pandas_rule(name: str, pd: Any, losses: np.ndarray) -> Callable[[], object]:
    """The pandas expression of rule ``name``: its reference and its decision."""
    s = pd.Series(losses)

    def ratio(reference: Any, threshold: float) -> object:
        return (s / reference).to_numpy() >= threshold

    def zscore(window: int, warmup: int, ddof: int, threshold: float) -> object:
        rolled = s.rolling(window, min_periods=warmup)
        mean, std = rolled.mean().shift(), rolled.std(ddof=ddof).shift()
        return ((s - mean) / std).to_numpy() > threshold

    return {
        "running-min": lambda: ratio(s.cummin().shift(), 3.0),
        "running-mean": lambda: ratio(s.rolling(10, min_periods=1).mean().shift(), 3.0),
        "ema": lambda: ratio(s.ewm(span=9, adjust=False).mean().shift(), 3.0),
        "zscore": lambda: zscore(128, 64, 0, 6.0),
        "lightning": lambda: ratio(s.rolling(10).mean().shift(), 3.0),
        "metaseq": lambda: ratio(s.ewm(span=9, adjust=False).mean(), 3.0),
        "megatron": lambda: ratio(s.abs().cummax(), 10.0),
        "olmo-skip-step": lambda: zscore(128, 64, 1, 6.0),
        "olmo-stability": lambda: zscore(128, 128, 0, 6.0),
        "llm-foundry": lambda: ratio(s.rolling(100).mean().shift(), 2.0),
    }[name]


def _rule_layout(name: str) -> Callable[[Settings], list[Row]]:
    def layout(s: Settings) -> list[Row]:
        n = fmt_steps(s.floor_steps)
        call = f"find_spikes(noisy, {name!r}) on {n} steps"
        return [
            Row(f"rule.{name}.full", f"{call} vs numpy.full({n})", "≤ 10", notes="noisy"),
            Row(
                f"rule.{name}.pandas",
                f"{call} vs pandas {RULES[name][1]}",
                "≤ 1 (no slower than pandas)",
            ),
        ]

    return layout


def _rule_case(name: str) -> None:
    def run(s: Settings, rows: list[Row]) -> None:
        rules = importlib.import_module("pytest_synthloss.checks.rules")
        spikes = importlib.import_module("pytest_synthloss.checks.spike_assertions")
        rule = rules.get_rule(name, **RULES[name][0])
        n = s.floor_steps
        curve = make_curve(n, "noisy")
        curve.losses  # noqa: B018  # the figure is the rule's own pass, not the curve's
        funcs: dict[str, Callable[[], object]] = {
            "ours": lambda: spikes.find_spikes(curve, rule),
            "full": lambda: np.full(n, 1.05),
        }
        if name in THREADED:
            funcs["one"] = one_thread(funcs["ours"])
        pd = pandas()
        if pd is not None:
            funcs["pandas"] = pandas_rule(name, pd, curve.losses)
        times = best_of(funcs, 5 if not s.quick else s.repeats, s.min_timing)
        full, versus = rows
        full.ours_s, full.baseline_s = times["ours"], times["full"]
        full.judge(10.0)
        full.details["steps"] = versus.details["steps"] = n
        if name in THREADED:
            full.notes = f"noisy; {threads_note(times, 'full')}"
        if pd is None:
            versus.verdict, versus.unavailable = UNAVAILABLE, "pandas is not installed"
            return
        versus.ours_s, versus.baseline_s = times["ours"], times["pandas"]
        versus.judge(1.0)
        versus.notes = f"pandas {pd.__version__}"

    case(_rule_layout(name), needs=("pytest_synthloss.checks.rules:STACK_PRESETS",))(run)


for _name in RULES:
    _rule_case(_name)


# -- engines ----------------------------------------------------------------------------------


def fresh(n: int, profile: str) -> np.ndarray:
    """A new curve's losses, computed (the shared cache is cleared first)."""
    _cached_losses.cache_clear()
    return make_curve(n, profile).losses


def same_normals(n: int, seed: int) -> np.ndarray:
    """The standard normals a ``Noise(seed=seed)`` profile uses for steps ``1..n``, drawn as
    the engine's contract draws them (block ``b`` from ``SeedSequence(seed, (b,))``)."""
    out = np.empty(n)
    for block, first in enumerate(range(0, n, NOISE_BLOCK)):  # step s: index s - 1
        sequence = np.random.SeedSequence(seed, spawn_key=(block,))
        values = np.random.Generator(np.random.PCG64(sequence)).standard_normal(NOISE_BLOCK)
        out[first : first + NOISE_BLOCK] = values[: n - first]
    return out


def _engine_layout(s: Settings) -> list[Row]:
    n = fmt_steps(s.floor_steps)
    return [
        Row("engine.diverging", f"make_curve({n}, 'diverging') vs numpy.full({n})", "≤ 5"),
        Row(
            "engine.noisy",
            f"make_curve({n}, 'noisy') vs drawing its {n} standard normals",
            "≤ 1.3",
        ),
    ]


@case(_engine_layout)
def engines(s: Settings, rows: list[Row]) -> None:
    """The diverging and noisy engines against their floors (computed, cache cleared)."""
    n = s.floor_steps
    times = best_of(
        {
            "diverging": lambda: fresh(n, "diverging"),
            "noisy": lambda: fresh(n, "noisy"),
            "full": lambda: np.full(n, 1.05),
            "draw": lambda: same_normals(n, 0),
        },
        s.repeats,
        s.min_timing,
    )
    diverging, noisy = rows
    diverging.ours_s, diverging.baseline_s = times["diverging"], times["full"]
    diverging.judge(5.0)
    noisy.ours_s, noisy.baseline_s = times["noisy"], times["draw"]
    noisy.judge(1.3)
    noisy.notes = f"{times['noisy'] / times['full']:.3g}× numpy.full"
    for row in rows:
        row.details["steps"] = n
