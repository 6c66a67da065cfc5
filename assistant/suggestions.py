"""Example questions drawn from the indexed articles (for the chat page).

Two sources, in this order:
1. curated questions for known articles (the seed article's "what did the Speakers discuss
   about AI legislation?"), matched by the start of the article title;
2. one question per article built from its title and outlet, newest articles first and one
   outlet at a time, so the examples spread over the archive.

Input is ``Index.article_records()`` ({id: {title, source, date, path, ...}}); nothing here
touches the index or the model.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

SEED_QUESTION = "what did the Speakers discuss about AI legislation?"

# Title prefix of a known article -> questions it answers well.
CURATED: dict[str, tuple[str, ...]] = {
    "Welcoming the Tajik parliamentary delegation, Majilis Speaker Koshanov": (SEED_QUESTION,),
}

MAX_TOPIC_CHARS = 80


def _topic(title: str) -> str:
    """The title as a short topic: one line, no trailing punctuation, at most ~80 chars."""
    text = re.sub(r"\s+", " ", title or "").strip().strip("\"'“”‘’").rstrip(" .!?:;,")
    if len(text) > MAX_TOPIC_CHARS:
        cut = text[:MAX_TOPIC_CHARS].rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:-–—") + "…"
    return text


def _outlet(record: dict) -> str | None:
    """The outlet's name, unless it is only the file name (the loader's fallback) or unknown."""
    source = re.sub(r"\s+", " ", str(record.get("source") or "")).strip()
    path = str(record.get("path") or "").split("#", 1)[0]
    if not source or source.lower() == "unknown" or source == PurePosixPath(path).stem:
        return None
    return source


def question_for(record: dict) -> str | None:
    """One question about an article, from its title and outlet (None without a title)."""
    topic = _topic(str(record.get("title") or ""))
    if len(topic) < 8:
        return None
    outlet = _outlet(record)
    if outlet:
        return f"What did {outlet} report about “{topic}”?"
    return f"What do the articles say about “{topic}”?"


def example_questions(records: dict[str, dict], n: int = 6) -> list[str]:
    """Up to n example questions for the indexed articles (curated ones first)."""
    out: list[str] = []

    def add(question: str | None) -> None:
        if question and question not in out and len(out) < n:
            out.append(question)

    items = sorted(records.values(), key=lambda r: (str(r.get("date") or ""), str(r.get("title") or "")),
                   reverse=True)
    for record in items:
        title = str(record.get("title") or "")
        for prefix, questions in CURATED.items():
            if title.startswith(prefix):
                for q in questions:
                    add(q)
    # Round-robin over outlets, newest article of each outlet first.
    by_outlet: dict[str, list[dict]] = {}
    for record in items:
        if any(str(record.get("title") or "").startswith(p) for p in CURATED):
            continue
        by_outlet.setdefault(_outlet(record) or "", []).append(record)
    queues = list(by_outlet.values())
    while len(out) < n and any(queues):
        for queue in queues:
            if queue:
                add(question_for(queue.pop(0)))
    return out
