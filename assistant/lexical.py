"""Lexical search: the project's tokenizing and BM25 over chunks in SQLite FTS5.

Tokens are lower-cased, Snowball-stemmed words without English stop words; questions also
get common news acronyms expanded. Tokenizing is thread-safe: each thread has its own
Snowball stemmer (one shared instance returns wrong stems under threads) and the stem cache
is an ``lru_cache`` of a pure function.

On disk the index is a tantivy folder (BM25, k1=1.2, b=0.75, idf = ln(1 + (N-n+.5)/(n+.5)),
as the former in-memory scorer) over the pre-tokenized terms of each chunk. It was chosen
over SQLite FTS5 by measurement (benchmarks/bench_lexical.py, newsqa-mini tune half): the
same quality, but FTS5's bm25() scores every row matching any question term, 50-120 ms per
question at 7k chunks against 0.3 ms for tantivy. It is updated per batch in the writer's
commits, never rebuilt for a query, and readers search an immutable committed snapshot (no
pickle). ``MemoryBM25`` keeps the former in-memory scorer for the naive baseline of
``assistant eval`` and for measurement.
Left out: phrase queries and synonyms beyond the acronyms.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

__all__ = ["EXPANSIONS", "STOP_WORDS", "LexicalIndex", "LexicalSnapshot", "MemoryBM25", "coverage",
           "query_terms", "terms_text", "tokenize"]

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
_LOCAL = threading.local()


def _thread_stemmer():
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@functools.lru_cache(maxsize=500_000)
def _stem(word: str) -> str:
    # A pure function of word (each thread stems with its own stemmer), so caching is safe.
    return _thread_stemmer().stemWord(word)


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


def terms_text(title: str, source: str, text: str) -> str:
    """What the lexical index holds for a chunk: the tokens of the same title · outlet
    header the embedder sees, then the passage, space-separated."""
    return " ".join(tokenize(f"{title} {source} {text}"))


# -- tantivy on disk ------------------------------------------------------------------------
class LexicalIndex:
    """BM25 over chunk terms in a tantivy index folder (one per store).

    Documents are (chunk id, space-separated stems); tantivy splits on whitespace only, so
    the project's tokenizing decides the terms. ``replace``/``delete`` run under the store's
    writer lock and commit at once (a tantivy commit is atomic: a crash leaves the previous
    commit). ``snapshot()`` returns an immutable searcher over the last commit.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._writer = None
        self._index = None

    @staticmethod
    def _schema():
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("terms", stored=False, tokenizer_name="whitespace", index_option="freq")
        return sb.build()

    def exists(self) -> bool:
        return (self.path / "meta.json").exists()

    def index(self):
        if self._index is None:
            import tantivy

            self.path.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(self._schema(), path=str(self.path), reuse=True)
        return self._index

    def open_writer(self) -> None:
        if self._writer is None:
            self._writer = self.index().writer(heap_size=50_000_000, num_threads=1)

    def close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.wait_merging_threads()  # also releases tantivy's own writer lock

    def replace(self, docs: Iterable[tuple[str, str]]) -> None:
        """Add (chunk id, terms) documents, replacing any with the same id; commits."""
        import tantivy

        for chunk_id, terms in docs:
            self._writer.delete_documents("id", chunk_id)
            self._writer.add_document(tantivy.Document(id=chunk_id, terms=terms))
        self._writer.commit()

    def delete(self, chunk_ids: Iterable[str]) -> None:
        for chunk_id in chunk_ids:
            self._writer.delete_documents("id", chunk_id)
        self._writer.commit()

    def rebuild(self, docs: Iterable[tuple[str, str]]) -> None:
        """Replace every document by docs, in one commit (readers see the old or the new)."""
        import tantivy

        self._writer.delete_all_documents()
        for chunk_id, terms in docs:
            self._writer.add_document(tantivy.Document(id=chunk_id, terms=terms))
        self._writer.commit()

    def snapshot(self) -> "LexicalSnapshot":
        index = self.index()
        index.reload()
        return LexicalSnapshot(index.searcher(), self._schema())


