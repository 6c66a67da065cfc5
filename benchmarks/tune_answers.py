"""Choose the answer step's weights and abstention thresholds on the DEV splits only.

    python benchmarks/tune_answers.py [--index /work/eval/wq] [--newsqa-index DIR]

Retrieval runs once per dev question (the project's Wikinews question set, dev split; and,
with --newsqa-index, newsqa-mini's tune half); then the answer step's scoring
(candidates.weigh_evidence) is re-run for every setting of a small grid and the figures of
each are printed. The test splits are never read here: `assistant eval --split test` reports
them with the chosen defaults (assistant/candidates.py ``Weights``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answering import ExtractiveGenerator  # noqa: E402
from assistant.candidates import Weights  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.evaluate import (answer_contains, direct_answer_exact, load_queries,  # noqa: E402
                                load_question_set, write_question_set_corpus)


def retrievals_wq(index_dir: Path):
    from assistant.api import Assistant

    dataset = ROOT / "benchmarks" / "questions" / "wikinews-qa"
    corpus = index_dir / "corpus"
    write_question_set_corpus(dataset, corpus)
    assistant = Assistant(Settings.from_env(env={}, corpus_dir=corpus, index_dir=index_dir))
    assistant.build_index()
    paths = {aid: Path(r.get("path", "")).stem for aid, r in assistant.store.committed().items()}
    out = []
    for q in load_question_set(dataset, "dev"):
        out.append((q, assistant.retriever.retrieve(q.question, k=10)))
    return assistant, paths, out


def retrievals_newsqa(index_dir: Path):
    from assistant.api import Assistant

    dataset = ROOT.parent / "shared" / "datasets" / "newsqa-mini"
    assistant = Assistant(Settings.from_env(env={}, corpus_dir=index_dir / "corpus", index_dir=index_dir))
    return [(q, assistant.retriever.retrieve(q.query, k=10)) for q in load_queries(dataset, split="tune")]


def score_wq(cache, paths, gen: ExtractiveGenerator) -> dict:
    rows = []
    for q, retrieval in cache:
        a = gen.generate(q.question, retrieval)
        first = paths.get(a.citations[0].article_id) if a.citations else None
        rows.append((q, a.abstained, not a.abstained and answer_contains(a.answer, q.answers),
                     bool(a.direct_answer) and not a.abstained and direct_answer_exact(a.direct_answer.text, q.answers),
                     first == q.article))
    pos = [r for r in rows if r[0].answerable]
    neg = [r for r in rows if not r[0].answerable]
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return {"contains": mean([r[2] for r in pos]), "exact": mean([r[3] for r in pos]),
            "first_gold": mean([r[4] for r in pos]), "declined_neg": mean([r[1] for r in neg]),
            "declined_pos": mean([r[1] for r in pos])}


def score_newsqa(cache, gen: ExtractiveGenerator) -> dict:
    nulls = [gen.generate(q.query, r).abstained for q, r in cache if q.is_null]
    answerable = [gen.generate(q.query, r).abstained for q, r in cache if not q.is_null]
    return {"null_declined": sum(nulls) / max(len(nulls), 1),
            "false_declined": sum(answerable) / max(len(answerable), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, default=Path("/work/eval/wq"))
    parser.add_argument("--newsqa-index", type=Path, default=None)
    parser.add_argument("--stage", choices=["rank", "abstain", "article", "apposition"], default="rank")
    args = parser.parse_args()
    assistant, paths, cache = retrievals_wq(args.index)
    newsqa = retrievals_newsqa(args.newsqa_index) if args.newsqa_index else None
    base = Weights()
    if args.stage == "rank":
        grid = itertools.product([0.5, 1.0, 2.0], [0.5, 1.0, 2.0], [0.25, 0.5, 1.0], [0.25, 0.5, 1.0])
        results = []
        for sim, focus, typed, rank in grid:
            w = Weights(sim=sim, focus=focus, typed=typed, rank=rank, abstain_support=0.0,
                        abstain_typed_focus=0.0)
            gen = ExtractiveGenerator(3, 0.0, weights=w)
            m = score_wq(cache, paths, gen)
            results.append((m["contains"] + m["exact"] + m["first_gold"], (sim, focus, typed, rank), m))
        for total, key, m in sorted(results, reverse=True)[:15]:
            print(key, {k: round(v, 3) for k, v in m.items()})
    elif args.stage == "apposition":
        for apposition in (0.0, 0.25, 0.5, 1.0, 2.0):
            gen = ExtractiveGenerator(3, 0.35, weights=Weights(**{**base.__dict__, "apposition": apposition}))
            m = score_wq(cache, paths, gen)
            print(apposition, {k: round(v, 3) for k, v in m.items()}, flush=True)
    elif args.stage == "article":
        # The article-level focus share, added after the rank stage (other weights fixed).
        for article in (0.0, 0.25, 0.5, 1.0, 2.0):
            gen = ExtractiveGenerator(3, 0.35, weights=Weights(**{**base.__dict__, "article": article}))
            m = score_wq(cache, paths, gen)
            print(article, {k: round(v, 3) for k, v in m.items()}, flush=True)
    else:
        for sim_t, names, typed_focus in itertools.product(
                [0.3, 0.35, 0.4], [0.0, 0.5, 0.6, 0.7, 0.8, 0.9], [0.0, 0.2]):
            w = Weights(**{**base.__dict__, "abstain_names": names, "abstain_typed_focus": typed_focus})
            gen = ExtractiveGenerator(3, sim_t, weights=w)
            m = score_wq(cache, paths, gen)
            if newsqa:
                m.update(score_newsqa(newsqa, gen))
            print((sim_t, names, typed_focus), {k: round(v, 3) for k, v in m.items()}, flush=True)


if __name__ == "__main__":
    main()
