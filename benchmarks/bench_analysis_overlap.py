"""Retrieval with the question's analysis beside the encode (as shipped) vs after it.

    python benchmarks/bench_analysis_overlap.py --index DIR [--corpus DIR] [--n 100]

One Assistant over an existing index; the same questions (the project's Wikinews question set)
are retrieved in both modes, interleaved question by question (the order alternates), so both
see the same machine state. "after" replaces the analysis pool with one that runs the analysis
at once on the caller's thread, which is what retrieval did before.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from concurrent.futures import Future
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant, retrieval  # noqa: E402
from assistant.config import Settings  # noqa: E402


class _AtOnce:
    def submit(self, fn, *args):
        done: Future = Future()
        done.set_result(fn(*args))
        return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=None, help="default: INDEX/corpus")
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    settings = Settings.from_env(env={}, corpus_dir=args.corpus or args.index / "corpus", index_dir=args.index)
    assistant = Assistant(settings)
    files = sorted(glob.glob(str(ROOT / "benchmarks/questions/wikinews-qa/questions-*.jsonl")))
    questions = [json.loads(line)["question"] for f in files for line in open(f, encoding="utf-8")][:args.n]
    for q in questions[:10]:  # warm: model, spaCy, caches
        assistant.retriever.retrieve(q, k=10)
    pool = retrieval._ANALYSIS_POOL
    times: dict[str, list[float]] = {"beside": [], "after": []}
    for i, q in enumerate(questions):
        for mode in (("beside", "after") if i % 2 else ("after", "beside")):
            retrieval._ANALYSIS_POOL = pool if mode == "beside" else _AtOnce()
            t0 = time.perf_counter()
            assistant.retriever.retrieve(q, k=10)
            times[mode].append((time.perf_counter() - t0) * 1000)
    retrieval._ANALYSIS_POOL = pool
    for mode, ts in times.items():
        ts.sort()
        print(f"{mode:7} p50 {ts[len(ts) // 2]:.1f} ms  p95 {ts[int(len(ts) * 0.95)]:.1f} ms  ({len(ts)} questions)")


if __name__ == "__main__":
    main()
