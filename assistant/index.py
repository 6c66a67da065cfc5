"""Former home of the index (split into store.py, indexer.py and search.py); these names
stay importable from here for code written against it."""

from .indexer import IndexReport
from .store import IndexStats, StoredChunk, fingerprint

__all__ = ["IndexReport", "IndexStats", "StoredChunk", "fingerprint"]
