"""Build-time pages for the docs: the API reference and the profile gallery.

At ``builder-inited`` this extension writes, under ``docs/_generated/`` (git-ignored):

- ``reference/<module>.md``: one autodoc page per module of ``pytest_synthloss``, found by
  walking the package, so the reference always follows the real layout;
- ``public-api.md``: every name in ``pytest_synthloss.__all__`` with the module that
  defines it, and every other module's ``__all__``;
- ``gallery.md`` and ``gallery/<profile>.png``: every registered profile (the built-ins in
  a clean install) drawn with matplotlib (Agg) with its ground-truth events marked, and
  its event table;
- ``monitors.md`` and ``monitors/<monitor>-<profile>.png``: the scorecard of the example
  monitors on every profile, and a failure picture per monitor (``monitor_gallery.py``).

Files are only rewritten when their content changes, so incremental builds stay fast.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import re
from pathlib import Path
from typing import Any

import docutils.core
import docutils.utils
import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure
from monitor_gallery import monitor_gallery
from sphinx.application import Sphinx
from sphinx.util import logging

import pytest_synthloss
from pytest_synthloss import available_profiles, get_profile, make_curve

logger = logging.getLogger(__name__)

#: A border line of a reStructuredText simple table: groups of "=" separated by spaces.
_TABLE_BORDER = re.compile(r"^\s*=+(?: +=+)+\s*$")

#: Steps drawn for each profile: enough to show every built-in event and the floor step.
GALLERY_STEPS = 30
#: A registered profile with events further out is drawn up to its last event plus this.
GALLERY_MARGIN = 5
#: Never draw more than this many steps (a plugin's profile may have events far out).
GALLERY_MAX_STEPS = 2000


def _write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` unless the file already holds exactly that."""
    data = content.encode() if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _modules() -> list[str]:
    """Every module of the package, subpackages first within their parent, sorted."""
    names = ["pytest_synthloss"]
    for info in pkgutil.walk_packages(pytest_synthloss.__path__, "pytest_synthloss."):
        names.append(info.name)
    return sorted(names)


def _is_data(obj: Any) -> bool:
    return not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj))


