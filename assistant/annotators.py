"""Index-time annotators: what the indexer stores with each chunk besides its vectors.

An annotator is ``(article, chunks) -> list[dict]`` (one JSON-serialisable dict per chunk,
see indexer.py); the answer step reads the result as ``StoredChunk.annotations``. Computing
these once per chunk at index time keeps them off the question path.

- ``entities``: the named entities of the chunk text as ``[start, end, label]`` (spaCy's
  recogniser, see nlp.py), which the answer step takes its typed candidates from;
- ``event_dates``: per sentence, the day it says something happened ("on Tuesday" in an
  article of Wednesday 2025-08-27 → 2025-08-26; timeframe.py), for event-date questions and
  the dates shown on citations.

Left out: coreference and relations between entities.
"""

from __future__ import annotations

from typing import Callable, Sequence

__all__ = ["annotate_entities", "combine", "default_annotator"]

Annotator = Callable[[object, Sequence[object]], list[dict]]


def annotate_entities(article, chunks) -> list[dict]:
    """``{"entities": [[start, end, label], ...]}`` for each chunk (offsets in its text)."""
    from .nlp import entities

    found = entities([c.text for c in chunks])
    return [{"entities": [list(e) for e in ents]} for ents in found]


def combine(*annotators: Annotator) -> Annotator:
    """One annotator whose dict per chunk merges those of several."""

    def annotate(article, chunks) -> list[dict]:
        notes: list[dict] = [{} for _ in chunks]
        for annotator in annotators:
            for note, extra in zip(notes, annotator(article, chunks)):
                note.update(extra or {})
        return notes

    return annotate


def default_annotator() -> Annotator:
    """What every index stores: named entities and event dates."""
    from .timeframe import annotate_event_dates

    return combine(annotate_entities, annotate_event_dates)
