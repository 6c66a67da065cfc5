"""Answers with citations: the Answer structure, question checks, follow-up condensation,
and the extractive answer generator (no LLM: every sentence is quoted from a passage).

The extractive generator ranks the sentences of the retrieved passages by cosine similarity
to the question (vectors computed once during retrieval), keeps the best few that are not
near-duplicates of each other, and writes them with a citation marker after every sentence.
When even the best sentence is below the abstention threshold it says the articles do not
cover the question and lists the closest passages. Nothing in an extractive answer is
invented. Left out: sentence fusion or paraphrase (that is what LLM generators are for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from .conversation import check_question, condense_question, user_turns  # noqa: F401 (re-exported)
from .retrieval import Passage, Retrieval

NOT_COVERED = "The articles do not cover this question."


@dataclass
class Citation:
    n: int
    title: str
    source: str
    date: str | None
    url: str | None
    passage: str
    span: tuple[int, int]  # the cited sentence's offsets inside passage
    article_id: str = ""
    chunk_id: str = ""
    spans: list = field(default_factory=list)  # every quoted span (the first is span)
    event_date: str | None = None  # the cited sentence's own date ("on Tuesday"), if it differs
    also_in: list[dict] = field(default_factory=list)  # other outlets' copies of the story
    updated: str | None = None  # when a corrected version replaced an earlier one

    @classmethod
    def from_passage(cls, n: int, passage: Passage, span: tuple[int, int] | None = None) -> "Citation":
        c = passage.chunk
        if span is None:
            best = max(passage.sentences, key=lambda s: s.score, default=None)
            span = (best.start, best.end) if best else (0, min(len(c.text), 200))
        event = _event_date(c, span)
        return cls(n, c.title, c.source, c.date, c.url, c.text, span, c.article_id, c.id,
                   event_date=event if event != c.date else None,
                   also_in=list(getattr(passage, "also_in", []) or []),
                   updated=getattr(passage, "updated", None))

    def to_dict(self) -> dict:
        return {"n": self.n, "title": self.title, "source": self.source, "date": self.date,
                "url": self.url, "passage": self.passage, "span": list(self.span),
                "spans": [list(s) for s in (self.spans or [self.span])],
                "event_date": self.event_date, "also_in": [dict(m) for m in self.also_in],
                "updated": self.updated}

    @property
    def dated(self) -> str:
        """"2025-08-27", "2025-08-27 (event 2025-08-26)" when the sentence says another day,
        and ", updated 2025-08-29" when a correction replaced the article's first version."""
        day = self.date or "undated"
        day = f"{day} (event {self.event_date})" if self.event_date else day
        return f"{day}, updated {self.updated}" if self.updated else day


def _event_date(chunk, span: tuple[int, int]) -> str | None:
    from .timeframe import sentence_event_dates

    for (a, b), day in zip(chunk.sentences, sentence_event_dates(chunk)):
        if day and a <= span[0] < b:
            return day
    return None


@dataclass
class DirectAnswer:
    """The typed answer the extractive answer leads with: its text, the citation number of
    the passage it was taken from and its offsets inside that citation's passage."""

    text: str
    n: int
    span: tuple[int, int]

    def to_dict(self) -> dict:
        return {"text": self.text, "n": self.n, "span": list(self.span)}


