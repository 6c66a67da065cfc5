"""Load test: N concurrent gradio_client clients × M questions against the app on loopback.

    python benchmarks/load.py --url http://127.0.0.1:7860 --clients 32 --questions 10
    python benchmarks/load.py --clients 32 --questions 10   # starts its own app on the corpus
    python benchmarks/load.py --clients 8 --seconds 60 --index-while 300   # asks while indexing

Reports throughput, p50/p95/p99 latency and errors, and appends the table to
benchmarks/README.md (with --record). Traffic goes only to the loopback address given.

``--index-while N`` (a stress run, issue 13 part 6; see ``load_stress.py``) starts its own app on a
corpus of the seed plus ``--base`` Wikinews articles (one JSON file each, in benchmarks/.work),
and while the clients ask it writes N new articles, deletes 50 and changes 50 in batches,
each batch followed by the app's ``/rebuild`` over HTTP. It checks every answer's citations
against the committed states and the answers to fixed questions about untouched articles
against a quiet run before the changes. Left out: ``--watch`` (the rebuild endpoint gives
exact commit times), uploads, and a Chroma server (the embedded store only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "what did the Speakers discuss about AI legislation?",
    "What did Koshanov brief his colleagues on?",
    "Which index does Kazakhstan rank 24th in?",
    "What share of public services are available online in Kazakhstan?",
    "Who thanked the Kazakhstani side for a warm welcome?",
]


@dataclass
class LoadResult:
    clients: int
    questions: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        data = sorted(self.latencies)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]

    def summary(self) -> dict:
        return {
            "clients": self.clients, "questions_each": self.questions,
            "requests": len(self.latencies) + len(self.errors), "errors": len(self.errors),
            "throughput_rps": round(len(self.latencies) / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": round(self.percentile(50) * 1000), "p95_ms": round(self.percentile(95) * 1000),
            "p99_ms": round(self.percentile(99) * 1000),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000) if self.latencies else None,
        }


def run_load(url: str, clients: int, questions: int, timeout: float = 300.0) -> LoadResult:
    """Each client thread asks `questions` questions through the /ask endpoint, one at a time."""
    from gradio_client import Client

    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit(f"refusing to load-test a non-loopback address: {url}")
    result = LoadResult(clients, questions, 0.0)
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def worker(n: int) -> None:
        try:
            # A generous timeout: a queued request waits its turn (the app answers
            # `concurrency` questions at once); a timeout here is reported as an error.
            client = Client(url, verbose=False, analytics_enabled=False,
                            httpx_kwargs={"timeout": timeout})
        except Exception as exc:  # counted, reported
            with lock:
                result.errors.append(f"client {n}: connect: {exc}")
            ready.wait()
            return
        ready.wait()
        for i in range(questions):
            question = QUESTIONS[(n + i) % len(QUESTIONS)]
            t0 = time.perf_counter()
            try:
                answer = client.predict(question, None, api_name="/ask")
                if not isinstance(answer, dict) or "answer" not in answer:
                    raise ValueError(f"unexpected reply: {str(answer)[:100]}")
                with lock:
                    result.latencies.append(time.perf_counter() - t0)
            except Exception as exc:
                with lock:
                    result.errors.append(f"client {n} question {i}: {exc}")

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join(timeout)
    result.seconds = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="A running app (loopback). Default: start one.")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--index", default=str(ROOT / "benchmarks" / ".work" / "load-index"))
    parser.add_argument("--record", action="store_true", help="Append the table to benchmarks/README.md.")
    parser.add_argument("--index-while", type=int, default=0, metavar="N",
                        help="Stress run: index N new articles (and delete/change 50) while asking.")
    parser.add_argument("--base", type=int, default=200, help="Stress run: base Wikinews articles.")
    parser.add_argument("--deletes", type=int, default=50)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--batches", type=int, default=6, help="Stress run: rebuilds.")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="Stress run: ask at least this long (and until the indexing ends).")
    parser.add_argument("--max-chars", type=int, default=0,
                        help="Stress run: cut each Wikinews body after its last sentence within N chars.")
    parser.add_argument("--work", default=None,
                        help="Stress run: working folder (default benchmarks/.work/stress).")
    parser.add_argument("--result", default=None, help="Stress run: write the checks' figures as JSON here.")
    args = parser.parse_args()
    if args.index_while:
        from load_stress import main as stress_main

        sys.exit(stress_main(args))
    demo = None
    if args.url is None:
        import socket

        from assistant import Assistant, Settings
        from assistant.webapp import launch

        assistant = Assistant(Settings.from_env(corpus_dir=args.corpus, index_dir=args.index))
        assistant.build_index()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        demo = launch(assistant, host="127.0.0.1", port=port, block=False)
        args.url = demo.local_url.rstrip("/")
        concurrency = assistant.settings.concurrency
    else:
        concurrency = "?"
    result = run_load(args.url, args.clients, args.questions)
    if demo is not None:
        demo.close()
    s = result.summary()
    print(f"{s['clients']} clients × {s['questions_each']} questions: {s['requests']} requests, "
          f"{s['errors']} errors, {s['throughput_rps']} answers/s, p50 {s['p50_ms']} ms, "
          f"p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms (app concurrency limit {concurrency})")
    for err in result.errors[:10]:
        print("error:", err)
    if args.record:
        with open(ROOT / "benchmarks" / "README.md", "a", encoding="utf-8") as fh:
            fh.write(f"\n### Load ({dt.date.today().isoformat()}, `python benchmarks/load.py "
                     f"--clients {args.clients} --questions {args.questions}`)\n\n"
                     "| clients | questions each | requests | errors | answers/s | p50 ms | p95 ms | p99 ms |\n"
                     "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
                     f"| {s['clients']} | {s['questions_each']} | {s['requests']} | {s['errors']} | "
                     f"{s['throughput_rps']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} |\n")
    sys.exit(1 if result.errors else 0)


if __name__ == "__main__":
    main()
