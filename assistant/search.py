"""Read side: dense + lexical queries against one immutable snapshot per store generation.

``Searcher.snapshot()`` returns the current ``Snapshot``: the store's generation, its
committed article records, outlets and statistics, built once per generation and replaced
by one assignment (readers holding the previous one keep using it). Everything a question
reads (dense hits, BM25 hits, passages, coverage) is filtered by that snapshot's records,
so one answer's citations all come from one consistent state of the index.
The generation is re-read from Chroma at most once a second (this process's own builds
update it at once).

Dense search runs in numpy over the snapshot's own table of committed chunk vectors
(dense.py), so its hits need no filtering; when the table cannot be built it asks Chroma.
Chroma's and lexical hits are filtered by the snapshot's records *before* they are ranked: a
running build's uncommitted chunks (already in Chroma and the lexical index) and superseded
ones must not take rank places, or an answer about an untouched article would change while
a build runs. A search that lost places to them asks again for more. A question holds a
lease on its snapshot's generation (``Searcher.reading``) and a build deletes superseded rows
only once this process's leases of older generations are released (``Store.retire``).
Story groups (syndication.py) are read once per snapshot, since a build rewrites them
before it commits.
Left out: leases are per process; a reader in another process (Chroma server) that spans a
commit may miss the passages of the articles that commit superseded.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from .dense import VectorTable
from .lexical import LexicalSnapshot
from .store import IndexStats, Store, StoredChunk
from .syndication import Stories, stories

__all__ = ["Searcher", "Snapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One generation of the store, as readers see it (never mutated)."""

    store: Store
    generation: int
    records: dict  # article id -> commit record (do not mutate)
    stats: IndexStats
    lexical_index: LexicalSnapshot  # the lexical index's last commit at this generation
    stories: Stories  # wire-copy groups as they were when this generation was committed
    vectors: VectorTable | None = None  # the committed chunks' vectors; None: ask Chroma


    @property
    def outlets(self) -> list[str]:
        return list(self.stats.outlets)

    def dense(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[str, float]]:
        """The k nearest committed chunks (id, cosine)."""
        if self.vectors is not None:
            return self.vectors.search(vector, k, where)  # committed rows only, by construction
        return self._top(lambda n: self.store.dense(vector, n, where), k)

    def lexical(self, question: str, k: int) -> list[tuple[str, float]]:
        """The k best committed chunks by BM25 (id, score)."""
        return self._top(lambda n: self.lexical_index.search(question, n), k)

    def _top(self, search: Callable[[int], list[tuple[str, float]]], k: int) -> list[tuple[str, float]]:
        # Rows of other versions are dropped before ranking; when they took places, ask for
        # more (at most 16k: a build of thousands of near-identical chunks is left out).
        asked = k
        while True:
            hits = search(asked)
            kept = self._committed(hits)
            if len(kept) >= k or len(hits) < asked or asked >= 16 * k:
                return kept[:k]
            asked *= 2

    def _committed(self, hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
        if not hits:
            return hits
        versions = self.store.versions_of([cid for cid, _ in hits])
        out = []
        for cid, score in hits:
            version = versions.get(cid)
            if version and (self.records.get(version[0]) or {}).get("hash") == version[1]:
                out.append((cid, score))
        return out

    def fetch(self, ids: Sequence[str]) -> dict[str, StoredChunk]:
        return self.store.fetch(ids, self.records)

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        return self.lexical_index.idf(terms)

    def coverage(self, question: str, chunks: Sequence[StoredChunk]) -> dict[str, float]:
        return self.store.coverage(question, {c.id: (c.article_id, c.hash) for c in chunks},
                                   self.lexical_index)


class Searcher:
    """Hands out the current snapshot of a store."""

    def __init__(self, store: Store):
        self.store = store
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()  # one thread builds a new snapshot; others wait for it

    @contextmanager
    def reading(self) -> Iterator[Snapshot]:
        """The current snapshot, its rows kept (in this process) until the block ends."""
        while True:
            snap = self.snapshot()
            if self.store.lease(snap.generation):
                break
        try:
            yield snap
        finally:
            self.store.release(snap.generation)

    def snapshot(self) -> Snapshot:
        gen = self.store.generation()
        snap = self._snapshot
        if snap is not None and snap.generation == gen:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.generation != gen:
                self.store.sync_side()
                records = self.store.snapshot_records(gen)
                snap = Snapshot(self.store, gen, records, self.store.stats(records),
                                self.store.lexical_snapshot(), stories(self.store.settings),
                                self.store.vector_table(records))
                self._snapshot = snap  # one assignment: readers see the old or the new
                log.info("snapshot of generation %d: %d articles", gen, len(records))
            return snap
