"""Dated answers over a retrieval result: "latest" (newest first) and timelines (oldest first).

Both are extractive generators (the ``Generator`` seam of answering.py) and quote sentences
of the retrieved passages, each with its citation and its date: the sentence's own event
date when it names a day ("on Tuesday", resolved against the article's date, see
timeframe.py), else the article's date.
- ``LatestGenerator``: the relevant articles newest first, one sentence each.
- ``TimelineGenerator``: one line per event in date order; the same event reported by
  several articles (near-duplicate sentences) is one line with all its citations.

Relevant means an article about the question's topic: its passage's retrieval score is at
least a share (``ratio``) of the best passage's and it names the question's names that the
best passage names; with ``ratio`` 0, or when nothing qualifies, a sentence at least the
abstention threshold and within ``margin`` of the best sentence (both chosen on the temporal
set's dev split, see benchmarks/README.md). Left out: events without any date (undated articles are
listed last), merging events across different days, summarising an event in new words.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .answering import Answer, AnswerSentence, Citation, abstain_reason, _numbered
from .retrieval import Passage, Retrieval, Sentence
from .timeframe import has_topic, sentence_event_dates, within

__all__ = ["LatestGenerator", "TimelineGenerator", "Event", "relevant_sentences"]

log = logging.getLogger(__name__)


@dataclass
class Event:
    date: str | None
    text: str
    score: float
    vector: np.ndarray | None
    sources: list[tuple[int, Sentence]] = field(default_factory=list)  # (passage index, sentence)


def relevant_sentences(retrieval: Retrieval, threshold: float, margin: float,
                       per_article: int = 1, ratio: float = 0.0) -> list[Event]:
    """The best sentences (per_article per article) of the articles relevant to the question,
    dated. Relevant: with ``ratio`` > 0, a passage whose retrieval score (dense, BM25, term
    coverage and best sentence together) is at least ``ratio`` times the best passage's, its
    sentences not opposite to the question (similarity >= 0); with ``ratio`` 0, a sentence at
    least ``threshold`` and within ``margin`` of the best sentence. The passage score judges an
    article by everything it shares with the question, so an article about the topic whose
    sentences are worded unlike the question still counts (a "latest" answer needs the
    newest such article, a timeline all of them)."""
    candidates = [(s.score, i, s) for i, p in enumerate(retrieval.passages) for s in p.sentences
                  if s.end - s.start >= 20]
    if not candidates:
        return []
    best = max(c[0] for c in candidates)
    floor = max(threshold, best - margin)  # the margin rule
    if ratio > 0:
        first = max(retrieval.passages, key=lambda p: p.score)
        # The names the best passage holds: a name no relevant article uses ("Europe" in
        # "Meta's legal troubles in Europe") is not demanded of the others.
        names = [n for n in (retrieval.asks.proper if retrieval.asks else ()) if _names_in([n], first)]
        relevant = {i for i, p in enumerate(retrieval.passages)
                    if p.score >= ratio * first.score and _names_in(names, p)}
        kept = [c for c in candidates if c[1] in relevant and c[0] >= 0.0]
        if kept:
            candidates, floor = kept, 0.0
        else:
            log.info("no passage within %.2f of the best passage's score names %s: margin rule", ratio, names)
    candidates.sort(key=lambda c: (-c[0], c[1], c[2].start))
    per: dict[str, int] = {}
    events = []
    for score, i, sent in candidates:
        if score < floor:
            break
        passage = retrieval.passages[i]
        article = passage.chunk.article_id
        if per.get(article, 0) >= per_article:
            continue
        per[article] = per.get(article, 0) + 1
        events.append(Event(_date_of(passage, sent), passage.text[sent.start:sent.end].strip(),
                            score, sent.vector, [(i, sent)]))
    return events


def _names_in(names: list[str], passage: Passage) -> bool:
    """Whether the passage (title and text) names every name of the question: a topic named
    by name ("Everton", "Sam Altman") is not covered by an article that lacks it, however
    alike the rest. A name counts by its last word ("Altman" for "Sam Altman"), as articles
    shorten names after the first mention."""
    if not names:
        return True
    text = f"{passage.chunk.title} {passage.text}"
    return all(re.search(r"(?<!\w)" + re.escape(name.split()[-1]) + r"(?!\w)", text, re.IGNORECASE)
               for name in names)


def in_window(retrieval: Retrieval) -> list[Event]:
    """One sentence per retrieved article for a question without a topic: the sentence whose
    event date is in the question's dates if there is one, else the article's best sentence."""
    lo, hi = retrieval.analysis.date_from, retrieval.analysis.date_to
    seen, events = set(), []
    for i, p in enumerate(retrieval.passages):
        if p.chunk.article_id in seen or not p.sentences:
            continue
        dates = sentence_event_dates(p.chunk)
        hits = [(sent, day) for sent, day in zip(p.sentences, dates) if within(day, lo, hi)]
        if hits:
            sent, day = max(hits, key=lambda h: h[0].score)
        elif not p.chunk.date or within(p.chunk.date, lo, hi):
            # Nothing to match: the lead sentence, when this passage opens the article.
            sent = p.sentences[0] if p.chunk.start == 0 else max(p.sentences, key=lambda x: x.score)
            day = p.chunk.date
        else:
            continue
        seen.add(p.chunk.article_id)
        events.append(Event(day, p.text[sent.start:sent.end].strip(), sent.score, sent.vector, [(i, sent)]))
    return events


def _date_of(passage: Passage, sent: Sentence) -> str | None:
    for (a, b), day in zip(passage.chunk.sentences, sentence_event_dates(passage.chunk)):
        if day and a <= sent.start < b:
            return day
    return passage.chunk.date


class _Dated:
    name = "extractive"

    def __init__(self, abstain_threshold: float = 0.30, margin: float = 0.15, ratio: float = 0.0):
        self.abstain_threshold = abstain_threshold
        self.margin = margin
        self.ratio = ratio

    def _abstain(self, question: str, retrieval: Retrieval, events: list[Event],
                 on_text) -> Answer | None:
        # Whether to answer at all is judged on every retrieved sentence, as for any question;
        # which articles the dated list draws on is a separate choice.
        best = max([e.score for e in events] + [p.best_sentence for p in retrieval.passages], default=0.0)
        reason = abstain_reason(retrieval, best, self.abstain_threshold)
        if reason is None:
            return None
        answer = Answer(question, reason, True, [], passages=_numbered(retrieval.passages))
        if on_text:
            on_text(answer.answer)
        return answer

    def _write(self, question: str, retrieval: Retrieval, events: list[Event], on_text) -> Answer:
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        sentences, lines = [], []
        for event in events:
            marks = []
            for i, sent in event.sources:
                if i not in numbers:
                    numbers[i] = len(numbers) + 1
                    citations.append(Citation.from_passage(numbers[i], retrieval.passages[i],
                                                           (sent.start, sent.end)))
                marks.append(numbers[i])
            sentences.append(AnswerSentence(event.text, marks))
            line = f"{event.date or 'undated'}: {event.text} " + "".join(f"[{n}]" for n in marks)
            lines.append(line)
            if on_text:
                on_text(line + "\n")
        return Answer(question, "\n".join(lines), False, citations, sentences,
                      passages=_numbered(retrieval.passages))


class LatestGenerator(_Dated):
    """"What is the latest on X?": the relevant articles newest first, each sentence dated."""

    def __init__(self, abstain_threshold: float = 0.30, margin: float = 0.15, max_sentences: int = 3,
                 ratio: float = 0.0):
        super().__init__(abstain_threshold, margin, ratio)
        self.max_sentences = max_sentences

    def generate(self, question: str, retrieval: Retrieval,
                 on_text: Callable[[str], None] | None = None) -> Answer:
        if has_topic(retrieval.question):
            events = relevant_sentences(retrieval, self.abstain_threshold, self.margin,
                                        ratio=self.ratio)
            abstained = self._abstain(question, retrieval, events, on_text)
            if abstained:
                return abstained
        else:  # "what happened last week?": whatever the archive holds in the window
            events = in_window(retrieval)
            if not events:
                return self._abstain(question, retrieval, events, on_text)
        # Newest article first (its date, not the event's: "latest" is about reporting).
        events.sort(key=lambda e: (retrieval.passages[e.sources[0][0]].chunk.date or "", e.score),
                    reverse=True)
        return self._write(question, retrieval, events[: self.max_sentences], on_text)


class TimelineGenerator(_Dated):
    """"How did X develop?": one dated, cited line per event, oldest first; near-duplicates
    (the same event in several outlets) merged into one line with every citation."""

    def __init__(self, abstain_threshold: float = 0.30, margin: float = 0.15, max_events: int = 10,
                 duplicate: float = 0.92, same_day_duplicate: float = 0.75, per_article: int = 2,
                 ratio: float = 0.0):
        super().__init__(abstain_threshold, margin, ratio)
        self.max_events = max_events
        self.duplicate = duplicate
        self.same_day_duplicate = same_day_duplicate
        self.per_article = per_article

    def generate(self, question: str, retrieval: Retrieval,
                 on_text: Callable[[str], None] | None = None) -> Answer:
        events = relevant_sentences(retrieval, self.abstain_threshold, self.margin, self.per_article,
                                    self.ratio)
        abstained = self._abstain(question, retrieval, events, on_text)
        if abstained:
            return abstained
        merged: list[Event] = []
        for event in events:  # best first: the best wording of an event leads its line
            twin = next((m for m in merged if self._same(m, event)), None)
            if twin is None:
                merged.append(event)
            elif all(retrieval.passages[i].chunk.article_id !=
                     retrieval.passages[event.sources[0][0]].chunk.article_id for i, _ in twin.sources):
                twin.sources.extend(event.sources)
                if event.date and (twin.date is None or event.date < twin.date):
                    twin.date = event.date  # first reported
        merged = merged[: self.max_events]
        merged.sort(key=lambda e: (e.date is None, e.date or "", -e.score))
        return self._write(question, retrieval, merged, on_text)

    def _same(self, a: Event, b: Event) -> bool:
        if a.vector is None or b.vector is None:
            return a.text == b.text
        # One event has one date: sentences dated differently are different events unless
        # nearly identical (hand-set thresholds; in-context vectors of related articles are close).
        similarity = float(np.dot(a.vector, b.vector))
        if a.date is not None and a.date == b.date:
            return similarity >= self.same_day_duplicate
        return similarity >= self.duplicate
