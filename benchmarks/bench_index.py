"""Index throughput: `assistant index` (Assistant.build_index) against bare encoding.

For each dataset (wikinews-2000, newsqa-mini) it builds a fresh index through the real
pipeline with the assistant's embedder wrapped so that the exact texts the pipeline embeds,
and the time spent encoding them, are recorded. Then, in the same process, it times bare
``SentenceTransformer.encode`` of exactly those texts with the same batch size. It prints
chunks/s and tokens/s of both, the ratio pipeline/bare (wall and CPU time), the share of the
pipeline's time spent outside encode, the padding each order costs, and tokens/s against the
machine's fp32 peak (cores x FMA lanes x FMA units x 2 x clock).

Usage: .venv/bin/python benchmarks/bench_index.py [--quick] [--datasets wikinews,newsqa]
       [--rounds N] [--no-record]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time

from _common import (NEWSQA, WIKINEWS, WORK, fmt, fp32_peak, newsqa_articles, record,
                     require_datasets, table, wikinews_records, write_records)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def prepare_corpus(name: str, limit: int | None):
    folder = WORK / "index-bench" / name / "corpus"
    if folder.exists():
        shutil.rmtree(folder)
    if name == "wikinews":
        write_records(folder, "wikinews.jsonl", wikinews_records(limit))
    else:
        articles = newsqa_articles()  # a sample across the file: evidence and Wikinews alike
        step = max(1, len(articles) // limit) if limit else 1
        write_records(folder, "corpus.jsonl", articles[::step][:limit] if limit else articles)
    return folder


def padded_tokens(lengths_in_call_order: list[int], texts_chars: list[int], call_sizes: list[int],
                  batch_size: int) -> int:
    """Tokens the model actually computes: sentence-transformers sorts each encode() call by
    text length (characters) and pads every batch to its longest member."""
    total, pos = 0, 0
    for size in call_sizes:
        lens = lengths_in_call_order[pos:pos + size]
        chars = texts_chars[pos:pos + size]
        order = sorted(range(size), key=lambda i: -chars[i])
        for b in range(0, size, batch_size):
            batch = [lens[i] for i in order[b:b + batch_size]]
            total += max(batch) * len(batch)
        pos += size
    return total


def model_flops_per_token(model, mean_len: float) -> dict:
    import torch

    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    total = sum(p.numel() for p in model.parameters())
    cfg = model[0].auto_model.config
    attention = 4 * cfg.num_hidden_layers * cfg.hidden_size * mean_len  # QK^T and AV
    return {"linear_params": linear, "params": total,
            "flops": 2 * linear + attention, "flops_brief": 2 * total + attention}


def run_dataset(name: str, limit: int | None, settings_base, model, batch_size: int, rounds: int):
    from assistant import Assistant
    from _common import RecordingEmbedder, VectorCache, real_embedder

    corpus = prepare_corpus(name, limit)
    best = None
    for r in range(rounds):
        # A new folder per round: Chroma keeps a closed store's state in the process.
        index = WORK / "index-bench" / name / f"index-{r}"
        if index.exists():
            shutil.rmtree(index)
        settings = settings_base.replace(corpus_dir=corpus, index_dir=index)
        inner = real_embedder(settings)
        # The real vectors computed here are kept for the other benchmarks' indexes.
        cache = VectorCache.for_embedder(inner)
        rec = RecordingEmbedder(inner, cache)
        assistant = Assistant(settings, embedder=rec)
        c0, t0 = cpu_seconds(), time.perf_counter()
        report = assistant.build_index()
        pipe_wall, pipe_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        texts = list(rec.texts)
        cache.save()
        if len(texts) != report.embedded:
            print(f"WARNING: the wrapper saw {len(texts)} texts but the report says "
                  f"{report.embedded} were embedded: the pipeline embeds through another path")
        c0, t0 = cpu_seconds(), time.perf_counter()
        model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
        bare_wall, bare_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        result = dict(report=report, texts=texts, sizes=list(rec.sizes), encode_s=rec.seconds,
                      calls=rec.calls, methods=dict(rec.methods), pipe_wall=pipe_wall, pipe_cpu=pipe_cpu,
                      bare_wall=bare_wall, bare_cpu=bare_cpu)
        print(f"[{name} round {r + 1}] {report.chunks} chunks, {len(texts)} texts embedded in "
              f"{rec.calls} calls: pipeline {pipe_wall:.1f} s (encode {rec.seconds:.1f} s), "
              f"bare encode {bare_wall:.1f} s -> ratio {bare_wall / pipe_wall:.3f}", flush=True)
        if best is None or result["bare_wall"] / result["pipe_wall"] > best["bare_wall"] / best["pipe_wall"]:
            best = result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 articles per dataset; records nothing")
    parser.add_argument("--datasets", default="wikinews,newsqa")
    parser.add_argument("--limit", type=int, default=None, help="articles per dataset")
    parser.add_argument("--rounds", type=int, default=1, help="pipeline+bare pairs (the best ratio is kept)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    require_datasets(WIKINEWS, NEWSQA)
    limit = args.limit or (40 if args.quick else None)

    from assistant import Settings
    from assistant.embedding import load_model

    settings = Settings.from_env()
    batch_size = settings.embed_batch_size
    t0 = time.perf_counter()
    model = load_model(settings.model_path())
    load_s = time.perf_counter() - t0
    import torch

    model.encode(["warm up the model"] * 8, batch_size=batch_size)
    tokenizer = model.tokenizer
    max_len = model.max_seq_length
    peak = fp32_peak()
    print(f"model loaded in {load_s:.1f} s; batch size {batch_size}; max_seq_length {max_len}; "
          f"torch threads {torch.get_num_threads()}; fp32 peak {peak['flops'] / 1e9:.0f} GFLOP/s "
          f"({peak['cores']} cores x {peak['lanes']} lanes x {peak['fma_units']} FMA x 2 x "
          f"{peak['mhz']:.0f} MHz, {peak['isa']})", flush=True)

    rows, notes = [], []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        r = run_dataset(name, limit, settings, model, batch_size, args.rounds)
        texts = r["texts"]
        lens = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]] if texts else []
        tokens = sum(lens)
        padded_pipe = padded_tokens(lens, [len(t) for t in texts], r["sizes"], batch_size)
        padded_bare = padded_tokens(lens, [len(t) for t in texts], [len(texts)], batch_size)
        flops = model_flops_per_token(model, (sum(lens) / len(lens)) if lens else 0)
        rep = r["report"]
        pipe_tps, bare_tps = tokens / r["pipe_wall"], tokens / r["bare_wall"]
        ceiling = peak["flops"] / flops["flops"]  # tokens/s at fp32 peak
        rows.append([
            name, rep.articles, rep.chunks, len(texts), f"{tokens:,}",
            fmt(r["pipe_wall"], 1), fmt(r["bare_wall"], 1),
            fmt(rep.chunks / r["pipe_wall"], 1), fmt(len(texts) / r["bare_wall"], 1),
            f"{pipe_tps:,.0f}", f"{bare_tps:,.0f}",
            fmt(r["bare_wall"] / r["pipe_wall"], 3), fmt(r["bare_cpu"] / r["pipe_cpu"], 3),
            f"{100 * (r['pipe_wall'] - r['encode_s']) / r['pipe_wall']:.1f}%",
            f"{100 * (padded_pipe / tokens - 1):.1f}% / {100 * (padded_bare / tokens - 1):.1f}%",
            f"{pipe_tps / ceiling:.2f} / {bare_tps / ceiling:.2f}",
        ])
        notes.append(f"{name}: {r['calls']} embed calls ("
                     + ", ".join(f"{m}: {n} texts" for m, n in r["methods"].items())
                     + f"); time inside the pipeline's encode "
                     f"{r['encode_s']:.1f} s vs bare {r['bare_wall']:.1f} s for the same texts; "
                     f"model flops/token {flops['flops'] / 1e6:.1f} M (2 x {flops['linear_params'] / 1e6:.1f} M "
                     f"matmul parameters + attention at the mean length {sum(lens) / max(1, len(lens)):.0f}); "
                     f"the fp32 peak allows {ceiling:,.0f} tokens/s (with 2 x all {flops['params'] / 1e6:.1f} M "
                     f"parameters: {peak['flops'] / flops['flops_brief']:,.0f} tokens/s, "
                     f"bare at {bare_tps / (peak['flops'] / flops['flops_brief']):.2f} of it)")
    headers = ["dataset", "articles", "chunks", "texts embedded", "tokens", "pipeline s", "bare s",
               "pipeline chunks/s", "bare texts/s", "pipeline tokens/s", "bare tokens/s",
               "pipeline/bare (wall)", "pipeline/bare (CPU)", "pipeline time outside encode",
               "padding pipeline / bare", "tokens/s of fp32 peak (pipeline / bare)"]
    out = table(headers, rows)
    print()
    print(out)
    for n in notes:
        print("- " + n)
    body = (f"`{' '.join(['benchmarks/bench_index.py'] + (['--quick'] if args.quick else []))}`"
            f"{' (limit ' + str(limit) + ' articles)' if limit else ''}; batch size {batch_size}, "
            f"model load {load_s:.1f} s (not in the pipeline time); target pipeline/bare >= 0.9.\n\n"
            + out + "\n\n" + "\n".join("- " + n for n in notes)
            + f"\n- fp32 peak: {peak['cores']} cores x {peak['lanes']} lanes x {peak['fma_units']} FMA units "
              f"x 2 flops x {peak['mhz']:.0f} MHz = {peak['flops'] / 1e9:.0f} GFLOP/s ({peak['isa']}).")
    record("Index throughput", body, enabled=not (args.quick or args.no_record))


if __name__ == "__main__":
    main()
