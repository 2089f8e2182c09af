"""In-process figures: the vector engine, streaming, assertions and the sweep."""

from __future__ import annotations

import functools
import importlib
import os
import tracemalloc
from collections.abc import Callable

import numpy as np
from harness import MISS, PASS, Row, Settings, best_of, case, fmt_steps, one_thread, threads_note

from pytest_synthloss import available_profiles, make_curve, score_alerts, synthetic_losses
from pytest_synthloss.core.curve import LossCurve, _cached_losses

MiB = 1 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE")


def spec_loss(step: int, profile: str) -> float:
    """The spec's scalar function, verbatim (loss-function-analysis.md)."""
    baseline = max(1.05, 2.25 - (0.07 * step))
    if profile == "spiky":
        if step == 4:
            return 9.7
        if step == 5:
            return 9.5
    return baseline


def scalar_loop(n: int) -> list[float]:
    """The spec's function in a Python loop over steps ``1..n``: the naive baseline."""
    return [spec_loss(step, "stable") for step in range(1, n + 1)]


def fresh_curve(n: int, profile: str = "stable") -> np.ndarray:
    """A new curve's losses, computed: the shared cache is cleared first (that is timed too)."""
    _cached_losses.cache_clear()
    return make_curve(n, profile).losses


# -- vs the scalar loop -------------------------------------------------------------------


def _loop_layout(s: Settings) -> list[Row]:
    rows = []
    for api in ("make_curve", "synthetic_losses"):
        for label, n in zip(("1e3", "1e6", "1e7"), s.curve_sizes, strict=True):
            goal = "≤ 0.01 (≥ 100× faster)" if label == "1e7" else "report"
            figure = f"{api} at {fmt_steps(n)} steps vs the spec's scalar loop"
            rows.append(Row(f"vs_loop.{api}.{label}", figure, goal, details={"steps": n}))
    return rows


@case(_loop_layout)
def vs_scalar_loop(s: Settings, rows: list[Row]) -> None:
    """make_curve / synthetic_losses against the spec's function called once per step."""
    by_id = {row.id: row for row in rows}
    for label, n in zip(("1e3", "1e6", "1e7"), s.curve_sizes, strict=True):
        steps = np.arange(1, n + 1, dtype=np.int64)
        repeats = 2 if n >= 10**7 else s.repeats * 3
        times = best_of(
            {
                "loop": functools.partial(scalar_loop, n),
                "make_curve": functools.partial(fresh_curve, n),
                "synthetic_losses": functools.partial(synthetic_losses, steps),
                "one": one_thread(functools.partial(synthetic_losses, steps)),
            },
            repeats,
            s.min_timing,
        )
        for api in ("make_curve", "synthetic_losses"):
            row = by_id[f"vs_loop.{api}.{label}"]
            row.ours_s, row.baseline_s = times[api], times["loop"]
            row.judge(0.01 if label == "1e7" else None)
            row.notes = f"{1 / row.ratio:,.0f}× faster" if row.ratio else ""
        row.notes += f"; 1 thread: {times['loop'] / times['one']:,.0f}× faster"


# -- vs one write pass ----------------------------------------------------------------------


def _full_layout(s: Settings) -> list[Row]:
    n = fmt_steps(s.floor_steps)
    return [
        Row(f"vs_full.{api}", f"{api} at {n} steps vs numpy.full({n}, 1.05)", "≤ 1.5")
        for api in ("make_curve", "synthetic_losses")
    ]


@case(_full_layout)
def vs_full(s: Settings, rows: list[Row]) -> None:
    """The engine against the physical floor: allocating and writing the array once."""
    n = s.floor_steps
    steps = np.arange(1, n + 1, dtype=np.int64)
    times = best_of(
        {
            "full": lambda: np.full(n, 1.05),
            "make_curve": lambda: fresh_curve(n),
            "synthetic_losses": lambda: synthetic_losses(steps),
            "one": one_thread(lambda: synthetic_losses(steps)),
        },
        s.repeats * 2,
        s.min_timing,
    )
    for row, api in zip(rows, ("make_curve", "synthetic_losses"), strict=True):
        row.ours_s, row.baseline_s = times[api], times["full"]
        row.judge(1.5)
        row.details["steps"] = n
    rows[1].notes = threads_note(times, "full")


