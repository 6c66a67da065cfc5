"""The lexical engine: tantivy and SQLite FTS5 bm25() against the former in-memory BM25.

    python benchmarks/bench_lexical.py [--split tune|test] [--quick]

Chunks newsqa-mini with the project's chunker (the lexical text is title · outlet ·
passage, as the index stores it), then for the chosen half of the 500 queries
(benchmarks/questions/newsqa-split.json) ranks chunks with each engine alone and scores
the top 10 with the eval's fact metrics (hits@10, MRR@10, recall@10). Also: build time,
query p50/p95, resident memory added by each engine, on-disk size, and the cost of an
incremental update (50 chunks replaced). No embeddings are involved. Prints a markdown
table; records nothing (paste it into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATASET = ROOT.parent / "shared" / "datasets" / "newsqa-mini"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from assistant.chunking import split_article
    from assistant.corpus import Article
    from assistant.evaluate import fact_metrics
    from assistant.lexical import LexicalIndex, MemoryBM25, query_terms, terms_text

    def fts_search(conn, question, k):
        terms = sorted(set(query_terms(question)))
        if not terms:
            return []
        match = " OR ".join('"' + t + '"' for t in terms)
        return conn.execute("SELECT c.id, -bm25(fts) FROM fts JOIN chunks c ON c.rowid = fts.rowid "
                            "WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?", (match, k)).fetchall()

    fts_schema = """
    CREATE VIRTUAL TABLE fts USING fts5(terms, content='chunks', content_rowid='rowid',
                                        tokenize='unicode61 remove_diacritics 0');
    CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO fts(rowid, terms) VALUES (new.rowid, new.terms); END;
    CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO fts(fts, rowid, terms) VALUES ('delete', old.rowid, old.terms); END;
    """

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="tune", choices=["tune", "test"])
    parser.add_argument("--quick", action="store_true", help="first 60 queries")
    args = parser.parse_args()
    if not DATASET.exists():
        print(f"skipped: {DATASET} is absent")
        return
    corpus = json.loads((DATASET / "corpus.json").read_text())
    queries = json.loads((DATASET / "MultiHopRAG.json").read_text())
    split = json.loads((ROOT / "benchmarks" / "questions" / "newsqa-split.json").read_text())[args.split]
    picked = [queries[i] for i in split if queries[i]["question_type"] != "null_query"]
    if args.quick:
        picked = picked[:60]
    rows = []
    for n, a in enumerate(corpus):
        art = Article(id=f"a{n}", path=f"a{n}", title=a["title"], source=a["source"],
                      date=(a.get("published_at") or "")[:10] or None, url=a.get("url"), text=a["body"])
        for c in split_article(art, 800, 1):
            rows.append((c.id, art.id, art.title, art.source, c.text))
    texts = {cid: text for cid, _, _, _, text in rows}
    print(f"{len(corpus)} articles, {len(rows)} chunks, {len(picked)} answerable {args.split} queries")

    results = {}
    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    memory = MemoryBM25()
    memory.add((cid, f"{title} {source} {text}") for cid, _, title, source, text in rows)
    memory.search("warm up", 1)
    build_mem = time.perf_counter() - t0
    mem_rss = rss_mb() - base
    t0 = time.perf_counter()
    memory.remove([r[0] for r in rows[:50]])
    memory.add((cid, f"{title} {source} {text}") for cid, _, title, source, text in rows[:50])
    memory.search("warm up", 1)
    update_mem = time.perf_counter() - t0
    results["in-memory BM25 (before)"] = (memory.search, build_mem, update_mem, mem_rss, None)

    folder = Path(tempfile.mkdtemp())
    path = folder / "fts.sqlite3"
    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript("CREATE TABLE chunks(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, article_id TEXT, "
                       "hash TEXT, terms TEXT); CREATE INDEX v ON chunks(article_id, hash);"
                       + fts_schema)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO chunks(id, article_id, hash, terms) VALUES (?, ?, 'h', ?)",
                     [(cid, aid, terms_text(title, source, text)) for cid, aid, title, source, text in rows])
    conn.execute("COMMIT")
    build_fts = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("DELETE FROM chunks WHERE id = ?", [(r[0],) for r in rows[:50]])
    conn.executemany("INSERT INTO chunks(id, article_id, hash, terms) VALUES (?, ?, 'h', ?)",
                     [(cid, aid, terms_text(title, source, text)) for cid, aid, title, source, text in rows[:50]])
    conn.execute("COMMIT")
    update_fts = time.perf_counter() - t0
    reader = sqlite3.connect(path)
    reader.execute("PRAGMA query_only=1")
    fts_rss = rss_mb() - base
    results["SQLite FTS5 bm25()"] = (lambda q, k: fts_search(reader, q, k), build_fts, update_fts,
                                           fts_rss, path.stat().st_size + sum(
                                               p.stat().st_size for p in folder.glob("fts.sqlite3-*")))

    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    lex = LexicalIndex(folder / "tantivy")
    lex.open_writer()
    lex.replace((cid, terms_text(title, source, text)) for cid, _, title, source, text in rows)
    build_tv = time.perf_counter() - t0
    t0 = time.perf_counter()
    lex.replace((cid, terms_text(title, source, text)) for cid, _, title, source, text in rows[:50])
    update_tv = time.perf_counter() - t0
    lex.close_writer()
    snap = LexicalIndex(folder / "tantivy").snapshot()
    tv_rss = rss_mb() - base
    results["tantivy (chosen)"] = (snap.search, build_tv, update_tv, tv_rss,
                                   sum(p.stat().st_size for p in (folder / "tantivy").rglob("*") if p.is_file()))

    lines = ["| engine | hits@10 | mrr@10 | recall@10 | query p50 ms | p95 ms | build s | "
             "update 50 chunks ms | RSS added MB | on disk MB |", "|---" * 10 + "|"]
    for name, (search, build_s, update_s, rss, disk) in results.items():
        scores, times = [], []
        for q in picked:
            t = time.perf_counter()
            hits = search(q["query"], 10)
            times.append((time.perf_counter() - t) * 1000)
            scores.append(fact_metrics([texts[i] for i, _ in hits], [e["fact"] for e in q["evidence_list"]]))
        mean = {m: statistics.fmean(s[m] for s in scores) for m in ("hits@10", "mrr@10", "recall@10")}
        times.sort()
        lines.append(f"| {name} | {mean['hits@10']:.3f} | {mean['mrr@10']:.3f} | {mean['recall@10']:.3f} | "
                     f"{times[len(times) // 2]:.1f} | {times[int(len(times) * 0.95)]:.1f} | {build_s:.1f} | "
                     f"{update_s * 1000:.0f} | {rss:.0f} | {'–' if disk is None else f'{disk / 1e6:.1f}'} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
