"""Query latency: p50/p95 of answer() against the naive LangChain chain, at growing corpus sizes.

Sizes: newsqa-mini (2,326 articles, real vectors) and Wikinews replicated to about 20k and
100k chunks (perturbed-copy vectors, see README.md). At each size one Assistant (real embedder)
answers the same questions with the extractive generator (``Assistant.ask``: condense,
hybrid retrieval, sentence rescoring, cited answer: what ``answer()`` runs), and, interleaved
question by question on newsqa-mini, the naive LangChain chain of ``assistant eval``
(RecursiveCharacterTextSplitter 1000/200 in its own Chroma index, same embedder, top 10, the
best two sentences) answers them too. Also timed: embedding the question alone (the floor any
dense retriever pays). The growth exponent
is the least-squares slope of log(p50) on log(chunks). Plot: benchmarks/latency.png.

Targets (issue 11): p50 <= 50 ms, p95 <= 100 ms and <= 0.5x the naive chain's p50 at 2.3k
articles; p50 <= 80 ms at 100k chunks; sublinear growth (exponent < 1).

Usage: .venv/bin/python benchmarks/bench_query.py [--quick] [--sizes 20000,100000]
       [--questions 60] [--no-record]
"""

from __future__ import annotations

import argparse
import time

from _common import (BENCH, NEWSQA, WIKINEWS, WORK, RecordingEmbedder, fit_exponent, fmt,
                     wrapped_assistant, newsqa_index, percentile, questions, record,
                     require_datasets, scale_index, table)


def naive_chain(assistant, folder):
    """The naive LangChain chain of ``assistant eval`` (evaluate.NaiveBaseline:
    RecursiveCharacterTextSplitter 1000/200, the same embedder, Chroma top 10, the best two
    sentences by cosine), its index built once in folder."""
    from assistant.evaluate import NaiveBaseline

    naive = NaiveBaseline(assistant, folder)
    naive.build()
    return naive


def measure(label: str, settings, qs: list[str], chunks: int, articles: int, naive_folder=None) -> dict:
    assistant, rec, inner = wrapped_assistant(settings, RecordingEmbedder)
    # The scale indexes are perturbed copies built behind the embedder seam: the naive chain
    # (which would encode 100k chunks for real) is measured on newsqa-mini only.
    naive = naive_chain(assistant, naive_folder) if naive_folder else None
    model = inner.model
    # Warm up: model, Chroma segments, BM25, outlet list.
    t0 = time.perf_counter()
    assistant.ask("warm up: what happened?")
    first = time.perf_counter() - t0
    if naive is not None:
        naive.answer("warm up")
    rec.texts.clear()  # count only the measured questions' encodes
    rec.seconds, rec.calls = 0.0, 0
    stages: dict[str, float] = {}

    def timed(obj, name, label):
        method = getattr(obj, name, None)
        if method is None:  # the library changed: time what is still there
            return

        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return method(*a, **k)
            finally:
                stages[label] = stages.get(label, 0.0) + time.perf_counter() - t0
        setattr(obj, name, wrapper)

    from assistant.lexical import LexicalSnapshot

    timed(assistant.store, "dense", "Chroma dense search")
    timed(assistant.store, "fetch", "passage fetch (side store)")
    timed(LexicalSnapshot, "search", "BM25")
    timed(assistant.retriever, "_score_sentences", "sentence rescoring")
    timed(assistant, "_generate_step", "answer step")
    import torch

    ours, naive_ms, embed_only, embedded, encode_ms, embed_one_thread = [], [], [], [], [], []
    for q in qs:
        n0, s0 = len(rec.texts), rec.seconds
        t0 = time.perf_counter()
        assistant.ask(q)
        ours.append((time.perf_counter() - t0) * 1000)
        embedded.append(len(rec.texts) - n0)
        encode_ms.append((rec.seconds - s0) * 1000)
        if naive is not None:
            t0 = time.perf_counter()
            naive.answer(q)
            naive_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        model.encode([q], normalize_embeddings=True, show_progress_bar=False)
        embed_only.append((time.perf_counter() - t0) * 1000)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        model.encode([q], normalize_embeddings=True, show_progress_bar=False)
        embed_one_thread.append((time.perf_counter() - t0) * 1000)
        torch.set_num_threads(threads)
    res = {
        "label": label, "chunks": chunks, "articles": articles, "first_ms": first * 1000,
        "ours_p50": percentile(ours, 50), "ours_p95": percentile(ours, 95),
        "naive_p50": percentile(naive_ms, 50) if naive_ms else float("nan"),
        "naive_p95": percentile(naive_ms, 95) if naive_ms else float("nan"),
        "embed_p50": percentile(embed_only, 50),
        "embed1_p50": percentile(embed_one_thread, 50),
        "texts_per_query": sum(embedded) / len(embedded),
        "encode_p50": percentile(encode_ms, 50),
        "stages": {k: v * 1000 / len(qs) for k, v in stages.items()}
                  | {"question encoding": sum(encode_ms) / len(qs)},
    }
    print(f"[{label}] {chunks} chunks: ours p50 {res['ours_p50']:.0f} ms p95 {res['ours_p95']:.0f} ms "
          f"(encode {res['encode_p50']:.0f} ms for {res['texts_per_query']:.0f} texts); naive p50 "
          f"{res['naive_p50']:.0f} ms p95 {res['naive_p95']:.0f} ms; question embedding alone "
          f"{res['embed_p50']:.0f} ms ({res['embed1_p50']:.0f} ms on one thread)", flush=True)
    return res


