"""Retrieval quality on newsqa-mini: `assistant eval --baseline`, written as a markdown table.

    python benchmarks/bench_retrieval.py            # all 500 queries, with both baselines
    python benchmarks/bench_retrieval.py --limit 50 # a quick run

Runs the eval (ours vs BM25 alone vs the naive LangChain chain, the same 10 passages of at
most 1,000 characters each), prints the table and appends it to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "datasets" / "newsqa-mini"
METRICS = ["hits@4", "hits@10", "mrr@10", "map@10", "recall@10", "all@10", "doc_hits@10",
           "null_abstain", "false_abstain", "p50_ms", "p95_ms", "mean_chars"]


def markdown(results: dict, command: str) -> str:
    systems = {"ours": results["ours"], **results["baselines"]}
    names = list(systems)
    lines = [f"### Retrieval on newsqa-mini ({dt.date.today().isoformat()}, `{command}`)", "",
             "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for m in METRICS:
        if m in systems["ours"]:
            lines.append(f"| {m} | " + " | ".join(
                f"{systems[n][m]:.3f}" if m in systems[n] else "–" for n in names) + " |")
    lines += ["", "Per question type (ours / bm25 / naive):", "",
              "| type | queries | hits@4 | mrr@10 | recall@10 | all@10 | abstain |", "|---|---|---|---|---|---|---|"]
    for qtype, per in results["by_type"].items():
        def trio(m):
            return " / ".join(f"{per[n].get(m, float('nan')):.3f}" for n in names if m in per[n])
        abstain = per["ours"].get("null_abstain" if qtype == "null_query" else "false_abstain", float("nan"))
        lines.append(f"| {qtype} | {per['ours']['queries']} | {trio('hits@4')} | {trio('mrr@10')} | "
                     f"{trio('recall@10')} | {trio('all@10')} | {abstain:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if not DATASET.exists():
        print(f"skipped: {DATASET} is absent")
        return
    out = ROOT / "benchmarks" / ".work" / "retrieval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(Path(sys.executable).parent / "assistant"), "eval", str(DATASET), "--baseline",
           "--json", str(out)] + (["--limit", str(args.limit)] if args.limit else [])
    subprocess.run(cmd, check=True, cwd=ROOT)
    table = markdown(json.loads(out.read_text()),
                     "assistant eval ../shared/datasets/newsqa-mini --baseline"
                     + (f" --limit {args.limit}" if args.limit else ""))
    print(table)
    if not args.no_record:
        with open(ROOT / "benchmarks" / "README.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + table)


if __name__ == "__main__":
    main()
