"""Choose and measure the wire-copy threshold of assistant/syndication.py.

A labelled set from ../shared/datasets/wikinews-2000: each of N Wikinews bodies becomes a
story carried by 1-4 outlets, each copy with small edits an outlet makes to wire copy (a
dateline, a byline or credit line, a few words changed, a paragraph cut or a sentence
added); the other bodies are the negatives (Wikinews holds follow-ups on the same topics,
the hard cases). Stories are split in halves by a fixed seed: the threshold is chosen on
the dev half (best F1 of pairwise precision and recall of the groups; when several
thresholds tie, the middle of that plateau: the most margin on both sides) and precision/recall are reported on the test half.

    python benchmarks/syndication_eval.py [--stories 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.syndication import group, signature  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "wikinews-2000" / "wikinews.jsonl"
OUTLETS = ["Reuters", "AP", "AFP", "BBC", "The Guardian", "Sky News", "Al Jazeera", "DW"]
SWAPS = [("said", "told reporters"), ("on Monday", "Monday"), ("percent", "%"),
         ("according to", "per"), ("announced", "said"), ("however", "but"),
         ("people", "persons"), ("approximately", "about"), ("United States", "US")]


def load_bodies(limit: int) -> list[str]:
    bodies = []
    with open(DATA, encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"].strip()
            if len(text) >= 400:
                bodies.append(text)
            if len(bodies) >= limit:
                break
    return bodies


def wire_copy(text: str, outlet: str, rng: random.Random) -> str:
    """One outlet's copy: the edits wire copy gets, a few of them at random."""
    paras = [p for p in text.split("\n") if p.strip()]
    if len(paras) > 3 and rng.random() < 0.5:
        paras = paras[:-1]  # the last paragraph cut for length
    body = "\n".join(paras)
    for old, new in rng.sample(SWAPS, 3):
        body = body.replace(old, new)
    words = body.split(" ")
    for _ in range(max(1, len(words) // 80)):  # about 1% of words changed
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "a", "its", "new", "local", "major"])
    body = " ".join(words)
    dateline = f"{rng.choice(['LONDON', 'PARIS', 'NEW YORK', 'SYDNEY', 'GENEVA'])} ({outlet}) — "
    credit = rng.choice([f"Reporting by {outlet} staff; editing by the news desk.",
                         f"© {outlet} 2026. All rights reserved.",
                         f"Additional reporting from {outlet} correspondents.", ""])
    extra = rng.choice(["", "\nMore details are expected later today.",
                        "\nThis story has been updated with further information."])
    return f"{dateline}{body}{extra}\n{credit}".strip()


def build_set(n_stories: int, seed: int = 14):
    rng = random.Random(seed)
    bodies = load_bodies(n_stories)
    docs: dict[str, str] = {}
    story: dict[str, int] = {}
    for s, body in enumerate(bodies):
        n = rng.choice([1, 1, 2, 3, 4])  # many stories carried once, some by several outlets
        for outlet in rng.sample(OUTLETS, n):
            key = f"s{s}-{outlet}"
            docs[key] = wire_copy(body, outlet, rng)
            story[key] = s
    half = {s: rng.random() < 0.5 for s in range(len(bodies))}
    return docs, story, half


def pair_scores(groups: dict[str, str], story: dict[str, int], keys: list[str]) -> tuple[float, float]:
    pred = {frozenset(p) for g in _clusters(groups, keys) for p in itertools.combinations(g, 2)}
    by_story: dict[int, list[str]] = {}
    for k in keys:
        by_story.setdefault(story[k], []).append(k)
    gold = {frozenset(p) for g in by_story.values() for p in itertools.combinations(g, 2)}
    tp = len(pred & gold)
    precision = tp / len(pred) if pred else 1.0
    recall = tp / len(gold) if gold else 1.0
    return precision, recall


def _clusters(groups, keys):
    out: dict[str, list[str]] = {}
    for k in keys:
        out.setdefault(groups[k], []).append(k)
    return list(out.values())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stories", type=int, default=1000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is absent")
    docs, story, half = build_set(args.stories)
    sigs = {k: signature(v).hashvalues for k, v in docs.items()}
    dev = [k for k in docs if half[story[k]]]
    test = [k for k in docs if not half[story[k]]]
    results = {"stories": args.stories, "documents": len(docs), "dev_documents": len(dev),
               "test_documents": len(test), "sweep": []}
    scored = []
    for t in [round(0.1 * i, 2) for i in range(1, 10)]:
        g = group({k: sigs[k] for k in dev}, threshold=t)
        p, r = pair_scores(g, story, dev)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        results["sweep"].append({"threshold": t, "precision": round(p, 4), "recall": round(r, 4),
                                 "f1": round(f1, 4)})
        print(f"dev  threshold {t:.2f}: precision {p:.3f} recall {r:.3f} F1 {f1:.3f}")
        scored.append((t, round(f1, 4)))
    top = max(f for _, f in scored)
    plateau = [t for t, f in scored if f == top]
    t = plateau[len(plateau) // 2]
    g = group({k: sigs[k] for k in test}, threshold=t)
    p, r = pair_scores(g, story, test)
    results.update(chosen=t, test_precision=round(p, 4), test_recall=round(r, 4))
    print(f"chosen on dev: {t:.2f}; test half: precision {p:.3f} recall {r:.3f} "
          f"({len(test)} documents)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
