"""``python -m bench`` (``make bench``): run every benchmark, print a table, write var/bench/latest.json.

Each entry is ``{"name", "ours", "baseline", "unit", "ratio", "n"}``; ratio is how many times
costlier ours is than the bare baseline measured in the same run (1.0 is parity, lower is better).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bench import match_suggestions, national_dashboard, outbox, pdf_render, vog_sweep
from config.settings import load_settings

# One entry per module: run(settings) -> list of figures. Names stay stable across runs.
BENCHMARKS = [outbox.run, vog_sweep.run, match_suggestions.run, pdf_render.run, national_dashboard.run]
OUTPUT = Path("var") / "bench" / "latest.json"


def table(results: list[dict]) -> str:
    header = ("name", "ours", "baseline", "unit", "ratio", "n")
    rows = [header] + [tuple(str(result[column]) for column in header) for result in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> int:
    base = load_settings({**os.environ, "BUURTGEZINNEN_ENV": "test"})
    results: list[dict] = []
    for benchmark in BENCHMARKS:
        results.extend(benchmark(base))
    print(table(results))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
