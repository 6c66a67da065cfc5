"""The digest: the main stories of a period, each a cited sentence, one story per event.

For the articles dated inside [since, until] (optionally only those about a topic):
1. each article's vector is the mean of its stored in-context sentence vectors (no encoding);
2. articles whose vectors are near-duplicates (cosine >= ``duplicate``) are one story:
   the same event reported by several outlets;
3. a story is told by the sentence closest to its articles' centroid (closest to the topic
   when one is given), cited, and "reported by N outlets [1][4][7]" when several carried it;
4. stories are ordered by how many outlets carried them, then by their newest date.

Defaults: until = the reference date ("now", see timeframe.py), since = 6 days before until
(the past 7 days). Left out: clustering beyond greedy near-duplicates, headlines written in new
words (the headline is the newest article's title), more than ``max_chunks`` chunks a period.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np

from .answering import Answer, AnswerSentence, Citation
from .retrieval import Filters, Passage, Sentence
from .timeframe import Reference, parse_bound

__all__ = ["Digest", "Story", "build_digest"]

log = logging.getLogger(__name__)


@dataclass
class Story:
    headline: str
    answer: str
    citations: list[Citation]
    outlets: list[str]
    date: str | None  # the newest article's date

    def to_dict(self) -> dict:
        return {"headline": self.headline, "answer": self.answer, "date": self.date,
                "citations": [c.to_dict() for c in self.citations], "outlets": self.outlets}


@dataclass
class Digest:
    as_of: str
    since: str
    until: str
    stories: list[Story] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict:
        return {"as_of": self.as_of, "since": self.since, "until": self.until,
                "stories": [s.to_dict() for s in self.stories]}

    def to_answer(self) -> Answer:
        """The digest as one Answer (one paragraph per story), for the chat's renderer."""
        citations = [c for s in self.stories for c in s.citations]
        text = "\n\n".join(f"{s.date or ''} · {s.headline}\n{s.answer}" for s in self.stories)
        sentences = [AnswerSentence(s.answer, [c.n for c in s.citations]) for s in self.stories]
        answer = Answer(f"What's new {self.since} to {self.until}",
                        text or f"No articles dated {self.since} to {self.until}.",
                        not self.stories, citations, sentences)
        answer.as_of, answer.time_note = self.as_of, self.note
        return answer

    def __str__(self) -> str:
        lines = [f"({self.note})", f"Main stories {self.since} to {self.until}:", ""]
        if not self.stories:
            lines.append("No articles in this period.")
        for i, s in enumerate(self.stories, start=1):
            lines.append(f"{i}. {s.headline} ({s.date or 'undated'})")
            lines.append(f"   {s.answer}")
        cites = [c for s in self.stories for c in s.citations]
        if cites:
            lines += ["", "Sources:"]
            lines += [f"[{c.n}] {c.title} — {c.source}, {c.dated}" + (f" <{c.url}>" if c.url else "")
                      for c in cites]
        return "\n".join(lines)


@dataclass
class _Article:
    passages: list[Passage]
    vector: np.ndarray
    date: str | None
    source: str
    title: str


def build_digest(retriever, embedder, *, reference: Reference, since: str | None = None,
                 until: str | None = None, topic: str | None = None, max_stories: int = 10,
                 duplicate: float = 0.80, max_chunks: int = 1000) -> Digest:
    """The digest of the articles dated in [since, until] (words or YYYY-MM-DD)."""
    ref = reference.date
    hi = parse_bound(until, ref, end=True, label="until") or ref.isoformat()
    lo = parse_bound(since, ref, end=False, label="since") or (
        dt.date.fromisoformat(hi) - dt.timedelta(days=6)).isoformat()
    filters = Filters.parse(lo, hi)  # checks the range is not empty
    note = reference.describe()
    note = note[0].upper() + note[1:]
    digest = Digest(ref.isoformat(), lo, hi, note=note)
    query = topic.strip() if topic and topic.strip() else "news report"
    qvec = embedder.embed_query(query)
    with retriever.searcher.reading() as snap:
        hits = snap.dense(qvec, max_chunks, where=filters.where())
        if len(hits) == max_chunks:
            log.warning("digest %s to %s: more than %d chunks, the rest left out", lo, hi, max_chunks)
        chunks = snap.fetch([cid for cid, _ in hits])
    scores = dict(hits)
    if topic and topic.strip():  # only the articles about the topic: the retriever decides
        found = retriever.retrieve(topic, k=50, filters=filters)
        top = max((p.best_sentence for p in found.passages), default=0.0)
        floor = max(0.2, top - retriever.settings.recency_margin)
        wanted = {p.chunk.article_id for p in found.passages if p.best_sentence >= floor}
    else:
        wanted = None
    articles: dict[str, list] = {}
    for cid, chunk in chunks.items():
        if chunk.sentence_vectors is None or not len(chunk.sentences):
            continue
        if wanted is not None and chunk.article_id not in wanted:
            continue
        articles.setdefault(chunk.article_id, []).append(chunk)
    items = []
    for aid, parts in articles.items():
        parts.sort(key=lambda c: c.start)
        vectors = np.vstack([c.sentence_vectors for c in parts])
        centre = vectors.mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        passages = [Passage(c, scores.get(c.id, 0.0), [
            Sentence(a, b, float(v @ (qvec if wanted is not None else centre)), v)
            for (a, b), v in zip(c.sentences, c.sentence_vectors)]) for c in parts]
        items.append(_Article(passages, centre, parts[0].date, parts[0].source, parts[0].title))
    items.sort(key=lambda a: (a.date or "", a.title), reverse=True)
    groups: list[list[_Article]] = []
    for item in items:  # greedy: join the first story whose lead article is a near-duplicate
        group = next((g for g in groups if float(g[0].vector @ item.vector) >= duplicate), None)
        if group is None:
            groups.append([item])
        else:
            group.append(item)
    groups.sort(key=lambda g: (-len({a.source for a in g}), -_day(g[0].date), g[0].title))
    n = 0
    for group in groups[:max_stories]:
        citations, marks = [], []
        for article in group:
            n += 1
            passage, sent = max(((p, s) for p in article.passages for s in p.sentences
                                 if s.end - s.start >= 20),
                                key=lambda ps: ps[1].score, default=(article.passages[0], None))
            span = (sent.start, sent.end) if sent else None
            citations.append(Citation.from_passage(n, passage, span))
            marks.append(n)
        lead = citations[0]
        text = lead.passage[lead.span[0]:lead.span[1]].strip() + f" [{lead.n}]"
        outlets = sorted({a.source for a in group})
        if len(group) > 1:
            cited = "".join(f"[{m}]" for m in marks)
            text += (f" Reported by {len(outlets)} outlets {cited}." if len(outlets) > 1
                     else f" Reported {len(group)} times by {outlets[0]} {cited}.")
        digest.stories.append(Story(group[0].title, text, citations, outlets, group[0].date))
    return digest


def _day(date: str | None) -> int:
    return int(date.replace("-", "")) if date else 0
