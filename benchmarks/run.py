"""Run the benchmark suite: ``python benchmarks/run.py [--quick] [--json PATH]``.

Prints a table (figure, ours, baseline, ratio = ours / baseline, goal, verdict) and writes
it as JSON (default ``benchmarks/results.json``). ``--quick`` is a smoke run with small
sizes: same figure ids, ratios not comparable with the goals. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the harness modules, when run as a script

import cases  # noqa: E402, F401  # registers the in-process cases
import collection  # noqa: E402, F401  # registers the collection cases
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import rules_engines  # noqa: E402, F401  # issue 17: rules on noisy, engines
import slow_paths  # noqa: E402, F401  # issue 17: linear assertions, failure paths
import suite_io  # noqa: E402, F401  # issue 17: logs, fixtures in a running suite
from harness import REGISTRY, Row, Settings, fmt_time, run_case  # noqa: E402


def machine() -> dict[str, Any]:
    """The machine and software the figures were measured on."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pytest": pytest.__version__,
    }


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| figure | ours | baseline | ratio | goal | verdict | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.3g}"
        notes = row.notes if row.unavailable is None else f"unavailable: {row.unavailable}"
        lines.append(
            f"| {row.figure} | {fmt_time(row.ours_s)} | {fmt_time(row.baseline_s)} | "
            f"{ratio} | {row.goal} | {row.verdict} | {notes} |"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any], rows: list[Row]) -> str:
    """The recorded results: command, machine and table."""
    machine = ", ".join(f"{key} {value}" for key, value in report["machine"].items())
    return (
        "# Benchmark results\n\n"
        f"Recorded with `{report['command']}` ({report['seconds']} s). "
        "Ratio = ours / baseline, both measured in the same run.\n\n"
        f"Machine: {machine}.\n\n<!-- table -->\n{table(rows)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run every registered case, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--json", type=Path, default=HERE / "results.json", help="where to write the JSON"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table and machine here")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated id prefixes: run only the cases with a row among them",
    )
    args = parser.parse_args(argv)
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path is not None and not path.parent.is_dir():
            print(f"run.py: {option}: no directory {str(path.parent)!r}", file=sys.stderr)
            return 2
    settings = Settings.make(args.quick)
    started = time.perf_counter()
    rows: list[Row] = []
    prefixes = tuple(p for p in args.only.split(",") if p)
    for item in REGISTRY:
        if prefixes and not any(r.id.startswith(prefixes) for r in item.layout(settings)):
            continue
        for row in run_case(item, settings):
            rows.append(row)
            print(f"  {row.id}: {row.verdict}", file=sys.stderr, flush=True)
    report = {
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
        "quick": settings.quick,
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "figures": [vars(row) for row in rows],
    }
    print(table(rows))
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(markdown(report, rows))
    print(f"\nwritten to {args.json} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
