"""Generated answers on newsqa-mini: accuracy (strict and lenient) and the citation check.

For a deterministic sample of queries (every n-th of MultiHopRAG.json, so every question type
is represented) it retrieves once and answers with each generator, then reports per generator:

* strict accuracy: citations.strict_match (yes/no must lead the answer, an entity must appear
  in the first sentence, "Insufficient information." must be an abstention);
* lenient accuracy: MultiHop-RAG's own rule (citations.lenient_match: any shared word);
* generated: answers the LLM wrote (no fallback to the extractive answer);
* sentences passing the citation check: of the sentences the LLM wrote (before any
  fallback), the share supported by their passage; "model-cited" counts those whose marker the
  model wrote itself, the rest were uncited and attributed by the check.

Usage: .venv/bin/python benchmarks/generation_eval.py [--limit 40] [--generators extractive,local]
The index is built once in benchmarks/.work/generation-index (about 3-5 minutes on a laptop
CPU); per-query records go to benchmarks/.work/generation_eval.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant, Settings  # noqa: E402
from assistant.citations import PassageView, check_answer, lenient_match, strict_match  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "newsqa-mini"
WORK = ROOT / "benchmarks" / ".work"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--generators", default="extractive,local")
    parser.add_argument("-k", type=int, default=4, help="passages per question")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--out", default=str(WORK / "generation_eval.json"))
    parser.add_argument("--table", action="store_true", help="only print the table of --out")
    args = parser.parse_args()
    if args.table:
        records = json.loads(Path(args.out).read_text(encoding="utf-8"))
        print(table(records, list(records[0]["runs"])))
        return

    data = Path(args.data)
    corpus = WORK / "generation-corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    if not (corpus / "corpus.json").exists():
        shutil.copyfile(data / "corpus.json", corpus / "corpus.json")
    settings = Settings.from_env(corpus_dir=corpus, index_dir=WORK / "generation-index", k=args.k,
                                 llm_max_tokens=args.max_tokens, llm_context=args.context)
    assistant = Assistant(settings)
    t0 = time.time()
    report = assistant.build_index()
    print(f"index: {report.articles} articles, {report.chunks} chunks ({time.time() - t0:.0f} s)",
          file=sys.stderr)

    queries = json.loads((data / "MultiHopRAG.json").read_text(encoding="utf-8"))
    step = max(1, len(queries) // args.limit)
    sample = queries[::step][: args.limit]
    names = args.generators.split(",")
    records = []
    for i, q in enumerate(sample, start=1):
        retrieval = assistant.retriever.retrieve(q["query"], k=args.k)
        record = {"query": q["query"], "gold": q["answer"], "type": q["question_type"], "runs": {}}
        for name in names:
            pieces: list[str] = []
            t = time.time()
            answer = assistant.generator(name).generate(q["query"], retrieval, on_text=pieces.append)
            run = {"answer": answer.answer, "generator": answer.generator, "fallback": answer.fallback,
                   "fallback_reason": answer.fallback_reason, "abstained": answer.abstained,
                   "seconds": round(time.time() - t, 1),
                   **scores(answer, q["answer"])}
            if name != "extractive":
                raw = "".join(pieces).strip()
                run["raw"] = raw
                views = [PassageView.of(p) for p in retrieval.passages]
                checked = check_answer(raw, views, assistant.embedder.embed) if raw else None
                run["sentences"] = [] if checked is None else [
                    {"text": s.text, "citations": s.citations, "removed": s.removed,
                     "supported": s.supported, "attributed": s.attributed, "refusal": s.refusal,
                     "overlap": round(s.overlap, 3), "similarity": round(s.similarity, 3),
                     "reason": s.reason} for s in checked.sentences]
                run["passages"] = [{"n": n, "title": p.chunk.title, "source": p.chunk.source,
                                    "date": p.chunk.date, "text": p.text}
                                   for n, p in enumerate(retrieval.passages, start=1)]
            record["runs"][name] = run
        records.append(record)
        print(f"{i}/{len(sample)} " + " ".join(
            f"{n}:{'S' if r['strict'] else '-'}{'L' if r['lenient'] else '-'}{'F' if r['fallback'] else ''}"
            for n, r in record["runs"].items()), file=sys.stderr, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table(records, names))


def scores(answer, gold: str) -> dict:
    """Strict and lenient correctness; as in `assistant eval`, a null query ("Insufficient
    information.") is answered correctly by abstaining, and an abstention answers nothing else."""
    if gold.strip().lower().startswith("insufficient information"):
        return {"strict": answer.abstained, "lenient": answer.abstained}
    if answer.abstained:
        return {"strict": False, "lenient": False}
    return {"strict": strict_match(answer.answer, gold), "lenient": lenient_match(answer.answer, gold)}


def table(records: list[dict], names: list[str]) -> str:
    n = len(records)
    lines = [f"{n} newsqa-mini queries "
             f"({', '.join(f'{k} {v}' for k, v in sorted(Counter(r['type'] for r in records).items()))})",
             "",
             "| generator | strict accuracy | lenient accuracy (MultiHop-RAG rule) | generated (no fallback) "
             "| generated sentences passing the check | of which model-cited | mean s/query |",
             "|---|---|---|---|---|---|---|"]
    for name in names:
        runs = [r["runs"][name] | scores(SimpleNamespace(**r["runs"][name]), r["gold"]) for r in records]
        strict = sum(r["strict"] for r in runs) / n
        lenient = sum(r["lenient"] for r in runs) / n
        secs = sum(r["seconds"] for r in runs) / n
        if name == "extractive":
            lines.append(f"| {name} | {strict:.0%} | {lenient:.0%} | – | – (quotes) | – | {secs:.1f} |")
            continue
        generated = sum(not r["fallback"] for r in runs)
        claims = [s for r in runs for s in r.get("sentences", []) if not s["refusal"]]
        passed = [s for s in claims if s["supported"]]
        cited = [s for s in passed if not s["attributed"]]
        lines.append(
            f"| {name} | {strict:.0%} | {lenient:.0%} | {generated}/{n} | "
            f"{len(passed)}/{len(claims)} ({len(passed) / max(1, len(claims)):.0%}) | "
            f"{len(cited)}/{len(passed)} | {secs:.1f} |")
    reasons = Counter(re.sub(r"\b\d+\b", "N", r["runs"][name]["fallback_reason"].split(" (")[0])
                      for r in records for name in names if r["runs"][name]["fallback"])
    if reasons:
        lines += ["", "Fallback reasons: " + "; ".join(f"{k} ({v})" for k, v in reasons.most_common())]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
