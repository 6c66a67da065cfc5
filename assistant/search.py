"""Read side: dense + lexical queries against one immutable snapshot per store generation.

``Searcher.snapshot()`` returns the current ``Snapshot``: the store's generation, its
committed article records, outlets and statistics, built once per generation and replaced
by one assignment (readers holding the previous one keep using it). Everything a question
reads (dense hits, BM25 hits, passages, coverage) is filtered by that snapshot's records,
so one answer's citations all come from one consistent state of the index.
The generation is re-read from Chroma at most once a second (this process's own builds
update it at once). Left out: a snapshot does not pin old rows; a superseded version is
deleted right after the generation moves, so a question running across that instant may
miss that article's passages (never see a mix of versions).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .lexical import LexicalSnapshot
from .store import IndexStats, Store, StoredChunk

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

    @property
    def outlets(self) -> list[str]:
        return list(self.stats.outlets)

    def dense(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[str, float]]:
        return self.store.dense(vector, k, where)

    def lexical(self, question: str, k: int) -> list[tuple[str, float]]:
        return self.lexical_index.search(question, k)

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

    def snapshot(self) -> Snapshot:
        gen = self.store.generation()
        snap = self._snapshot
        if snap is not None and snap.generation == gen:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.generation != gen:
                self.store.sync_side()
                records = self.store.committed()
                snap = Snapshot(self.store, gen, records, self.store.stats(records),
                                self.store.lexical_snapshot())
                self._snapshot = snap  # one assignment: readers see the old or the new
                log.info("snapshot of generation %d: %d articles", gen, len(records))
            return snap
