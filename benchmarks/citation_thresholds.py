"""Choose the citation check's thresholds (assistant/citations.py) on labelled data.

Builds (sentence, cited passage) pairs from newsqa-mini, labelled supported or not:

supported  verbatim   an evidence fact against its own article
           clause     the fact's longest clause (six words or more)
           dropout    the fact with every third content word removed (a compressed rewrite)
           lead-in    "According to <outlet>, <fact>"
unsupported same-topic the fact against another evidence article of the same query (same
                      story or subject, different facts): the hard case
           swapped    the fact with one name or number replaced by one from another query's
                      facts, against its own article (a single invented detail)
           unrelated  the fact against a random Wikinews article

and real generated sentences labelled by hand (benchmarks/citation_labels.json: sentences
SmolLM2-135M wrote on newsqa-mini and the seed article, each with the shown passage closest to
it). The synthetic supported pairs are near-verbatim, so alone they would push the overlap
threshold to 1.0; the real sentences paraphrase and invent.

For every pair of thresholds (overlap, similarity) on a 0.05 grid it measures acceptance and
keeps the pair with the largest J = mean(supported accepted: synthetic, real) - mean(unsupported
accepted: same-topic, real), ties to the stricter pair. Swapped details are caught by the
invented names and numbers rule, not by the thresholds. Run: .venv/bin/python benchmarks/citation_thresholds.py
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.chunking import split_sentences  # noqa: E402
from assistant.citations import (PassageView, STOP_WORDS, date_words, support)  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.embedding import SentenceTransformerEmbedder  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "newsqa-mini"


def main() -> None:
    rng = random.Random(13)
    corpus = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))
    queries = json.loads((DATA / "MultiHopRAG.json").read_text(encoding="utf-8"))
    articles = {(a["title"], a["source"]): a for a in corpus}
    wikinews = [a for a in corpus if a["source"] == "Wikinews"]

    def view(article) -> PassageView:
        body = article["body"][:1000]
        date = (article.get("published_at") or "")[:10] or None
        return PassageView(body, f"{article['title']} {article['source']} {date_words(date)}",
                           split_sentences(body) or [(0, len(body))])

    pairs: list[tuple[str, str, tuple]] = []  # (kind, sentence, article key)
    all_facts = [e["fact"] for q in queries for e in q["evidence_list"]]
    seen = set()
    for q in queries:
        ev = [e for e in q["evidence_list"] if (e["title"], e["source"]) in articles]
        for i, e in enumerate(ev):
            fact, key = e["fact"].strip(), (e["title"], e["source"])
            if (fact, key) in seen or len(fact.split()) < 6:
                continue
            seen.add((fact, key))
            pairs.append(("verbatim", fact, key))
            clauses = [c.strip() for c in re.split(r"[,;:—–]", fact) if len(c.split()) >= 6]
            if clauses and clauses[0] != fact:
                pairs.append(("clause", max(clauses, key=len), key))
            words = fact.split()
            content = [j for j, w in enumerate(words) if w.lower().strip(".,\"'“”") not in STOP_WORDS]
            drop = set(content[2::3])
            pairs.append(("dropout", " ".join(w for j, w in enumerate(words) if j not in drop), key))
            pairs.append(("lead-in", f"According to {e['source']}, {fact[0].lower()}{fact[1:]}", key))
            others = [o for o in ev if (o["title"], o["source"]) != key]
            if others:
                pairs.append(("same-topic", fact, (others[0]["title"], others[0]["source"])))
            body = articles[key]["body"]
            names = [m for m in re.finditer(r"(?<=\s)([A-Z][a-z]+|\d[\d,.]*)", fact)]
            if names:
                target = rng.choice(names)
                pool = [m.group(0) for f in rng.sample(all_facts, 40)
                        for m in re.finditer(r"(?<=\s)([A-Z][a-z]+|\d[\d,.]*)", f)
                        if m.group(0) not in body and m.group(0)[0].isdigit() == target.group(0)[0].isdigit()]
                if pool:
                    new = fact[:target.start()] + rng.choice(pool) + fact[target.end():]
                    pairs.append(("swapped", new, key))
            wiki = rng.choice(wikinews)
            pairs.append(("unrelated", fact, (wiki["title"], wiki["source"])))

    settings = Settings.from_env(env={})
    embedder = SentenceTransformerEmbedder(settings.model_path(), settings.embed_batch_size)
    views = {}
    for key in {k for _, _, k in pairs}:
        v = view(articles[key])
        views[key] = v
    texts = [v.text[a:b] for v in views.values() for a, b in v.spans]
    vecs = embedder.embed(texts)
    i = 0
    for v in views.values():
        v.vectors = vecs[i:i + len(v.spans)]
        i += len(v.spans)
    svecs = embedder.embed([s for _, s, _ in pairs])
    rows = []
    for (kind, sentence, key), vec in zip(pairs, svecs):
        overlap, similarity, invented, _ = support(sentence, vec, [views[key]])
        rows.append((kind, overlap, similarity, bool(invented)))

    labels = json.loads((ROOT / "benchmarks" / "citation_labels.json").read_text(encoding="utf-8"))["pairs"]
    lviews = [PassageView(x["passage"], x["header"], split_sentences(x["passage"]) or [(0, len(x["passage"]))])
              for x in labels]
    lvecs = embedder.embed([v.text[a:b] for v in lviews for a, b in v.spans])
    i = 0
    for v in lviews:
        v.vectors, i = lvecs[i:i + len(v.spans)], i + len(v.spans)
    for x, v, vec in zip(labels, lviews, embedder.embed([x["sentence"] for x in labels])):
        overlap, similarity, invented, _ = support(x["sentence"], vec, [v])
        rows.append(("real+" if x["supported"] else "real-", overlap, similarity, bool(invented)))

    positive = {"verbatim", "clause", "dropout", "lead-in"}
    order = ["verbatim", "clause", "dropout", "lead-in", "real+", "same-topic", "swapped", "unrelated", "real-"]
    kinds = [k for k in order if any(r[0] == k for r in rows)]
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r[0]].append(r)

    def rate(kind, to, ts):
        rs = by_kind[kind]
        return sum(o >= to and s >= ts and not inv for _, o, s, inv in rs) / len(rs)

    def accepted(to, ts):
        return sum(rate(k, to, ts) * len(by_kind[k]) for k in positive) / sum(len(by_kind[k]) for k in positive)

    def j(to, ts):
        return ((accepted(to, ts) + rate("real+", to, ts)) / 2
                - (rate("same-topic", to, ts) + rate("real-", to, ts)) / 2)

    grid = [round(x * 0.05, 2) for x in range(21)]
    best = max(((j(to, ts), to + ts, to, ts) for to in grid for ts in grid),
               key=lambda c: (round(c[0], 9), c[1]))
    _, _, to, ts = best
    tp = accepted(to, ts)
    print(f"pairs: {len(rows)} ({', '.join(f'{k} {len(by_kind[k])}' for k in kinds)})")
    print(f"chosen (max J): MIN_OVERLAP = {to}, MIN_SIMILARITY = {ts}: J = {j(to, ts):.3f}; synthetic "
          f"supported accepted {tp:.1%}, real supported {rate('real+', to, ts):.0%}, same-topic "
          f"{rate('same-topic', to, ts):.1%}, real unsupported {rate('real-', to, ts):.1%}\n")
    header = "| thresholds (overlap, similarity) | " + " | ".join(kinds) + " |"
    print(header)
    print("|" + "---|" * (len(kinds) + 1))
    for cand in [(to, ts), (0.3, 0.3), (0.4, 0.4), (0.5, 0.5), (0.5, 0.6), (0.6, 0.5), (0.6, 0.6),
                 (0.7, 0.6), (0.7, 0.7), (0.8, 0.8)]:
        print(f"| {cand[0]:.2f}, {cand[1]:.2f} | "
              + " | ".join(f"{rate(k, *cand):.0%}" for k in kinds) + " |")
    print("\n(share of pairs accepted as supported: verbatim to real+ should be, same-topic to real- not)")


if __name__ == "__main__":
    main()
