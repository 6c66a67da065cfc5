"""The question path's thread count: one question encoded through ``embed_query`` (the
question thread, 1 torch thread) against ``embed([q])`` on the calling thread (all torch
threads), interleaved per question so both see the same load; then 8 questions asked at once
from 8 threads (batched into few encode calls) against the same 8 encoded one by one.

Usage: .venv/bin/python benchmarks/bench_query_threads.py [--n 40]
Prints the machine's load average: on a busy machine the 2-thread path suffers most.
"""

from __future__ import annotations

import argparse
import threading
import time

from _common import load_line, machine_line, percentile, questions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    import torch

    from assistant.config import Settings
    from assistant.embedding import SentenceTransformerEmbedder

    qs = questions(args.n)
    embedder = SentenceTransformerEmbedder(Settings.from_env(env={}).model_path())
    embedder.embed(qs[:4])
    embedder.embed_query(qs[0])  # warm both paths
    one, all_threads = [], []
    for q in qs:
        t0 = time.perf_counter()
        embedder.embed_query(q)
        one.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        embedder.embed([q])
        all_threads.append((time.perf_counter() - t0) * 1000)
    burst = qs[:8]
    t0 = time.perf_counter()
    threads = [threading.Thread(target=embedder.embed_query, args=(q,)) for q in burst]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    together = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    for q in burst:
        embedder.embed_query(q)
    serial = (time.perf_counter() - t0) * 1000
    print(machine_line())
    print(f"{load_line()}; torch threads {torch.get_num_threads()}; {len(qs)} questions")
    print(f"embed_query (1 thread):   p50 {percentile(one, 50):.1f} ms  p95 {percentile(one, 95):.1f} ms")
    print(f"embed([q]) ({torch.get_num_threads()} threads): p50 {percentile(all_threads, 50):.1f} ms  "
          f"p95 {percentile(all_threads, 95):.1f} ms")
    print(f"8 questions from 8 threads at once: {together:.0f} ms; one after another: {serial:.0f} ms")


if __name__ == "__main__":
    main()