@dataclass
class AnswerSentence:
    text: str
    citations: list[int]
    supported: bool = True  # passed the citation check (always true for extractive answers)

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": self.citations, "supported": self.supported}


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    sentences: list[AnswerSentence] = field(default_factory=list)
    passages: list[Citation] = field(default_factory=list)  # everything retrieved, numbered apart
    searched_for: str = ""
    generator: str = "extractive"
    fallback: bool = False
    fallback_reason: str = ""
    direct_answer: DirectAnswer | None = None
    note: str = ""  # a caveat shown with the answer (e.g. the question is not in English)
    as_of: str | None = None  # the reference date, when the question needed one
    time_note: str = ""  # "as of 2025-08-27, the newest article: last week = ..."

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "searched_for": self.searched_for,
            "generator": self.generator,
            "fallback": self.fallback,
            "fallback_reason": self.fallback_reason,
            "as_of": self.as_of,
            "time_note": self.time_note,
            "sentences": [s.to_dict() for s in self.sentences],
            "passages": [c.to_dict() for c in self.passages],
            "direct_answer": self.direct_answer.to_dict() if self.direct_answer else None,
            "note": self.note,
        }

    def __str__(self) -> str:
        lines = ([f"({self.time_note})"] if self.time_note else []) + [self.answer, ""]
        if self.citations:
            lines.append("Sources:")
            for c in self.citations:
                lines.append(f"[{c.n}] {c.title} — {c.source}, {c.dated}"
                             + (f" <{c.url}>" if c.url else ""))
                lines.append(f"    “{c.passage[c.span[0]:c.span[1]]}”")
        elif self.passages:
            lines.append("Closest passages:")
            for c in self.passages[:3]:
                lines.append(f"- {c.title} — {c.source}, {c.date or 'undated'}")
        return "\n".join(lines).rstrip()


class Generator(Protocol):
    """The answer-generation seam: retrieved passages in, a cited Answer out."""

    name: str

    def generate(self, question: str, retrieval: Retrieval,
                 on_text: Callable[[str], None] | None = None) -> Answer: ...


class ExtractiveGenerator:
    """Quote the sentences that answer the question, each with its citation, led by the
    typed answer itself when one is found (``**€412 million** [1]``).

    Sentences are ranked by ``candidates.weigh_evidence`` (similarity to the question, share
    of its focus terms, an entity of the expected answer type near them, retrieval rank); the
    best typed candidate becomes the direct answer. Near-identical sentences (overlapping
    chunks, wire copies) are quoted once, and the sentences of one article share one citation
    number and one source card.
    """

    name = "extractive"

    def __init__(self, max_sentences: int = 3, abstain_threshold: float = 0.30,
                 redundancy: float = 0.85, relative_floor: float = 0.8,
                 weights: "Weights | None" = None):
        from .candidates import Weights

        self.max_sentences = max_sentences
        self.abstain_threshold = abstain_threshold
        self.redundancy = redundancy
        self.relative_floor = relative_floor
        self.weights = weights or Weights()

    def generate(self, question: str, retrieval: Retrieval,
                 on_text: Callable[[str], None] | None = None) -> Answer:
        from .candidates import weigh_evidence
        from .questions import analyze

        passages = retrieval.passages
        asks = retrieval.asks or analyze(retrieval.question)
        note = "" if asks.english else LANGUAGE_NOTE
        analysis = retrieval.analysis
        window = ((analysis.date_from, analysis.date_to)
                  if analysis is not None and (analysis.date_from or analysis.date_to) else None)
        evidence = weigh_evidence(asks, passages, retrieval.term_weights, self.weights, window=window)
        best_sim = max((s.sim for s in evidence.sentences), default=0.0)
        reason = abstain_reason(retrieval, best_sim, self.abstain_threshold, evidence, self.weights)
        if reason is not None:
            text = (note + " " + reason).strip()
            answer = Answer(question, text, True, [], passages=_numbered(passages), note=note)
            if on_text:
                on_text(answer.answer)
            return answer
        direct = evidence.candidates[0] if evidence.candidates and asks.answer_types else None
        chosen = []
        if direct is not None:
            lead = next(s for s in evidence.sentences
                        if s.passage == direct.passage and s.start <= direct.start < s.end)
            chosen.append(lead)
        top = evidence.sentences[0].score if evidence.sentences else 0.0
        for sent in evidence.sentences:
            if len(chosen) >= self.max_sentences:
                break
            if sent in chosen:
                continue
            if chosen and sent.score < top * self.relative_floor:
                break
            if any(_same_sentence(sent, other) for other in chosen):
                continue
            chosen.append(sent)
        citations, spans = _cite_by_article(passages, [(s.passage, s.start, s.end) for s in chosen]
                                            + ([(direct.passage, direct.start, direct.end)] if direct else []))
        sentences: list[AnswerSentence] = []
        parts = []
        if note:
            parts.append(note)
        direct_answer = None
        if direct is not None:
            n, (a, b) = spans[-1]
            direct_answer = DirectAnswer(direct.text, n, (a, b))
            parts.append(f"**{direct.text}** [{n}]")
            if on_text:
                on_text(parts[-1] + " ")
        for sent, (n, _) in zip(chosen, spans):
            text = sent.text.strip()
            sentences.append(AnswerSentence(text, [n]))
            parts.append(f"{text} [{n}]")
            if on_text:
                on_text(parts[-1] + " ")
        return Answer(question, " ".join(parts), False, citations, sentences,
                      passages=_numbered(passages), direct_answer=direct_answer, note=note)


