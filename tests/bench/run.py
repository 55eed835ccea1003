"""Run every ``tests/bench/bench_*.py`` module and print one JSON object per benchmark line.

Usage: ``python -m tests.bench.run [substring ...]``; with substrings, only modules whose name contains one run.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from tests.bench.django_env import setup_labels


def bench_modules(filters: list[str]) -> list[str]:
    """Dotted names of the benchmark modules next to this file, sorted, filtered by substring."""
    names = sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))
    return [f"{__package__}.{name}" for name in names if not filters or any(f in name for f in filters)]


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    for module_name in bench_modules(argv):
        module = importlib.import_module(module_name)
        for result in module.benchmarks():
            print(json.dumps(result | setup_labels()), flush=True)
    print(f"benchmarks done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
