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
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from .errors import QuestionError
from .retrieval import Passage, Retrieval

NOT_COVERED = "The articles do not cover this question."
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


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

    @classmethod
    def from_passage(cls, n: int, passage: Passage, span: tuple[int, int] | None = None) -> "Citation":
        c = passage.chunk
        if span is None:
            best = max(passage.sentences, key=lambda s: s.score, default=None)
            span = (best.start, best.end) if best else (0, min(len(c.text), 200))
        return cls(n, c.title, c.source, c.date, c.url, c.text, span, c.article_id, c.id)

    def to_dict(self) -> dict:
        return {"n": self.n, "title": self.title, "source": self.source, "date": self.date,
                "url": self.url, "passage": self.passage, "span": list(self.span)}


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
            "sentences": [s.to_dict() for s in self.sentences],
            "passages": [c.to_dict() for c in self.passages],
        }

    def __str__(self) -> str:
        lines = [self.answer, ""]
        if self.citations:
            lines.append("Sources:")
            for c in self.citations:
                lines.append(f"[{c.n}] {c.title} — {c.source}, {c.date or 'undated'}"
                             + (f" <{c.url}>" if c.url else ""))
                lines.append(f"    “{c.passage[c.span[0]:c.span[1]]}”")
        elif self.passages:
            lines.append("Closest passages:")
            for c in self.passages[:3]:
                lines.append(f"- {c.title} — {c.source}, {c.date or 'undated'}")
        return "\n".join(lines).rstrip()


def check_question(question: object, max_chars: int) -> str:
    """The question cleaned of control characters; QuestionError when it cannot be asked."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    cleaned = _CONTROL_RE.sub(" ", unicodedata.normalize("NFC", question)).strip()
    if not cleaned:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(cleaned) > max_chars:
        raise QuestionError(
            f"the question is {len(cleaned):,} characters long; the limit is {max_chars:,} "
            "(ask about one thing at a time)"
        )
    if not re.search(r"\w", cleaned):
        raise QuestionError("the question has no words in it, only punctuation or symbols")
    return re.sub(r"\s+", " ", cleaned)


History = Sequence  # [(user, assistant), ...] or [{"role": ..., "content": ...}, ...]


def user_turns(history: History | None) -> list[str]:
    """The user's earlier questions, oldest first, from either history shape."""
    turns: list[str] = []
    for item in history or []:
        if isinstance(item, dict):
            if item.get("role") == "user" and isinstance(item.get("content"), str):
                turns.append(item["content"])
        elif isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            turns.append(item[0])
    return [t for t in turns if t.strip()]


_FOLLOW_UP_RE = re.compile(r"^(?:and|but|also|so)?\s*(?:what|how)\s+about\s+(.+?)[\s?.!]*$", re.IGNORECASE)
_LEADING_AND_RE = re.compile(r"^(?:and|but|also|so)\s+", re.IGNORECASE)
_PRONOUN_RE = re.compile(r"\b(they|them|their|it|its|he|she|his|her|this|that|these|those|there)\b",
                         re.IGNORECASE)


def condense_question(question: str, history: History | None) -> str:
    """A standalone question from a follow-up and the chat history (rule-based).

    "and what about teachers?" after "what did the Speakers discuss about AI legislation?"
    becomes "what did the Speakers discuss about teachers?".
    """
    previous = user_turns(history)
    if not previous:
        return question
    base = previous[0]
    for turn in previous[1:]:
        base = condense_question(turn, [(base, "")])
    base = base.strip().rstrip("?.! ")
    m = _FOLLOW_UP_RE.match(question.strip())
    if m:
        topic = m.group(1)
        about = list(re.finditer(r"\b(about|on|regarding|of)\b", base, re.IGNORECASE))
        if about:
            return f"{base[:about[-1].end()]} {topic}?"
        return f"{base}: {topic}?"
    starts_with_and = bool(_LEADING_AND_RE.match(question))
    words = re.findall(r"\w+", question)
    if starts_with_and or (len(words) <= 8 and _PRONOUN_RE.search(question)):
        return f"{_LEADING_AND_RE.sub('', question).rstrip()} ({base})"
    return question