def _assigns(module: Any, name: str) -> bool:
    """Whether ``module``'s source defines or assigns ``name`` at the top level."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return False
    pattern = rf"^(?:(?:class|def)\s+{re.escape(name)}\b|{re.escape(name)}\s*[:=])"
    return re.search(pattern, source, re.MULTILINE) is not None


def _shown_at_top(obj: Any) -> bool:
    """A class or function that presents itself as ``pytest_synthloss.<name>``."""
    return not _is_data(obj) and getattr(obj, "__module__", None) == "pytest_synthloss"


def _summary(obj: Any) -> str:
    if _is_data(obj):  # a constant: its class's docstring would say nothing about it
        return ""
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return first.replace("|", "\\|")


def _reference_page(name: str) -> str:
    lines = [f"# `{name}`", ""]
    if name == "pytest_synthloss":
        # The top level only re-exports; every name is documented where it is defined,
        # except the ones that present themselves as top-level names (autodoc would skip
        # them in their defining module).
        lines += [
            "The public API, loaded lazily. Each name is documented in the module that",
            "defines it: see [](../public-api.md).",
            "",
        ]
        top = [n for n in pytest_synthloss.__all__ if _shown_at_top(getattr(pytest_synthloss, n))]
        if top:
            lines.append("```{eval-rst}")
            for member in top:
                kind = (
                    "exception"
                    if issubclass(getattr(pytest_synthloss, member), BaseException)
                    else "class"
                )
                lines += [f".. auto{kind}:: pytest_synthloss.{member}", "   :show-inheritance:", ""]
            lines += ["```", ""]
        return "\n".join(lines)
    # autodoc writes reStructuredText, so the directive runs inside eval-rst (MyST would
    # otherwise parse its output as Markdown).
    # Module-level constants are documented one by one: autodoc's automodule skips those
    # whose class lives in another module (the built-in profiles, for example).
    module = importlib.import_module(name)
    data = [
        member
        for member in getattr(module, "__all__", ())
        if _is_data(getattr(module, member)) and _assigns(module, member)
    ]
    lines += [
        "```{eval-rst}",
        f".. automodule:: {name}",
        "   :members:",
        "   :undoc-members:",
        "   :show-inheritance:",
    ]
    if data:
        lines.append(f"   :exclude-members: {', '.join(data)}")
    for member in data:
        lines += ["", f".. autodata:: {name}.{member}"]
        if len(repr(getattr(module, member))) > 80:
            lines.append("   :no-value:")
    lines += ["```", ""]
    return "\n".join(lines)


def _defining_module(name: str, obj: Any, modules: list[str]) -> str:
    """The module that defines ``obj``: its ``__module__``, else (constants) the module
    whose source assigns ``name`` at the top level."""
    module = getattr(obj, "__module__", None)
    defines = inspect.isclass(obj) or inspect.isroutine(obj)
    if defines and isinstance(module, str) and module.startswith("pytest_synthloss."):
        return module
    for modname in modules:
        if _assigns(importlib.import_module(modname), name):
            return modname
    return "pytest_synthloss"


def _public_api_page(modules: list[str]) -> str:
    lines = [
        "# Public names and where they live",
        "",
        "Generated from the code at build time. The names in `pytest_synthloss.__all__` are",
        "the public API: import them from the top level. The module that defines each one",
        "holds its documentation.",
        "",
        "| name | import | defined in | summary |",
        "|---|---|---|---|",
    ]
    for name in sorted(pytest_synthloss.__all__, key=str.lower):
        obj = getattr(pytest_synthloss, name)
        where = _defining_module(name, obj, modules)
        target = f"pytest_synthloss.{name}" if _shown_at_top(obj) else f"{where}.{name}"
        lines.append(
            f"| {{py:obj}}`{name} <{target}>` | `from pytest_synthloss import {name}` "
            f"| `{where}` | {_summary(obj)} |"
        )
    lines += [
        "",
        "## Everything else, by module",
        "",
        "Names that are not in the top-level `__all__` are imported from their module, for",
        "example `from pytest_synthloss.core.builtins import SPIKY`. Each module's `__all__`:",
        "",
        "| module | names |",
        "|---|---|",
    ]
    for modname in modules:
        if modname == "pytest_synthloss":
            continue
        module = importlib.import_module(modname)
        names = [n for n in getattr(module, "__all__", ()) if n not in pytest_synthloss.__all__]
        if names:
            shown = ", ".join(f"`{n}`" for n in names)
            lines.append(f"| [`{modname}`](reference/{modname}.md) | {shown} |")
    lines.append("")
    return "\n".join(lines)


def _event_rows(curve: Any) -> list[tuple[str, str]]:
    profile = curve.profile
    rows: list[tuple[str, str]] = []
    if profile.shape is not None and curve.spike_events:  # spikes with recovery tails
        rows.append(
            (
                "spikes",
                ", ".join(e.describe() for e in curve.events if e.kind == "spike"),
            )
        )
    elif curve.spike_steps:
        rows.append(
            (
                "spikes",
                ", ".join(f"step {s} (loss {curve.loss_at(s):g})" for s in curve.spike_steps)
                + f"; events {list(curve.spike_events)}",
            )
        )
    if curve.nonfinite_steps:
        rows.append(
            (
                "non-finite losses",
                ", ".join(f"step {s} ({curve.loss_at(s)})" for s in curve.nonfinite_steps),
            )
        )
    if curve.divergence_step is not None:
        div = profile.divergence
        rows.append(
            (
                "divergence",
                f"from step {curve.divergence_step} ({div.mode}, rate {div.rate:g})",
            )
        )
    if curve.plateau_windows:
        rows.append(
            (
                "plateaus",
                ", ".join(f"steps {a}..{b}" for a, b in curve.plateau_windows),
            )
        )
    benign = [e.describe() for e in curve.events if e.kind in ("warmup", "schedule", "epoch")]
    if benign:
        rows.append(("benign events", ", ".join(benign)))
    rows += _signal_rows(curve)
    if profile.shape is not None and profile.shape.noise is not None:
        tn = profile.shape.noise
        rows.append(
            ("noise", f"heteroscedastic, sigma {tn.sigma:g}, seed {tn.seed}, AR(1) {tn.ar:g}")
        )
    if profile.noise is not None:
        noise = profile.noise
        rows.append(("noise", f"{noise.mode}, sigma {noise.sigma:g}, seed {noise.seed}"))
    rows += _family_rows(curve)
    floor_step = "never" if curve.floor_step is None else f"step {curve.floor_step}"
    rows.append(("floor", f"{curve.floor:g}, first reached at {floor_step}"))
    rows.append(("final loss", f"{curve.final_loss:g} at step {curve.last_step}"))
    return rows


def _family_rows(curve: Any) -> list[tuple[str, str]]:
    """Rows for a run of several ranks or a cohort of trials (one row each)."""
    from pytest_synthloss.core.ranks import rank_truth

    ranks = curve.profile.ranks
    if curve.profile.cohort is not None:
        from pytest_synthloss.checks.cohorts import cohort_pruning, final_ranking

        default = cohort_pruning(curve)
        pruned = ", ".join(f"trial {t} at step {s}" for t, s in default.pruned.items())
        return [
            ("trials", f"{len(curve.profile.cohort)} (trial 0 is the curve drawn thick)"),
            ("final ranking", ", ".join(f"trial {t}" for t in final_ranking(curve))),
            ("MedianPruner() prunes", pruned or "none"),
            ("the study's best trial", f"trial {default.best_trial}"),
        ]
    if ranks is None:
        return []
    truth = rank_truth(curve)
    flags = "; ".join(
        f"rank {r}: {', '.join(map(str, steps))}" for r, steps in enumerate(truth.flags) if steps
    )
    return [
        ("ranks", f"{ranks.world_size} (noise sigma {ranks.sigma:g}, seed {ranks.seed} per rank)"),
        ("rank flags", flags or "none"),
        ("all-reduced decision", ", ".join(map(str, truth.decision)) or "none"),
    ]


def _members(curve: Any) -> list[tuple[str, Any]]:
    """The member runs drawn behind a family's own curve: its ranks or trials."""
    from pytest_synthloss.core.ranks import rank_curves

    if curve.profile.ranks is not None:
        return [(f"rank {r}", c) for r, c in enumerate(rank_curves(curve))]
    if curve.profile.cohort is not None:
        from pytest_synthloss.core.cohorts import trial_curves

        return [(f"trial {t}", c) for t, c in enumerate(trial_curves(curve))]
    return []