# -- streaming --------------------------------------------------------------------------------


def _rss() -> int:
    """The process's resident set size now, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _stream_layout(s: Settings) -> list[Row]:
    figure = (
        f"iter_chunks over {fmt_steps(s.stream_steps)} steps "
        f"(chunks of {s.chunk_size:,}) vs numpy.full chunk by chunk"
    )
    return [Row("iter_chunks.1e9", figure, "< 64 MiB memory growth")]


@case(_stream_layout)
def iter_chunks(s: Settings, rows: list[Row]) -> None:
    """Stream a long run chunk by chunk: memory growth (RSS and traced) and throughput."""
    row = rows[0]
    n, size = s.stream_steps, s.chunk_size
    curve = make_curve(n)

    def stream(sample: Callable[[], None] | None = None) -> None:
        for chunk in curve.iter_chunks(size):
            chunk.losses  # noqa: B018  # materialize the chunk, as a consumer does
            if sample is not None:
                sample()

    def floor() -> None:
        for start in range(0, n, size):
            np.full(min(size, n - start), 1.05)

    _cached_losses.cache_clear()
    rss_before = peak_rss = _rss()

    def sample() -> None:
        nonlocal peak_rss
        peak_rss = max(peak_rss, _rss())

    tracemalloc.start()
    try:
        stream(sample)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = peak_rss - rss_before
    _cached_losses.cache_clear()

    times = best_of({"stream": stream, "floor": floor}, 2, s.min_timing)
    row.ours_s, row.baseline_s = times["stream"], times["floor"]
    row.judge(None)
    growth = max(rss_growth, traced_peak)
    row.verdict = PASS if growth < 64 * MiB else MISS
    rate = n / times["stream"]
    # Chunks wholly at the floor share one array; a noisy run computes every step.
    noisy_steps = min(n // 100, 10**7)
    noisy = make_curve(noisy_steps, "noisy")
    noisy_s = best_of({"noisy": lambda: [c.losses for c in noisy.iter_chunks(size)]}, 1)
    noisy_rate = noisy_steps / noisy_s["noisy"]
    row.notes = (
        f"{rate:.3g} steps/s (noisy: {noisy_rate:.3g} steps/s); RSS growth "
        f"{rss_growth / MiB:.1f} MiB, traced peak {traced_peak / MiB:.1f} MiB"
    )
    if not s.quick and times["stream"] > 60:
        row.notes += "; a full pass takes over 60 s"
    row.details.update(
        steps=n,
        chunk_size=size,
        steps_per_s=rate,
        noisy_steps_per_s=noisy_rate,
        rss_growth_mib=rss_growth / MiB,
        traced_peak_mib=traced_peak / MiB,
    )


# -- assertions -------------------------------------------------------------------------------


def _assertion_case(name: str, needs: str, call: Callable[[LossCurve], object]) -> None:
    """Register the figure ``name`` on a materialized curve of ``floor_steps`` steps."""

    def layout(s: Settings) -> list[Row]:
        n = fmt_steps(s.floor_steps)
        figure = f"{name} on {n} steps vs numpy.full({n})"
        return [Row(f"assert.{name}", figure, "≤ 10", notes="losses materialized beforehand")]

    def run(s: Settings, rows: list[Row]) -> None:
        n = s.floor_steps
        curve = make_curve(n, "spiky" if name in ("assert_spikes_at", "score_alerts") else "stable")
        curve.losses  # noqa: B018  # the figure is the assertion's own pass, not the curve's
        times = best_of(
            {"ours": lambda: call(curve), "full": lambda: np.full(n, 1.05)}, s.repeats, s.min_timing
        )
        rows[0].ours_s, rows[0].baseline_s = times["ours"], times["full"]
        rows[0].judge(10.0)
        rows[0].details["steps"] = n

    case(layout, needs=(needs,) if needs else ())(run)


def _assertion(name: str) -> Callable[..., object]:
    """The public assertion ``<name>`` (imported at run time: it may not exist yet)."""
    func: Callable[..., object] = getattr(importlib.import_module("pytest_synthloss"), name)
    return func


def _noisy_monitor(curve: LossCurve) -> np.ndarray:
    """A monitor alerting on the spike steps and on 1 step in 100 (false alarms)."""
    every = np.arange(curve.start_step + 50, curve.last_step + 1, 100, dtype=np.int64)
    return np.concatenate([np.array(curve.spike_steps, dtype=np.int64), every])


_ASSERTIONS = "pytest_synthloss"
_assertion_case(
    "assert_no_spikes",
    f"{_ASSERTIONS}:assert_no_spikes",
    lambda c: _assertion("assert_no_spikes")(c),
)
_assertion_case(
    "assert_reaches_floor",
    f"{_ASSERTIONS}:assert_reaches_floor",
    lambda c: _assertion("assert_reaches_floor")(c),
)
_assertion_case(
    "assert_spikes_at",
    f"{_ASSERTIONS}:assert_spikes_at",
    lambda c: _assertion("assert_spikes_at")(c, c.spike_steps),
)
_assertion_case("score_alerts", "", lambda c: score_alerts(_noisy_monitor(c), c))


# -- stack presets ----------------------------------------------------------------------------

#: Each preset with the parameters timed (metaseq as a spike guard: its default flags every step).
_PRESETS: dict[str, dict[str, object]] = {
    "lightning": {},
    "metaseq": {"ewm_ratio_to_skip_batch": 3.0},
    "megatron": {},
    "olmo-skip-step": {},
    "olmo-stability": {},
    "llm-foundry": {},
}


def _preset_case(name: str, params: dict[str, object]) -> None:
    """Register ``stack.<name>``: ``find_spikes`` with the preset on the spiky curve."""

    def layout(s: Settings) -> list[Row]:
        n = fmt_steps(s.floor_steps)
        figure = f"find_spikes(curve, {name!r}) on {n} steps vs numpy.full({n})"
        return [Row(f"stack.{name}", figure, "≤ 10", notes="spiky; losses materialized")]

    def run(s: Settings, rows: list[Row]) -> None:
        rules = importlib.import_module("pytest_synthloss.checks.rules")
        spikes = importlib.import_module("pytest_synthloss.checks.spike_assertions")
        rule = rules.get_rule(name, **params)
        n = s.floor_steps
        curve = make_curve(n, "spiky")
        curve.losses  # noqa: B018  # the figure is the preset's own pass, not the curve's
        times = best_of(
            {"ours": lambda: spikes.find_spikes(curve, rule), "full": lambda: np.full(n, 1.05)},
            s.repeats,
            s.min_timing,
        )
        rows[0].ours_s, rows[0].baseline_s = times["ours"], times["full"]
        rows[0].judge(10.0)
        rows[0].details["steps"] = n

    case(layout, needs=("pytest_synthloss.checks.rules:STACK_PRESETS",))(run)


for _name, _params in _PRESETS.items():
    _preset_case(_name, _params)


# -- the sweep --------------------------------------------------------------------------------


def _sweep_grid(s: Settings) -> tuple[tuple[str, ...], list[int], list[float], list[int]]:
    n_steps, n_lr, n_batch = s.sweep_shape
    profiles = available_profiles() if not s.quick else available_profiles()[:2]
    steps = sorted({round(v) for v in np.geomspace(10, 10**5, n_steps)})
    lrs = [float(v) for v in np.geomspace(1e-5, 1e-1, n_lr)]
    batches = [2**k for k in range(4, 4 + n_batch)]
    return profiles, steps, lrs, batches


def _sweep_layout(s: Settings) -> list[Row]:
    profiles, steps, lrs, batches = _sweep_grid(s)
    configs = len(profiles) * len(steps) * len(lrs) * len(batches)
    figure = f"sweep of {configs:,} configs vs one make_curve(...).final_loss per config"
    return [Row("sweep.10000", figure, "< 1 (vectorized: beats a loop)")]


@case(_sweep_layout, needs=("pytest_synthloss.core.sweeps:sweep",))
def sweep(s: Settings, rows: list[Row]) -> None:
    """``sweep(...)`` over the grid against a Python loop making one curve per config."""
    run_sweep: Callable[..., object] = importlib.import_module("pytest_synthloss.core.sweeps").sweep
    profiles, steps, lrs, batches = _sweep_grid(s)

    def loop() -> list[float]:
        return [
            make_curve(n, p, lr=lr, batch_size=b).final_loss
            for p in profiles
            for n in steps
            for lr in lrs
            for b in batches
        ]

    def ours() -> object:
        return run_sweep(profiles=profiles, steps=steps, lr=lrs, batch_size=batches)

    times = best_of({"sweep": ours, "loop": loop}, 3, s.min_timing)
    row = rows[0]
    row.ours_s, row.baseline_s = times["sweep"], times["loop"]
    row.judge(1.0)
    row.details["configs"] = len(profiles) * len(steps) * len(lrs) * len(batches)
    row.notes = f"{row.details['configs'] / times['sweep']:,.0f} configs/s"


# -- fixture hand-out ------------------------------------------------------------------------


def _handout_layout(s: Settings) -> list[Row]:
    figure = (
        "a fixture's curve: make_curve(20, profile).losses, each its own read-only copy "
        "(every built-in in turn) vs numpy.full(20, 1.05)"
    )
    return [Row("handout.make_curve_20", figure, "report (the price of isolation)")]


@case(_handout_layout)
def handout(s: Settings, rows: list[Row]) -> None:
    """What ``synthloss_curve`` costs per test since each test gets arrays of its own."""
    names = available_profiles()[:8]

    def ours() -> object:
        return [make_curve(20, name).losses for name in names]

    def full() -> object:
        return [np.full(20, 1.05) for _ in names]

    times = best_of({"ours": ours, "full": full}, 5, s.min_timing)
    row = rows[0]
    row.ours_s, row.baseline_s = times["ours"] / len(names), times["full"] / len(names)
    row.judge(None)
    row.notes = f"{row.ours_s * 1e6:.1f} µs per curve (cache warm: a copy of the cached losses)"


# -- a realistic curve vs the naive numpy expression ---------------------------------------


def _realistic_profile(n: int) -> object:
    from pytest_synthloss import Profile
    from pytest_synthloss.core.shapes import Cosine, PowerLaw, Shape, TrainingNoise

    return Profile(
        "bench-power-cosine",
        shape=Shape(
            trend=PowerLaw(E=2.0, A=8.0, alpha=0.35, t0=10.0),
            schedule=Cosine(first=1, last=n, final=0.1),
            anneal=0.2,
            noise=TrainingNoise(sigma=0.02, seed=0),
        ),
    )


def naive_power_cosine(n: int) -> np.ndarray:
    """The same formula as one numpy expression: power law, cosine, multiplicative noise."""
    s = np.arange(1, n + 1, dtype=np.float64)
    trend = 2.0 + 8.0 / (s + 10.0) ** 0.35
    d = 0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * s / n))
    z = np.random.default_rng(0).standard_normal(n)
    return (trend - 0.2 * (1.0 - d)) * (1.0 + 0.02 * z)


def _realistic_layout(s: Settings) -> list[Row]:
    n = fmt_steps(s.curve_sizes[-1])
    figure = f"synthetic_losses of a power law + cosine + noise at {n} steps vs naive numpy"
    return [Row("vs_naive.power_cosine_noise", figure, "≤ 2")]


@case(_realistic_layout)
def vs_naive_realistic(s: Settings, rows: list[Row]) -> None:
    """A shaped profile's engine against the formula written as one numpy expression."""
    n = s.curve_sizes[-1]
    profile = _realistic_profile(n)
    steps = np.arange(1, n + 1, dtype=np.int64)
    times = best_of(
        {
            "naive": functools.partial(naive_power_cosine, n),
            "ours": functools.partial(synthetic_losses, steps, profile),  # type: ignore[arg-type]
        },
        2,
        s.min_timing,
    )
    (row,) = rows
    row.ours_s, row.baseline_s = times["ours"], times["naive"]
    row.judge(2.0)
    row.details["steps"] = n