class Generator(Protocol):
    """The answer-generation seam: retrieved passages in, a cited Answer out."""

    name: str

    def generate(self, question: str, retrieval: Retrieval,
                 on_text: Callable[[str], None] | None = None) -> Answer: ...


class ExtractiveGenerator:
    """Quote the best sentences of the retrieved passages, each with its citation."""

    name = "extractive"

    def __init__(self, max_sentences: int = 3, abstain_threshold: float = 0.30,
                 redundancy: float = 0.85, relative_floor: float = 0.8):
        self.max_sentences = max_sentences
        self.abstain_threshold = abstain_threshold
        self.redundancy = redundancy
        self.relative_floor = relative_floor

    def generate(self, question: str, retrieval: Retrieval,
                 on_text: Callable[[str], None] | None = None) -> Answer:
        passages = retrieval.passages
        candidates = [(s.score, i, s) for i, p in enumerate(passages) for s in p.sentences
                      if s.end - s.start >= 20]
        candidates.sort(key=lambda t: (-t[0], t[1], t[2].start))
        best = candidates[0][0] if candidates else 0.0
        reason = abstain_reason(retrieval, best, self.abstain_threshold)
        if reason is not None:
            answer = Answer(question, reason, True, [], passages=_numbered(passages))
            if on_text:
                on_text(answer.answer)
            return answer
        chosen = []
        # Lead with the best sentence of the highest-ranked passage that has one above the
        # threshold: retrieval's order weighs
        # outlets, dates and how much of the question a passage covers, which a sentence's
        # similarity alone does not.
        lead = min((c for c in candidates if c[0] >= self.abstain_threshold),
                   key=lambda c: (c[1], -c[0]), default=None)
        if lead is not None:
            chosen.append(lead)
        for score, i, sent in candidates:
            if lead is not None and sent is lead[2]:
                continue
            if len(chosen) == self.max_sentences or score < best * self.relative_floor:
                break
            if sent.vector is not None and any(
                float(np.dot(sent.vector, other.vector)) >= self.redundancy for _, _, other in chosen
            ):
                continue
            chosen.append((score, i, sent))
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        sentences: list[AnswerSentence] = []
        parts = []
        for _, i, sent in chosen:
            if i not in numbers:
                numbers[i] = len(numbers) + 1
                citations.append(Citation.from_passage(numbers[i], passages[i], (sent.start, sent.end)))
            text = passages[i].text[sent.start:sent.end].strip()
            sentences.append(AnswerSentence(text, [numbers[i]]))
            part = f"{text} [{numbers[i]}]"
            parts.append(part)
            if on_text:
                on_text(part + " ")
        return Answer(question, " ".join(parts), False, citations, sentences,
                      passages=_numbered(passages))


def abstain_reason(retrieval: Retrieval, best_sentence: float, threshold: float) -> str | None:
    """Why the articles cannot answer, or None when they may.

    Two signals, both calibrated on the benchmark's unanswerable questions: the question
    presents an outlet as its source that the archive does not hold ("a Bloomberg article"),
    or no retrieved sentence is similar enough to the question.
    """
    unknown = retrieval.analysis.unknown_outlets
    closest = " The closest passages are listed below." if retrieval.passages else ""
    if unknown:
        names = ", ".join(unknown[:-1]) + (" or " if len(unknown) > 1 else "") + unknown[-1]
        return f"{NOT_COVERED} The archive holds no articles from {names}.{closest}"
    if best_sentence < threshold:
        return NOT_COVERED + closest
    return None


def _numbered(passages: list[Passage]) -> list[Citation]:
    return [Citation.from_passage(n, p) for n, p in enumerate(passages, start=1)]
