"""Run every benchmark of issue 6 in turn (what `make bench` does).

Each runs in its own process, so one's memory or imports do not skew the next; each prints its
table and appends it to benchmarks/README.md (``--quick`` runs small sizes and records nothing).
Without ../shared/datasets each says so and skips.

Usage: .venv/bin/python benchmarks/run_all.py [--quick] [--no-record] [--only index,query]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["index", "reindex", "query", "coldstart", "memory"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--only", default=",".join(ORDER), help="comma-separated: " + ", ".join(ORDER))
    args = parser.parse_args()
    extra = (["--quick"] if args.quick else []) + (["--no-record"] if args.no_record else [])
    failed = []
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        if name not in ORDER:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(ORDER)}")
        script = HERE / f"bench_{name}.py"
        print(f"\n=== {script.name} {' '.join(extra)} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
        print(f"=== {script.name}: exit {rc} in {time.perf_counter() - t0:.0f} s ===", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
