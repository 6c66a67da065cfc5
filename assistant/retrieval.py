"""Find the passages that answer a question: hybrid search, question analysis, rescoring.

The pipeline for one question:
1. analyse the question: outlets it names (from the index's own outlet list) and dates
   ("on 2023-11-24", "in November 2023", "before/after October 5");
2. dense search (Chroma, cosine) and BM25 each return ``candidates`` chunks;
3. reciprocal-rank fusion: score = sum of weight / (rrf_k + rank) (Cormack, Clarke &
   Buettcher 2009; they use rrf_k = 60, the eval chose 20 with BM25 weighted 2:1, see
   config.py): it damps the influence of any single ranker's top;
4. sentence-level rescoring: every sentence of the best fused candidates is embedded (one
   batch) and compared with the question vector (computed once); a passage's rescore is its
   best sentence's cosine similarity;
5. boosts for passages from named outlets and inside named dates, a per-article cap for
   diversity, and at least one passage from every outlet a comparison question names.
Hard filters (dates, outlets) from the UI or API apply to both retrievers.
Left out: cross-encoder reranking (no packaged model exists offline).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import timeframe
from .config import Settings
from .lexical import tokenize
from .questions import QuestionAnalysis, analyze
from .search import Searcher
from .store import StoredChunk
from .timeframe import Reference, TimeFrame


@dataclass
class Filters:
    """Hard filters applied to retrieval (None means no filter)."""

    date_from: str | None = None
    date_to: str | None = None
    outlets: list[str] | None = None

    @classmethod
    def parse(cls, date_from: str | None = None, date_to: str | None = None,
              outlets: list[str] | None = None, *, reference: dt.date | None = None) -> "Filters":
        """Filters from user input: YYYY-MM-DD or words ("last week", "yesterday", "March",
        "Q3 2023") resolved against reference (default today); ConfigError names a date it
        cannot read."""
        from .errors import ConfigError

        ref = reference or dt.date.today()
        dates = [timeframe.parse_bound(date_from, ref, end=False, label="from"),
                 timeframe.parse_bound(date_to, ref, end=True, label="to")]
        if dates[0] and dates[1] and dates[0] > dates[1]:
            raise ConfigError(f"the date range is empty: {dates[0]} is after {dates[1]}")
        outlets = [o for o in (outlets or []) if o] or None
        return cls(dates[0], dates[1], outlets)

    def where(self) -> dict | None:
        clauses = []
        if self.date_from:
            clauses.append({"day": {"$gte": int(self.date_from.replace("-", ""))}})
        if self.date_to:
            clauses.append({"day": {"$lte": int(self.date_to.replace("-", ""))}})
        if self.outlets:
            clauses.append({"source": {"$in": list(self.outlets)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def admits(self, chunk: StoredChunk) -> bool:
        if self.outlets and chunk.source not in self.outlets:
            return False
        if (self.date_from or self.date_to) and not chunk.date:
            return False
        if self.date_from and chunk.date < self.date_from:
            return False
        if self.date_to and chunk.date > self.date_to:
            return False
        return True


@dataclass
class QueryAnalysis:
    outlets: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None
    timeframe: TimeFrame | None = None  # the time the question is about (timeframe.py)


@dataclass
class Sentence:
    start: int  # offsets inside the passage
    end: int
    score: float  # cosine similarity to the question
    vector: np.ndarray | None = None


@dataclass
class Passage:
    chunk: StoredChunk
    score: float
    sentences: list[Sentence] = field(default_factory=list)
    # Other outlets' copies of the same story ({title, source, date, url}; syndication.py).
    also_in: list[dict] = field(default_factory=list)
    # When a corrected version of the article replaced an earlier one (its index record).
    updated: str | None = None

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def best_sentence(self) -> float:
        return max((s.score for s in self.sentences), default=0.0)


@dataclass
class Retrieval:
    question: str
    passages: list[Passage]
    analysis: QueryAnalysis
    question_vector: np.ndarray
    # What the question asks for (questions.analyze) and the IDF of its focus terms.
    asks: "QuestionAnalysis | None" = None
    term_weights: dict[str, float] = field(default_factory=dict)
    reference: Reference | None = None  # what relative dates were resolved against


# Question analyses run here, beside the question's encode (threads are made on demand).
_ANALYSIS_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="question-analysis")


def analyze_question(question: str, outlets: list[str], today: dt.date | None = None) -> QueryAnalysis:
    """Outlets (only those of the index's own outlet list) and dates named in the question."""
    result = QueryAnalysis()
    lowered = question.lower()
    for outlet in outlets:
        names = {outlet, re.split(r"\s+[-|]\s+", outlet)[0]}
        for name in names:
            bare = re.sub(r"^the\s+", "", name.strip(), flags=re.IGNORECASE).lower()
            if len(bare) >= 3 and re.search(r"(?<!\w)" + re.escape(bare) + r"(?!\w)", lowered):
                result.outlets.append(outlet)
                break
    frame = timeframe.find_timeframe(question, today or dt.date.today())
    if frame is not None:
        result.timeframe = frame
        result.date_from, result.date_to = frame.date_from, frame.date_to
    return result


def rrf(rankings: list[list[str]], weights: list[float] | None = None, k: int = 60) -> dict[str, float]:
    """Reciprocal-rank fusion: sum over rankings of weight / (k + rank), rank from 1."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


class Retriever:
    """Hybrid retrieval over a store's snapshots (configuration in Settings, per-call overrides)."""

    def __init__(self, searcher: Searcher, embedder, settings: Settings):
        self.searcher = searcher
        self.embedder = embedder
        self.settings = settings

    def outlets(self) -> list[str]:
        return self.searcher.snapshot().outlets

    def reference(self, as_of: str | dt.date | None = None, snap=None) -> Reference:
        """The reference date: as_of, else the setting, else the newest article date."""
        if as_of or self.settings.as_of:
            return timeframe.reference_date(as_of or self.settings.as_of, None)
        snap = snap or self.searcher.snapshot()
        return timeframe.reference_date(None, snap.stats.last_date)

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None,
                 as_of: str | dt.date | None = None) -> Retrieval:
        s = self.settings
        k = k or s.k
        filters = filters or Filters()
        # The question's analysis (spaCy, ~10-40 ms) runs beside the encode and the searches
        # instead of after them: it is needed only once the passages are chosen.
        asking = _ANALYSIS_POOL.submit(analyze, question)
        # One consistent state of the index for this question, its rows kept until it is done.
        with self.searcher.reading() as snap:
            return self._retrieve(question, k, filters, as_of, snap, asking)

    def _retrieve(self, question: str, k: int, filters: Filters, as_of, snap, asking) -> Retrieval:
        s = self.settings
        reference = self.reference(as_of, snap)
        analysis = analyze_question(question, snap.outlets, reference.date)
        # Temporal words ("last week", "latest") restrict or order; the topic is what to match.
        frame, intent = analysis.timeframe, timeframe.temporal_intent(question)
        if frame or intent:
            filters = _temporal_filters(filters, frame, reference, intent)
        search_text = timeframe.strip_temporal(question) if (intent or (frame and (frame.hard or frame.recent))) else question
        qvec = self.embedder.embed_query(search_text)
        n_cand = max(s.candidates, 2 * k)
        dense = snap.dense(qvec, n_cand, where=filters.where())
        lexical = snap.lexical(search_text, n_cand * (3 if filters.where() else 1))
        fused = rrf([[i for i, _ in dense], [i for i, _ in lexical]],
                    [s.dense_weight, s.bm25_weight], k=s.rrf_k)
        # Make sure each named outlet is represented among the candidates.
        for outlet in analysis.outlets:
            if filters.outlets and outlet not in filters.outlets:
                continue
            where = {"source": outlet} if not filters.where() else {"$and": [filters.where(), {"source": outlet}]}
            hits = snap.dense(qvec, s.outlet_candidates, where=where)
            for rank, (cid, _) in enumerate(hits, start=1):
                fused[cid] = fused.get(cid, 0.0) + s.dense_weight / (s.rrf_k + rank)
        top = sorted(fused, key=fused.get, reverse=True)[: n_cand]
        chunks = snap.fetch(top)
        candidates = [c for c in (chunks.get(i) for i in top) if c is not None and filters.admits(c)]
        if reference.source == "as_of":
            # A chosen reference date is "now": articles published after it do not exist yet
            # for this question (undated ones stay: nothing says they are later).
            now = reference.date.isoformat()
            candidates = [c for c in candidates if not c.date or c.date <= now]
        # Rescore the best fused candidates at sentence level (one embedding batch).
        pool = candidates[: max(2 * k, 20)]
        max_fused = max((fused[c.id] for c in pool), default=1.0)
        passages = [Passage(c, fused[c.id] / max_fused) for c in pool]
        self._score_sentences(passages, qvec)
        coverage = snap.coverage(search_text, [p.chunk for p in passages])
        for p in passages:
            p.score += s.rescore_weight * p.best_sentence + s.coverage_weight * coverage[p.chunk.id]
            if p.chunk.source in analysis.outlets:
                p.score += s.outlet_boost
            if (analysis.date_from or analysis.date_to) and \
                    timeframe.within(p.chunk.date, analysis.date_from, analysis.date_to):
                p.score += s.date_boost
        if analysis.date_from or analysis.date_to:
            _boost_event_dates(passages, analysis, s.date_boost, s.abstain_threshold)
        if frame and frame.recent:
            _boost_recency(passages, reference.date, s.recency_boost, s.recency_half_life_days)
        passages.sort(key=lambda p: p.score, reverse=True)
        # One copy per story: passages of other outlets' copies of a chosen article's story
        # are dropped (the citation lists those copies in also_in instead).
        groups = snap.stories
        chosen = _cap_per_article(passages, s.per_article_cap, k, groups.story_of)
        chosen = _cover_outlets(chosen, passages, analysis.outlets, k)
        for p in chosen:
            # Only copies this snapshot holds: groups are written before a build commits
            # and may name articles removed since or not yet committed.
            p.also_in = [m.to_dict() for m in groups.others(p.chunk.article_id) if m.id in snap.records]
            p.updated = (snap.records.get(p.chunk.article_id) or {}).get("updated") or None
        asks = asking.result()
        weights = snap.idf(list(dict.fromkeys([*asks.focus, *tokenize(" ".join(asks.proper))])))
        return Retrieval(question, chosen, analysis, qvec, asks, weights, reference)

    def _score_sentences(self, passages: list[Passage], qvec: np.ndarray) -> None:
        # Sentence vectors were computed at index time in the chunk's own forward pass, so
        # rescoring is one small matrix product per passage: no encoding per query.
        for p in passages:
            vectors = p.chunk.sentence_vectors
            if vectors is None or not len(p.chunk.sentences):
                continue
            scores = vectors @ qvec
            p.sentences = [Sentence(a, b, float(sc), v) for (a, b), sc, v in
                           zip(p.chunk.sentences, scores, vectors)]