def _signal_rows(curve: Any) -> list[tuple[str, str]]:
    """The ground truth of a profile's linked signals, read from its events."""
    signals = curve.profile.signals
    if signals is None:
        return []

    def spans(kind: str) -> str:
        found = [e for e in curve.events if e.kind == kind]
        return ", ".join(e.describe().split(" at ", 1)[1] for e in found) or "none"

    rows = [
        ("grad-norm spikes (a step before a loss spike)", spans("grad_spike")),
        ("fp16 overflows (step skipped, scale backed off)", spans("overflow")),
        ("loss-scale growths (benign)", spans("scale_growth")),
        ("slow first step, evals (benign)", f"{spans('first_step')}; evals {spans('eval')}"),
        ("stalls", spans("stall")),
    ]
    if signals.loss_scale is not None:
        scale = signals.loss_scale
        rows.append(
            (
                "loss scaling",
                f"init {scale.init_scale:g}, x{scale.growth_factor:g} every "
                f"{scale.growth_interval} clean steps, x{scale.backoff_factor:g} on overflow, "
                f"hysteresis {scale.hysteresis}",
            )
        )
    rows.append(("learning rate", f"peak {signals.peak_lr:g} times the profile's schedule"))
    return rows


def _last_event_step(profile: Any) -> int:
    steps = [*profile.spike_steps, *profile.nonfinite_steps, *(b for _, b in profile.plateaus)]
    if profile.divergence is not None:
        steps.append(profile.divergence.start_step)
    return max(steps, default=0)


