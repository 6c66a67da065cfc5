"""BM25 over chunks: built at index time, updated incrementally, persisted beside the index.

Okapi BM25 with k1=1.2, b=0.75 (Robertson & Zaragoza 2009) over lower-cased, Snowball-stemmed
word tokens without English stop words; questions also get common news acronyms expanded. The index stores each chunk's term counts; ``sync`` brings it
up to date with the chunk store by adding and dropping chunks by id, so neither indexing
nor a query ever rebuilds it from scratch. Scoring uses a term-major sparse matrix that is
rebuilt lazily after a change. Left out: phrase queries and synonyms beyond the acronyms.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

K1 = 1.2
B = 0.75
_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves s t also said says say""".split()
)


# Query-side expansion of acronyms common in news, so "AI" also finds "artificial intelligence".
EXPANSIONS = {
    "ai": "artificial intelligence", "eu": "european union", "un": "united nations",
    "uk": "united kingdom", "ev": "electric vehicle", "ceo": "chief executive",
    "gdp": "gross domestic product", "nfl": "national football league",
}
_STEMS: dict[str, str] = {}


def _stem(word: str) -> str:
    stem = _STEMS.get(word)
    if stem is None:
        stem = _STEMS[word] = _stemmer().stemWord(word)
    return stem


@functools.cache
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-cased, Snowball-stemmed word tokens without stop words ("Speakers" -> "speaker")."""
    return [_stem(t) for t in _TOKEN_RE.findall(text.lower()) if t not in STOP_WORDS]


def term_alternatives(term: str) -> list[set[str]]:
    """Other ways an article may hold a (tokenized) question term: an acronym's expansion,
    as a set of tokens that must all be present ("ai" -> {"artifici", "intellig"})."""
    expansion = EXPANSIONS.get(term)
    return [set(tokenize(expansion))] if expansion else []


def query_terms(text: str) -> list[str]:
    """The tokens of a question, with news acronyms expanded."""
    words = _TOKEN_RE.findall(text.lower())
    expanded = " ".join([text] + [EXPANSIONS[w] for w in words if w in EXPANSIONS])
    return tokenize(expanded)


class LexicalIndex:
    """BM25 over a set of chunks identified by id."""

    VERSION = 2  # 2: stemmed tokens

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.docs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # id -> (term ids, counts)
        self.generation: object = None  # the chunk store's generation this reflects
        self._matrix = None
        self._articles: dict[str, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.docs)

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        """Add (chunk id, text) pairs; an id already present is replaced."""
        for chunk_id, text in items:
            counts = Counter(tokenize(text))
            ids = np.fromiter((self.vocab.setdefault(t, len(self.vocab)) for t in counts),
                              dtype=np.int32, count=len(counts))
            self.docs[chunk_id] = (ids, np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
        self._matrix = self._articles = None

    def remove(self, chunk_ids: Iterable[str]) -> None:
        for chunk_id in chunk_ids:
            self.docs.pop(chunk_id, None)
        self._matrix = self._articles = None

    def sync(self, current_ids: Iterable[str], fetch_texts) -> tuple[int, int]:
        """Make the index hold exactly current_ids; fetch_texts(ids) -> texts for new ones."""
        current = set(current_ids)
        stale = [i for i in self.docs if i not in current]
        missing = [i for i in current if i not in self.docs]
        self.remove(stale)
        for start in range(0, len(missing), 2000):
            batch = missing[start:start + 2000]
            self.add(zip(batch, fetch_texts(batch)))
        return len(missing), len(stale)

    def _build(self):
        from scipy.sparse import csr_matrix

        ids = list(self.docs)
        n = len(ids)
        lengths = np.zeros(n, dtype=np.float32)
        rows, cols, vals = [], [], []
        for j, chunk_id in enumerate(ids):
            terms, counts = self.docs[chunk_id]
            rows.append(terms)
            cols.append(np.full(len(terms), j, dtype=np.int32))
            vals.append(counts)
            lengths[j] = counts.sum()
        if n:
            rows_a, cols_a, vals_a = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        else:
            rows_a = cols_a = np.zeros(0, dtype=np.int32)
            vals_a = np.zeros(0, dtype=np.float32)
        avg = float(lengths.mean()) if n else 1.0
        norm = K1 * (1 - B + B * lengths / max(avg, 1e-9))
        # Precompute the BM25 term weight of every (term, chunk) pair once per change, so a
        # query is a sum of a few sparse rows.
        weights = vals_a * (K1 + 1) / (vals_a + norm[cols_a]) if n else vals_a
        tf = csr_matrix((weights, (rows_a, cols_a)), shape=(len(self.vocab), n), dtype=np.float32)
        df = np.diff(tf.indptr).astype(np.float32)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        self._matrix = (ids, tf, idf)
        return self._matrix

    def search(self, query: str, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The k best (chunk id, BM25 score) pairs, best first; only ids in allowed if given."""
        ids, tf, idf = self._matrix or self._build()
        terms = [self.vocab[t] for t in set(query_terms(query)) if t in self.vocab]
        if not terms or not ids:
            return []
        scores = np.asarray(tf[terms].T @ idf[terms]).ravel()
        if allowed is not None:
            mask = np.fromiter((i in allowed for i in ids), dtype=bool, count=len(ids))
            scores = np.where(mask, scores, 0.0)
        nonzero = np.flatnonzero(scores > 0)
        if len(nonzero) > k:
            nonzero = nonzero[np.argpartition(-scores[nonzero], k)[:k]]
        order = nonzero[np.argsort(-scores[nonzero], kind="stable")]
        return [(ids[i], float(scores[i])) for i in order]

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each (already tokenized) term; a term no chunk
        holds gets the IDF of a term held by a single chunk (the rarest there is)."""
        ids, _, idf = self._matrix or self._build()
        n = len(ids)
        unseen = float(np.log(1 + (n - 1 + 0.5) / 1.5)) if n else 1.0
        return {t: float(idf[self.vocab[t]]) if t in self.vocab else unseen for t in terms}

    def coverage(self, query: str, chunk_ids: Iterable[str]) -> dict[str, float]:
        """How much of the question's term weight (IDF) each chunk holds, 0..1: the mean of
        the chunk's own share and its whole article's share (chunk ids start with the
        article id). An acronym counts as present when its expansion is ("AI" in an article
        about "artificial intelligence").

        Rewards passages that match every aspect of a question ("Speakers" and "AI" and
        "legislation") over passages that repeat its commonest term.
        """
        ids, tf, idf = self._matrix or self._build()
        words = _TOKEN_RE.findall(query.lower())
        concepts: list[tuple[float, list[set[int]]]] = []  # (weight, alternatives)
        for word in dict.fromkeys(w for w in words if w not in STOP_WORDS):
            alternatives = [{self.vocab.get(_stem(word), -1)}]
            if word in EXPANSIONS:
                alternatives.append({self.vocab.get(t, -1) for t in tokenize(EXPANSIONS[word])})
            known = [t for alt in alternatives for t in alt if t >= 0]
            if known:
                concepts.append((float(max(idf[t] for t in known)), alternatives))
        total = sum(w for w, _ in concepts)
        article_terms: dict[str, set[int]] = {}
        out = {}
        for chunk_id in chunk_ids:
            doc = self.docs.get(chunk_id)
            if doc is None or not total:
                out[chunk_id] = 0.0
                continue
            article = chunk_id.split("-", 1)[0]
            if article not in article_terms:
                article_terms[article] = set().union(
                    *(self.docs[cid][0].tolist() for cid in self._by_article().get(article, ())))
            shares = []
            for terms in (set(doc[0].tolist()), article_terms[article]):
                held = sum(w for w, alts in concepts if any(alt <= terms for alt in alts))
                shares.append(held / total)
            out[chunk_id] = (shares[0] + shares[1]) / 2
        return out

    def _by_article(self) -> dict[str, list[str]]:
        """Chunk ids grouped by article id (the part before the first '-'), rebuilt lazily."""
        if self._articles is None:
            groups: dict[str, list[str]] = {}
            for cid in self.docs:
                groups.setdefault(cid.split("-", 1)[0], []).append(cid)
            self._articles = groups
        return self._articles

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename): a crash never leaves a torn file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bm25-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((self.VERSION, self.generation, self.vocab, self.docs), fh,
                        protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> "LexicalIndex":
        """The saved index, or an empty one when the file is missing or unreadable."""
        index = cls()
        try:
            with open(path, "rb") as fh:
                version, generation, vocab, docs = pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError):
            return index
        if version == cls.VERSION:
            index.generation, index.vocab, index.docs = generation, vocab, docs
        return index