def _temporal_filters(filters: Filters, frame: TimeFrame | None, reference: Reference,
                      intent: str | None) -> Filters:
    """A question's hard window ("last week") narrows the filters; any relative or recency
    question sees nothing after the reference date (it is "now")."""
    lo, hi = filters.date_from, filters.date_to
    if frame is not None and frame.hard:
        if frame.date_from and (lo is None or frame.date_from > lo):
            lo = frame.date_from
        if frame.date_to and (hi is None or frame.date_to < hi):
            hi = frame.date_to
    if intent or (frame is not None and (frame.relative or frame.recent)):
        now = reference.date.isoformat()
        hi = now if hi is None or hi > now else hi
    return Filters(lo, hi, filters.outlets)


def _boost_event_dates(passages: list[Passage], analysis: QueryAnalysis, boost: float,
                       floor: float) -> None:
    """A sentence whose event date ("on Tuesday", resolved against the article's date) falls
    in the question's dates makes its passage match them, and ranks that sentence first."""
    lo, hi = analysis.date_from, analysis.date_to
    for p in passages:
        dates = timeframe.sentence_event_dates(p.chunk)
        hits = [sent for sent, day in zip(p.sentences, dates) if timeframe.within(day, lo, hi)]
        if not hits:
            continue
        if not timeframe.within(p.chunk.date, lo, hi):
            p.score += boost
        top = max((sent.score for sent in p.sentences), default=0.0)
        for sent in hits:
            sent.score = max(sent.score, top, floor) + 0.05


