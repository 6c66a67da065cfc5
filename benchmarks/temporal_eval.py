"""Temporal questions: ours vs the naive LangChain chain on benchmarks/questions/temporal-qa.

    python benchmarks/temporal_eval.py --index DIR [--split test] [--baseline] [--json out.json]

DIR is an index of newsqa-mini's articles plus the seed article. The smallest corpus that
holds every gold article is the 326 dated articles (the 2,000 undated Wikinews distractors are
never gold) and the seed: `--make-corpus FOLDER` writes it, then
`assistant --corpus FOLDER --index DIR index` builds it (about 5 minutes on 2 busy cores).
Each question is asked with its own as_of. Reported per kind and overall:
- first@gold: the answer's first citation is from a gold article (naive: its first chunk);
- latest-first (latest questions): the first citation is gold[0], the newest relevant article;
- timeline order (timeline questions): the answer's dated lines are in date order;
- timeline coverage: share of gold articles cited;
- event date (event_date questions): a citation carries the question's event date.
Also temporal_query recall@10 of newsqa-mini's own questions (`--newsqa`), to compare with
main's retrieval on the same index.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "benchmarks" / "questions" / "temporal-qa" / "questions.jsonl"


def load(split: str) -> list[dict]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def make_corpus(folder: Path) -> None:
    """newsqa-mini's dated articles (corpus.json, same records) and the seed article."""
    data = json.loads((ROOT.parent / "shared" / "datasets" / "newsqa-mini" / "corpus.json")
                      .read_text(encoding="utf-8"))
    dated = [r for r in data if r.get("published_at")]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.json").write_text(json.dumps(dated, ensure_ascii=False), encoding="utf-8")
    for seed in (ROOT / "corpus").glob("000_*.txt"):
        shutil.copyfile(seed, folder / seed.name)
    print(f"{len(dated)} dated articles and the seed written to {folder}")


def score(q: dict, answer) -> dict:
    gold = [g["title"] for g in q["gold"]]
    cited = [c.title for c in answer.citations]
    row = {"first@gold": float(bool(cited) and cited[0] in gold), "abstained": answer.abstained}
    if q["kind"] == "latest":
        row["latest_first"] = float(bool(cited) and cited[0] == gold[0])
    if q["kind"] == "timeline":
        dates = [line.split(":", 1)[0] for line in answer.answer.splitlines() if line[:4].isdigit()]
        row["timeline_order"] = float(bool(dates) and dates == sorted(dates))
        row["timeline_coverage"] = len(set(cited) & set(gold)) / len(set(gold))
    if q["kind"] == "event_date":
        row["event_date_cited"] = float(any((c.event_date or c.date) == q.get("event_date")
                                            for c in answer.citations))
    return row


def summarise(rows: list[dict]) -> dict:
    keys = sorted({k for r in rows for k in r if k not in ("kind",)})
    out = {}
    for kind in ["all", *sorted({r["kind"] for r in rows})]:
        sel = [r for r in rows if kind == "all" or r["kind"] == kind]
        out[kind] = {"n": len(sel)}
        for k in keys:
            vals = [float(r[k]) for r in sel if k in r]
            if vals:
                out[kind][k] = round(sum(vals) / len(vals), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", help="the index to ask (required unless --make-corpus)")
    ap.add_argument("--make-corpus", metavar="FOLDER", default=None,
                    help="write newsqa-mini's dated articles and the seed into FOLDER, then exit")
    ap.add_argument("--corpus", default=None, help="the corpus folder of the index (for --baseline)")
    ap.add_argument("--split", default="test", choices=["dev", "test", "all"])
    ap.add_argument("--baseline", action="store_true", help="also the naive LangChain chain")
    ap.add_argument("--newsqa", action="store_true", help="also newsqa-mini temporal_query recall@10")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting override, e.g. recency_margin=0.1")
    ap.add_argument("--kind", default=None, choices=["relative", "latest", "timeline", "event_date"],
                    help="only the questions of this kind")
    ap.add_argument("--json", default=None, help="write the summary and one row per question here")
    args = ap.parse_args()
    if args.make_corpus:
        make_corpus(Path(args.make_corpus))
        return
    if not args.index:
        ap.error("--index is required")
    sys.path.insert(0, str(ROOT))
    from assistant import Assistant
    from assistant.config import Settings

    overrides = dict(kv.split("=", 1) for kv in args.set)
    settings = Settings.from_env(index_dir=args.index, corpus_dir=args.corpus, **overrides)
    assistant = Assistant(settings)
    naive = None
    if args.baseline:
        from assistant.evaluate import NaiveBaseline

        naive = NaiveBaseline(assistant, Path(args.index).parent / "naive")
        naive.build()
    questions = [q for q in load(args.split) if args.kind in (None, q["kind"])]
    ours, theirs, times, rows = [], [], [], []
    for q in questions:
        t0 = time.perf_counter()
        answer = assistant.ask(q["question"], as_of=q["as_of"])
        times.append(time.perf_counter() - t0)
        ours.append({"kind": q["kind"], **score(q, answer)})
        rows.append({"id": q["id"], "question": q["question"], "as_of": q["as_of"], **ours[-1],
                     "cited": [[c.title, c.date, c.event_date] for c in answer.citations],
                     "answer": answer.answer[:600]})
        if naive is not None:
            docs = naive.search(q["question"], 10)
            first = docs[0].metadata.get("title") if docs else None
            gold = [g["title"] for g in q["gold"]]
            row = {"kind": q["kind"], "first@gold": float(first in gold)}
            if q["kind"] == "latest":
                row["latest_first"] = float(first == gold[0])
            if q["kind"] == "timeline":
                row["timeline_coverage"] = len({d.metadata.get("title") for d in docs} & set(gold)) / len(set(gold))
            theirs.append(row)
            rows[-1]["naive"] = row
    result = {"split": args.split, "settings": overrides, "ours": summarise(ours),
              "seconds_per_question": round(sum(times) / max(len(times), 1), 2)}
    if naive is not None:
        result["naive"] = summarise(theirs)
    if args.newsqa:
        from assistant.evaluate import fact_metrics, load_queries

        queries = [q for q in load_queries(ROOT.parent / "shared" / "datasets" / "newsqa-mini")
                   if q.question_type == "temporal_query"]
        recalls = []
        for q in queries:
            retrieval = assistant.retriever.retrieve(q.query, k=10)
            recalls.append(fact_metrics([p.text for p in retrieval.passages], q.facts)["recall@10"])
        result["newsqa_temporal_recall@10"] = round(sum(recalls) / len(recalls), 3)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "questions": rows}, indent=2, ensure_ascii=False),
                                   encoding="utf-8")


if __name__ == "__main__":
    main()