LANGUAGE_NOTE = ("The archive is searched in English and this question does not look English; "
                 "results may be poor.")


def _same_sentence(a, b) -> bool:
    """Near-identical sentences: the same words (overlapping chunks, copies of a story)."""
    wa = set(re.findall(r"\w+", a.text.lower()))
    wb = set(re.findall(r"\w+", b.text.lower()))
    if not wa or not wb:
        return False
    return len(wa & wb) / len(wa | wb) >= 0.8


def _cite_by_article(passages: list[Passage], quoted: list[tuple[int, int, int]]
                     ) -> tuple[list[Citation], list[tuple[int, tuple[int, int]]]]:
    """One citation per article: the article's quoted passages merged into one passage (by
    their offsets in the article); returns the citations and, for each quoted span, its
    citation number and its offsets inside that citation's passage."""
    order: list[str] = []
    by_article: dict[str, list[int]] = {}
    for i, _, _ in quoted:
        aid = passages[i].chunk.article_id
        if aid not in by_article:
            order.append(aid)
            by_article[aid] = []
        if i not in by_article[aid]:
            by_article[aid].append(i)
    citations: list[Citation] = []
    where: dict[int, tuple[int, int]] = {}  # passage index -> (citation n, shift into merged text)
    for n, aid in enumerate(order, start=1):
        members = sorted(by_article[aid], key=lambda i: passages[i].chunk.start)
        text, pos_end = "", None
        for i in members:
            chunk = passages[i].chunk
            if pos_end is None:
                where[i] = (n, 0)
                text, pos_end = chunk.text, chunk.end
            elif chunk.start <= pos_end:  # overlapping or adjacent: continue the article text
                overlap = pos_end - chunk.start
                where[i] = (n, len(text) - overlap)
                text += chunk.text[overlap:]
                pos_end = max(pos_end, chunk.end)
            else:  # a gap in the article
                text += " … "
                where[i] = (n, len(text))
                text += chunk.text
                pos_end = chunk.end
        first = members[0]
        c = Citation.from_passage(n, passages[first])
        c.passage = text
        citations.append(c)
    spans = []
    for i, a, b in quoted:
        n, shift = where[i]
        spans.append((n, (a + shift, b + shift)))
    for c in citations:
        own = [span for n, span in spans if n == c.n]
        c.span = own[0]
        c.spans = own
    return citations, spans


def abstain_reason(retrieval: Retrieval, best_sentence: float, threshold: float,
                   evidence=None, weights=None) -> str | None:
    """Why the articles cannot answer, or None when they may.

    From the evidence only (thresholds chosen on the dev split of the project's question set):
    no retrieved sentence is similar enough to the question; or no sentence, read with its
    article, holds enough of the question's focus terms (what it is about: "Grenfell Tower",
    "death toll"); or, for a question that expects a typed answer (a number, a date, a
    person), no answer of that type stands in a sentence about its focus. An outlet named in
    the question that the archive does not hold never declines by itself.
    """
    closest = " The closest passages are listed below." if retrieval.passages else ""
    if not retrieval.passages or best_sentence < threshold:
        return NOT_COVERED + closest
    if evidence is not None and weights is not None:
        if evidence.support < weights.abstain_support or evidence.names < weights.abstain_names:
            return NOT_COVERED + closest
        asks = retrieval.asks
        if asks is not None and asks.typed and evidence.typed_support < weights.abstain_typed_focus:
            return NOT_COVERED + closest
    return None


def _numbered(passages: list[Passage]) -> list[Citation]:
    return [Citation.from_passage(n, p) for n, p in enumerate(passages, start=1)]
