"""Split articles into sentence-aware chunks that remember where they came from.

A rule-based sentence splitter (abbreviation-aware, paragraph breaks are boundaries) gives
character spans; chunks pack whole sentences up to ``chunk_chars`` with ``overlap`` sentences
carried into the next chunk. Each chunk keeps its character offsets in the article. Left out:
language-specific segmentation models (none ships offline here).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .corpus import Article

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "gov", "sen", "rep", "col",
    "lt", "sgt", "capt", "cmdr", "rev", "hon", "pres", "vs", "etc", "inc", "ltd", "co", "corp",
    "no", "vol", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m", "approx", "dept", "est",
}
# A sentence ends at ., ! or ? (plus closing quotes/brackets) followed by white space.
_END_RE = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_NEXT_START_RE = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ]")


@dataclass(frozen=True)
class Chunk:
    id: str
    article_id: str
    index: int
    start: int  # character offsets of the chunk inside the article text
    end: int
    text: str  # the stored passage: article text[start:end]
    embed_text: str  # what is embedded: a title · source · date header, then the passage
    sentences: tuple[tuple[int, int], ...] = ()  # sentence spans inside text

    @property
    def text_hash(self) -> str:
        return hashlib.sha1(self.embed_text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in text (white space trimmed, none empty)."""
    spans: list[tuple[int, int]] = []
    for pstart, pend in _paragraphs(text):
        start = pstart
        for m in _END_RE.finditer(text, pstart, pend):
            end = m.end()
            if not _NEXT_START_RE.match(text, end, pend) and end < pend:
                continue
            word = re.search(r"(\S+)$", text[start:m.start() + 1])
            token = word.group(1).rstrip(".").lower().lstrip("\"'“‘([") if word else ""
            if m.group(0).startswith(".") and (token in _ABBREVIATIONS or re.fullmatch(r"[a-z]", token)):
                continue
            spans.append((start, end))
            start = end
        if start < pend:
            spans.append((start, pend))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[1] > s[0]]


def _paragraphs(text: str):
    start = 0
    for m in re.finditer(r"\n\s*", text):
        yield start, m.start()
        start = m.end()
    yield start, len(text)


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def chunk_header(title: str, source: str, date: str | None) -> str:
    """The short header embedded before each passage so outlet and date questions can match."""
    return " · ".join(p for p in (title, source, date) if p)


def split_article(article: Article, chunk_chars: int = 800, overlap: int = 1) -> list[Chunk]:
    """Chunks of whole sentences, each at most chunk_chars long (long sentences are cut)."""
    pieces: list[tuple[int, int]] = []
    for a, b in split_sentences(article.text):
        pieces.extend(_cut(article.text, a, b, chunk_chars))
    header = chunk_header(article.title, article.source, article.date)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(pieces):
        j = i
        while j + 1 < len(pieces) and pieces[j + 1][1] - pieces[i][0] <= chunk_chars:
            j += 1
        spans.append((pieces[i][0], pieces[j][1]))
        if j + 1 >= len(pieces):
            break
        # Carry `overlap` sentences over, but always advance and keep room for new text.
        nxt = max(i + 1, j + 1 - overlap)
        while nxt <= j and pieces[j][1] - pieces[nxt][0] > chunk_chars // 2:
            nxt += 1
        i = nxt
    chunks = []
    for n, (a, b) in enumerate(spans):
        passage = article.text[a:b]
        inside = tuple((x - a, y - a) for x, y in pieces if x >= a and y <= b)
        chunks.append(Chunk(
            id=f"{article.id}-{article.hash[:8]}-{n}",
            article_id=article.id,
            index=n,
            start=a,
            end=b,
            text=passage,
            embed_text=f"{header}\n{passage}",
            sentences=inside,
        ))
    return chunks


def _cut(text: str, a: int, b: int, limit: int) -> list[tuple[int, int]]:
    """Split a span longer than limit at white space."""
    out = []
    while b - a > limit:
        cut = text.rfind(" ", a + limit // 2, a + limit)
        cut = cut if cut > a else a + limit
        out.append(_trim(text, a, cut))
        a = cut
    a, b = _trim(text, a, b)
    if b > a:
        out.append((a, b))
    return out