def _boost_recency(passages: list[Passage], now: dt.date, boost: float, half_life: float) -> None:
    """"recently": newer passages gain up to boost, halving every half_life days before now."""
    for p in passages:
        if not p.chunk.date:
            continue
        try:
            age = (now - dt.date.fromisoformat(p.chunk.date)).days
        except ValueError:
            continue
        p.score += boost * math.pow(0.5, max(age, 0) / half_life)


def _cap_per_article(passages: list[Passage], cap: int, k: int, story_of=None) -> list[Passage]:
    """At most ``cap`` passages per article, and per story (``story_of``: article id ->
    story id) only from its best-ranked copy."""
    out, per, copy = [], {}, {}
    for p in passages:
        story = story_of(p.chunk.article_id) if story_of else p.chunk.article_id
        if copy.setdefault(story, p.chunk.article_id) != p.chunk.article_id:
            continue  # another outlet's copy of a story already chosen
        if per.get(p.chunk.article_id, 0) >= cap:
            continue
        per[p.chunk.article_id] = per.get(p.chunk.article_id, 0) + 1
        out.append(p)
        if len(out) == k:
            break
    return out


def _cover_outlets(chosen: list[Passage], pool: list[Passage], outlets: list[str], k: int) -> list[Passage]:
    if len(outlets) < 2:
        return chosen
    for outlet in outlets:
        if any(p.chunk.source == outlet for p in chosen):
            continue
        extra = next((p for p in pool if p.chunk.source == outlet and p not in chosen), None)
        if extra is None:
            continue
        if len(chosen) >= k:
            # Replace the weakest passage whose outlet is not needed for coverage.
            counts: dict[str, int] = {}
            for p in chosen:
                counts[p.chunk.source] = counts.get(p.chunk.source, 0) + 1
            for i in range(len(chosen) - 1, -1, -1):
                src = chosen[i].chunk.source
                if src not in outlets or counts[src] > 1:
                    chosen.pop(i)
                    break
        chosen.append(extra)
    return chosen