def draw_curve(curve: Any) -> bytes:
    """A PNG of ``curve`` with its ground-truth events marked (the gallery's picture)."""
    if curve.signals:
        figure = Figure(figsize=(7.5, 5.6), dpi=100)
        ax, lower = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        _draw_signals(lower, curve)
    else:
        figure = Figure(figsize=(7.5, 3.6), dpi=100)
        ax = figure.subplots()
    steps = curve.steps
    losses = curve.losses
    for label, member in _members(curve):
        ax.plot(steps, member.losses, linewidth=0.8, alpha=0.6, label=label)
    label = "all-reduced loss" if curve.profile.ranks is not None else "loss"
    ax.plot(steps, losses, color="tab:blue", linewidth=1.6, marker=".", label=label)
    for first, last in curve.plateau_windows:
        ax.axvspan(first - 0.5, last + 0.5, color="tab:purple", alpha=0.15, label="plateau")
    if curve.spike_steps:
        ax.scatter(
            curve.spike_steps,
            [curve.loss_at(s) for s in curve.spike_steps],
            color="tab:red",
            s=45,
            zorder=3,
            label="spike",
        )
    for step in curve.nonfinite_steps:
        ax.axvline(step, color="tab:red", linestyle=":", linewidth=1.5)
        ax.annotate(
            str(curve.loss_at(step)),
            xy=(step, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color="tab:red",
        )
    if curve.nonfinite_steps:
        ax.plot([], [], color="tab:red", linestyle=":", label="non-finite loss")
    if curve.divergence_step is not None:
        ax.axvline(
            curve.divergence_step, color="tab:orange", linestyle="--", label="divergence onset"
        )
    ax.axhline(curve.floor, color="tab:gray", linestyle=":", linewidth=1, label="floor")
    if curve.floor_step is not None:
        ax.axvline(
            curve.floor_step,
            color="tab:green",
            linestyle="--",
            linewidth=1,
            label=f"floor step {curve.floor_step}",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{curve.profile.name}: steps {curve.start_step}..{curve.last_step}")
    ax.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    # No timestamps in the PNG metadata, so identical curves give identical bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _draw_signals(ax: Any, curve: Any) -> None:
    """The loss scale (log 2) and the grad norm (log) under the loss, overflows marked."""
    steps = curve.steps
    ax.step(steps, curve.signals["loss_scale"], where="post", color="tab:green", label="loss scale")
    ax.set_yscale("log", base=2)
    ax.set_ylabel("loss scale")
    for event in curve.events:
        if event.kind == "overflow":
            ax.axvspan(event.first - 0.5, event.last + 0.5, color="tab:red", alpha=0.3)
    ax.plot([], [], color="tab:red", alpha=0.3, linewidth=6, label="fp16 overflow")
    grad = ax.twinx()
    norms = curve.signals["grad_norm"]
    finite = norms.copy()
    finite[~(finite < float("inf"))] = float("nan")
    grad.plot(steps, finite, color="tab:gray", linewidth=0.6, label="grad norm")
    grad.set_yscale("log")
    grad.set_ylabel("grad norm")
    ax.legend(loc="upper left", fontsize="small")
    grad.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("step")


def _gallery(out: Path) -> str:
    lines = [
        "# Profile gallery",
        "",
        "Every registered profile (in a clean install, the built-ins, each realistic one",
        "at its natural length), drawn during the",
        "docs build from `make_curve` with its ground truth marked: spikes (red dots),",
        "non-finite losses (red dotted lines, value at the top), the divergence onset (orange",
        "dashed), plateau windows (shaded), the floor (gray dotted) and the floor step (green",
        "dashed). A profile with linked signals (`fp16-overflow`) also shows its loss scale and",
        "grad norm below, fp16 overflows shaded. Each table is read from the curve's ground",
        "truth, not typed in.",
        "",
    ]
    for name in available_profiles():
        profile = get_profile(name)
        steps = max(GALLERY_STEPS, _last_event_step(profile) + GALLERY_MARGIN)
        if profile.steps is not None:  # a profile with a natural length is drawn at it
            steps = profile.steps
        steps = min(steps, GALLERY_MAX_STEPS)
        curve = make_curve(steps, profile)
        _write(out / "gallery" / f"{name}.png", draw_curve(curve))
        lines += [f"## `{name}`", ""]
        if profile.description:
            lines += [profile.description, ""]
        lines += [
            f"![The {name} profile over {steps} steps](gallery/{name}.png)",
            "",
            "| event | ground truth |",
            "|---|---|",
        ]
        lines += [f"| {event} | {truth} |" for event, truth in _event_rows(curve)]
        lines.append("")
    return "\n".join(lines)


def _malformed(table: list[str]) -> bool:
    """Whether docutils reports an error (level >= 3) when parsing ``table`` alone."""
    text = "\n".join(line.strip() and line[_indent(table) :] for line in table)
    doctree = docutils.core.publish_doctree(
        text, settings_overrides={"report_level": 5, "halt_level": 5}
    )
    return any(
        msg["level"] >= docutils.utils.Reporter.ERROR_LEVEL
        for msg in doctree.findall(lambda node: node.tagname == "system_message")
    )


def _indent(lines: list[str]) -> int:
    return min(len(line) - len(line.lstrip()) for line in lines if line.strip())


def _tables_as_text(lines: list[str]) -> bool:
    """Show each malformed simple table of a docstring as a literal block; True if any."""
    changed = False
    i = 0
    while i < len(lines):
        if not _TABLE_BORDER.match(lines[i]):
            i += 1
            continue
        border = lines[i].rstrip()
        ends = [j for j in range(i + 1, len(lines)) if lines[j].rstrip() == border]
        if not ends:
            i += 1
            continue
        end = ends[1] if len(ends) >= 2 else ends[0]
        table = lines[i : end + 1]
        if _malformed(table):
            pad = " " * _indent(table)
            lines[i : end + 1] = [f"{pad}::", "", *(f"    {line}" for line in table), ""]
            changed = True
            end = i + len(table) + 2
        i = end + 1
    return changed


def show_malformed_tables_as_text(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Keep the build strict while a few docstrings hold malformed simple tables.

    Sphinx would reject the page (an ERROR, fatal under ``-W``). The table is shown as
    preformatted text instead, but only for the objects listed in the
    ``synthloss_docstring_tables_as_text`` setting: a new malformed table elsewhere is
    still a warning, and so is a listed object whose tables have been fixed (drop it
    from the list).
    """
    allowed = set(app.config.synthloss_docstring_tables_as_text)
    if _tables_as_text(lines):
        if name not in allowed:
            logger.warning(
                "%s: its docstring holds a malformed reStructuredText table; fix it "
                "(or list it in synthloss_docstring_tables_as_text)",
                name,
                type="synthloss",
                subtype="docstring-table",
            )
        _malformed_seen(app.env).add(name)


def _malformed_seen(env: Any) -> set[str]:
    """Objects whose docstrings had a malformed table, kept with the build environment."""
    if not hasattr(env, "synthloss_malformed_tables"):
        env.synthloss_malformed_tables = set()
    seen: set[str] = env.synthloss_malformed_tables
    return seen


def merge_malformed(app: Sphinx, env: Any, docnames: Any, other: Any) -> None:
    _malformed_seen(env).update(_malformed_seen(other))


def check_allowlist(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None:
        return
    seen = _malformed_seen(app.env)
    for name in sorted(set(app.config.synthloss_docstring_tables_as_text) - seen):
        logger.warning(
            "%s is listed in synthloss_docstring_tables_as_text, but its docstring has no "
            "malformed table (any more): remove it from the list",
            name,
            type="synthloss",
            subtype="docstring-table",
        )


def generate(app: Sphinx) -> None:
    out = Path(app.srcdir) / "_generated"
    modules = _modules()
    pages = {out / "reference" / f"{name}.md": _reference_page(name) for name in modules}
    for stale in (out / "reference").glob("*.md"):
        if stale not in pages:  # a module that no longer exists
            stale.unlink()
    for path, content in pages.items():
        _write(path, content)
    _write(out / "public-api.md", _public_api_page(modules))
    _write(out / "gallery.md", _gallery(out))
    _write(out / "monitors.md", monitor_gallery(out, _write))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("synthloss_docstring_tables_as_text", [], "env")
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", show_malformed_tables_as_text)
    app.connect("env-merge-info", merge_malformed)
    app.connect("build-finished", check_allowlist)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