def plot(results: list[dict], path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return False
    xs = [r["chunks"] for r in results]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(xs, [r["ours_p50"] for r in results], "o-", color="C0", label="answer() p50")
    ax.plot(xs, [r["ours_p95"] for r in results], "o--", color="C0", alpha=0.6, label="answer() p95")
    ax.plot(xs, [r["naive_p50"] for r in results], "s-", color="C1", label="naive LangChain top-10 p50")
    ax.plot(xs, [r["naive_p95"] for r in results], "s--", color="C1", alpha=0.6, label="naive p95")
    ax.plot(xs, [r["embed_p50"] for r in results], "^:", color="C2", label="question embedding alone p50")
    ax.plot(xs, [r["embed1_p50"] for r in results], "v:", color="C3", label="question embedding, 1 thread, p50")
    ax.axhline(150, color="grey", lw=0.8, ls=":")
    ax.axhline(300, color="grey", lw=0.8, ls="-.")
    ax.text(xs[0], 155, "150 ms", color="grey", fontsize=8)
    ax.text(xs[0], 310, "300 ms", color="grey", fontsize=8)
    for r in results:
        ax.annotate(r["label"], (r["chunks"], r["ours_p50"]), textcoords="offset points",
                    xytext=(4, 6), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel("latency per question (ms)")
    ax.set_title("Query latency vs corpus size (2 CPU cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"plot saved to {path}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="200 newsqa articles, 2k and 5k chunks, 10 questions; records nothing")
    parser.add_argument("--sizes", default=None, help="scale sizes in chunks, comma-separated (\"\" for newsqa-mini only)")
    parser.add_argument("--questions", type=int, default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    require_datasets(NEWSQA, WIKINEWS)
    default = "2000,5000" if args.quick else "20000,100000"
    sizes = [int(s) for s in (default if args.sizes is None else args.sizes).split(",") if s]  # "": newsqa only
    nq = args.questions or (10 if args.quick else 60)
    qs = questions(nq)

    results = []
    settings, report = newsqa_index(200 if args.quick else None)
    results.append(measure(f"newsqa-mini ({report.articles} articles)", settings, qs,
                           report.chunks, report.articles, naive_folder=settings.index_dir.parent / "naive"))
    for size in sizes:
        settings, report = scale_index(size)
        results.append(measure(f"{size // 1000}k chunks", settings, qs, report.chunks, report.articles))

    xs = [r["chunks"] for r in results]
    exp_ours = fit_exponent(xs, [r["ours_p50"] for r in results])
    rows = []
    for n, r in enumerate(results):
        if n == 0:
            target = "p50 <= 50, p95 <= 100, <= 0.5x naive"
            ok = r["ours_p50"] <= 50 and r["ours_p95"] <= 100 and r["ours_p50"] <= 0.5 * r["naive_p50"]
        elif r["chunks"] >= 90_000:
            target, ok = "p50 <= 80", r["ours_p50"] <= 80
        else:
            target, ok = "-", None
        rows.append([r["label"], f"{r['chunks']:,}", fmt(r["ours_p50"], 0), fmt(r["ours_p95"], 0),
                     fmt(r["naive_p50"], 0), fmt(r["naive_p95"], 0),
                     fmt(r["ours_p50"] / r["naive_p50"], 1),
                     f"{fmt(r['embed_p50'], 0)} ({fmt(r['embed1_p50'], 0)})",
                     fmt(r["texts_per_query"], 0), fmt(r["encode_p50"], 0), fmt(r["first_ms"], 0),
                     target, "-" if ok is None else ("met" if ok else "NOT met")])
    headers = ["index", "chunks", "answer() p50 ms", "p95 ms", "naive p50 ms", "naive p95 ms",
               "answer/naive p50", "question embedding alone p50 ms (1 thread)", "texts embedded per question",
               "encode ms per question p50", "first question ms", "target", "result"]
    out = table(headers, rows)
    stage_lines = [f"- {r['label']}: mean ms per question: " + ", ".join(
        f"{k} {v:.0f}" for k, v in sorted(r["stages"].items(), key=lambda kv: -kv[1]))
        for r in results]
    growth = (f"Fitted growth exponent (log p50 on log chunks, {len(results)} sizes): answer() "
              f"{exp_ours:.2f} (1 = linear; target: sublinear, "
              f"{'met' if exp_ours < 1 else 'NOT met'}).")
    print()
    print(out)
    print(growth)
    print("\n".join(stage_lines))
    png = BENCH / "latency.png" if not (args.quick or args.no_record) else WORK / "latency-quick.png"
    plot(results, png)
    body = (f"`benchmarks/bench_query.py{' --quick' if args.quick else ''}`: {nq} newsqa-mini questions "
            f"at every size, ours and naive interleaved question by question; extractive answers. "
            f"The scale indexes hold perturbed-copy vectors (see the top of this file).\n\n" + out
            + "\n\n" + growth + "\n\nWhere the time goes (mean per question, stages overlap: "
            "the answer step includes nothing of retrieval):\n\n" + "\n".join(stage_lines)
            + "\n\n![latency vs corpus size](latency.png)")
    record("Query latency", body, enabled=not (args.quick or args.no_record))


if __name__ == "__main__":
    main()