class LexicalSnapshot:
    """One committed state of a LexicalIndex (never changes; safe to share between threads)."""

    def __init__(self, searcher, schema):
        self.searcher = searcher
        self.schema = schema

    @property
    def num_docs(self) -> int:
        return int(self.searcher.num_docs)

    def search(self, question: str, k: int) -> list[tuple[str, float]]:
        """The k best (chunk id, BM25 score) pairs for a question, best first."""
        import tantivy

        terms = sorted(set(query_terms(question)))
        if not terms or k <= 0:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "terms", t)) for t in terms])
        hits = self.searcher.search(query, int(k)).hits
        return [(self.searcher.doc(addr)["id"][0], float(score)) for score, addr in hits]

    def doc_freq(self, term: str) -> int:
        return int(self.searcher.doc_freq("terms", term))

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each (already tokenized) term; a term no chunk
        holds gets the IDF of a term held by a single chunk (the rarest there is)."""
        n = self.num_docs
        return {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t in terms
                for df in (max(self.doc_freq(t), 1),)}


def coverage(question: str, chunk_terms: Mapping[str, set[str]], article_terms: Mapping[str, set[str]],
             doc_freq: Callable[[str], int], n_docs: int) -> dict[str, float]:
    """How much of the question's term weight (IDF) each chunk holds, 0..1: the mean of
    the chunk's own share and its whole article's share (``article_terms`` by chunk id:
    the terms of every chunk of that chunk's article version). An acronym counts as
    present when its expansion is ("AI" in an article about "artificial intelligence").

    Rewards passages that match every aspect of a question ("Speakers" and "AI" and
    "legislation") over passages that repeat its commonest term.
    """
    words = _TOKEN_RE.findall(question.lower())
    concepts: list[tuple[float, list[set[str]]]] = []
    for word in dict.fromkeys(w for w in words if w not in STOP_WORDS):
        alternatives = [{_stem(word)}]
        if word in EXPANSIONS:
            alternatives.append(set(tokenize(EXPANSIONS[word])))
        idf = {t: math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
               for alt in alternatives for t in alt if (df := doc_freq(t)) > 0}
        if idf:
            concepts.append((max(idf.values()), alternatives))
    total = sum(w for w, _ in concepts)
    out = {}
    for cid, own in chunk_terms.items():
        if not total:
            out[cid] = 0.0
            continue
        shares = []
        for terms in (own, article_terms.get(cid, own)):
            held = sum(w for w, alts in concepts if any(alt <= terms for alt in alts))
            shares.append(held / total)
        out[cid] = (shares[0] + shares[1]) / 2
    return out


class MemoryBM25:
    """BM25 in memory over (id, text) pairs (k1=1.2, b=0.75, idf = log(1 + (N-n+.5)/(n+.5))).

    For the naive baseline of ``assistant eval`` and for measuring the on-disk engine
    against; the assistant's own index is the FTS5 table above. Not thread-safe for writes.
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.docs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._matrix = None

    def __len__(self) -> int:
        return len(self.docs)

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        """Add (id, text) pairs; an id already present is replaced."""
        for doc_id, text in items:
            counts = Counter(tokenize(text))
            ids = np.fromiter((self.vocab.setdefault(t, len(self.vocab)) for t in counts),
                              dtype=np.int32, count=len(counts))
            self.docs[doc_id] = (ids, np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
        self._matrix = None

    def remove(self, doc_ids: Iterable[str]) -> None:
        for doc_id in doc_ids:
            self.docs.pop(doc_id, None)
        self._matrix = None

    def _build(self):
        from scipy.sparse import csr_matrix

        ids = list(self.docs)
        n = len(ids)
        lengths = np.zeros(n, dtype=np.float32)
        rows, cols, vals = [], [], []
        for j, doc_id in enumerate(ids):
            terms, counts = self.docs[doc_id]
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
        weights = vals_a * (K1 + 1) / (vals_a + norm[cols_a]) if n else vals_a
        tf = csr_matrix((weights, (rows_a, cols_a)), shape=(len(self.vocab), n), dtype=np.float32)
        df = np.diff(tf.indptr).astype(np.float32)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        self._matrix = (ids, tf, idf)
        return self._matrix

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The k best (id, BM25 score) pairs, best first."""
        ids, tf, idf = self._matrix or self._build()
        terms = [self.vocab[t] for t in set(query_terms(query)) if t in self.vocab]
        if not terms or not ids:
            return []
        scores = np.asarray(tf[terms].T @ idf[terms]).ravel()
        nonzero = np.flatnonzero(scores > 0)
        if len(nonzero) > k:
            nonzero = nonzero[np.argpartition(-scores[nonzero], k)[:k]]
        order = nonzero[np.argsort(-scores[nonzero], kind="stable")]
        return [(ids[i], float(scores[i])) for i in order]
