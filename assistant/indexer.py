"""The indexing pipeline: manifest check → load → group → chunk → embed → annotate → write → commit.

Incremental by content hash and idempotent (the commit rule is in store.py). A run first
compares the corpus files with the manifest of the last complete build (path, size,
mtime, content hash): when nothing changed it parses no article and reads no chunk. Any
change runs the full comparison over every article, but only the changed files are parsed:
each file's parse (its articles without their texts, and its problems) is saved with the
manifest and stands for the file while its bytes and the parse key (the day, the bounds)
are the same; an article of such a file whose chunks must be written after all is parsed
then (``ArticleStub.full``). Only articles whose version hash is new are chunked and
embedded; chunks whose embedded text did not change reuse their stored vectors, and
identical texts are embedded once. The article records a build starts from are the side
store's copy of Chroma's (``Store.build_records``). A change of embedder or
chunking settings builds new collections beside the old ones (which keep serving until
the new build is complete) and then drops the old ones (only those this deployment owns).

``annotator(article, chunks) -> list[dict]`` (one JSON-serialisable dict per chunk) runs
whenever a chunk is written, also when its vectors are reused (an annotation may depend on
the article's date, not only on the chunk's text); readers get it as
``StoredChunk.annotations``. Left out: re-reading the saved parses of unchanged files
(each build loads them all, about 40 ms for 2,300 files), and files that could not be read,
which are tried again on every build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .chunking import Chunk, split_article
from .config import Settings
from .corpus import Article, Problem, load_articles, parse_key, walk_files
from .parseworker import ParseLimits
from .errors import ArticleError, CorpusError
from .lexical import terms_text
from .store import Store, pack_vectors
from .syndication import is_current as stories_current
from .syndication import refresh_stories

__all__ = ["Annotator", "IndexReport", "Indexer", "crash_hook"]

log = logging.getLogger(__name__)

Annotator = Callable[[Article, list[Chunk]], list[dict]]


@dataclass
class IndexReport:
    """What `assistant index` did."""

    articles: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    embedded: int = 0  # texts actually encoded (reused and duplicate chunks are not)
    rebuilt: str = ""  # why a full rebuild happened, if one did

    def to_dict(self) -> dict:
        return {
            "articles": self.articles, "chunks": self.chunks, "added": self.added,
            "updated": self.updated, "removed": self.removed, "unchanged": self.unchanged,
            "skipped": [p.to_dict() for p in self.skipped],
            "warnings": [p.to_dict() for p in self.warnings],
            "seconds": round(self.seconds, 3), "embedded": self.embedded, "rebuilt": self.rebuilt,
        }


def crash_hook(settings: Settings) -> Callable[[str, int], None] | None:
    """The crash-safety test hook from settings: SIGKILL this process after N batches at
    crash_point ("written" or "committed"); None when disabled."""
    if not settings.crash_after_batches:
        return None

    def crash(point: str, batches: int) -> None:
        if point == settings.crash_point and batches >= settings.crash_after_batches:
            os.kill(os.getpid(), signal.SIGKILL)  # die like `kill -9` would

    return crash


def scan_files(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file corpus.load_articles walks."""
    out = {}
    for path, rel in walk_files(root):
        try:
            st = os.stat(path)
        except OSError as exc:
            # Kept (as -1, -1): a link loop or a link to nowhere is a change the build
            # must read, so that the report names it.
            log.info("cannot stat %s: %s", path, exc)
            out[rel] = (-1, -1)
            continue
        out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def _sha(path: Path) -> str:
    try:
        # Only regular files: opening a named pipe blocks until a writer comes (forever).
        if not stat.S_ISREG(path.stat().st_mode):
            return ""
        return hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    except OSError as exc:
        log.info("cannot read %s for the manifest: %s", path, exc)
        return ""


class Indexer:
    """Brings a Store in line with a corpus folder (one build at a time per store)."""

    def __init__(self, store: Store, embedder, settings: Settings, *,
                 annotator: Annotator | None = None,
                 crash: Callable[[str, int], None] | None = None):
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.annotator = annotator
        self.crash = crash
        self._batches_written = 0

    def build(self, corpus_dir: str | Path | None = None,
              progress: Callable[[int, int], None] | None = None) -> IndexReport:
        """Bring the index in line with the corpus folder (incremental, crash-safe)."""
        started = time.perf_counter()
        corpus_dir = Path(corpus_dir or self.settings.corpus_dir)
        store = self.store
        with store.writer():
            if not corpus_dir.is_dir():
                load_articles(corpus_dir)  # raises the corpus error naming the path
            files = scan_files(corpus_dir)
            limits = ParseLimits.from_settings(self.settings)  # every parse of a build is bounded
            report = self._unchanged(corpus_dir, files)
            if report is not None:
                if not stories_current(self.settings):  # an index older than the groups
                    self._group(load_articles(corpus_dir, limits=limits).articles)
                report.seconds = time.perf_counter() - started
                return report
            store.sync_side()
            exists = store.articles_name in store.chroma.names()
            # Read once: this build holds the writer lock, so they stay as read until it writes.
            records = store.build_records()
            indexed = {r.get("path") for r in records.values()}
            saved, _ = store.manifest()
            key = parse_key(None, limits)
            known = self._known(corpus_dir, files, saved, key)
            loaded = load_articles(corpus_dir, prefer=indexed, limits=limits, known=known)
            if not loaded.articles:
                reasons = "; ".join(str(p) for p in loaded.skipped[:5])
                raise CorpusError(
                    f"corpus folder {str(corpus_dir)!r} holds no readable article"
                    + (f" ({reasons})" if reasons else "") + "; the existing index is unchanged"
                )
            report = IndexReport(skipped=loaded.skipped, warnings=loaded.warnings)
            if not exists and any(n != store.chunks_name and n != store.articles_name
                                  for n in store.owned()):
                report.rebuilt = ("embedder or chunking settings changed: full rebuild "
                                  "(the previous index serves until this one is complete)")
            # Story groups first, so articles are grouped from the moment they are visible
            # (readers ignore groups of articles their snapshot does not hold).
            self._group(loaded.articles)
            after = self._apply(loaded.articles, report, progress, records)
            store.drop_superseded_collections()
            # A file whose size and mtime did not move keeps its hash (read only the others).
            shas = {rel: saved[rel][2] if rel in saved and saved[rel][:2] == files[rel]
                    else _sha(corpus_dir / rel) for rel in files}
            store.save_manifest({rel: (*files[rel], shas[rel]) for rel in files}, {
                "generation": store.generation(max_age=0), "fp": store.fp,
                "articles": report.articles, "chunks": report.chunks,
                "skipped": [p.to_dict() for p in report.skipped],
                "warnings": [p.to_dict() for p in report.warnings]},
                parsed={rel: {**summary, "key": key, "sha": shas[rel]}
                        for rel, summary in loaded.files.items() if rel in shas},
                records=after)
            report.seconds = time.perf_counter() - started
            return report

    def _known(self, corpus_dir: Path, files: dict[str, tuple[int, int]],
               saved: dict[str, tuple[int, int, str]], key: str) -> dict[str, dict]:
        """The saved parses (``Store.parsed``) still true of their files: same bytes as at the
        last complete build (same size and mtime, or the same content hash), same parse key."""
        known = {}
        for rel, summary in self.store.parsed().items():
            old = saved.get(rel)
            if rel not in files or old is None or summary.get("key") != key or summary.get("sha") != old[2]:
                continue
            if files[rel] == old[:2] or (files[rel][0] == old[0] and _sha(corpus_dir / rel) == old[2]):
                known[rel] = summary
        return known

    def _group(self, articles: list[Article]) -> None:
        """Refresh the wire-copy groups (syndication.py); a failure costs the grouping only."""
        try:
            refresh_stories(self.settings, articles)
        except (OSError, ValueError, ImportError) as exc:
            log.warning("story groups not refreshed (answers may cite several copies of one "
                        "story until the next build): %s", exc)

    def _unchanged(self, corpus_dir: Path, files: dict[str, tuple[int, int]]) -> IndexReport | None:
        """The report of a no-change run when the manifest shows no file changed since the
        last complete build of this store (and nothing else wrote to it); else None."""
        store = self.store
        if not store.side.exists():
            return None
        # Embedded, the side store's copy of the generation stands for Chroma's (this process
        # holds the writer lock, and every build writes both); a server is asked.
        generation = store.local_generation()
        if generation is None:
            if not store.exists():
                return None
            generation = store.generation(max_age=0)
        saved, facts = store.manifest()
        if not facts or facts.get("fp") != store.fp or set(saved) != set(files) \
                or facts.get("generation") != generation:
            return None
        touched = {rel for rel, (size, mtime) in files.items() if saved[rel][:2] != (size, mtime)}
        for rel in touched:
            if saved[rel][0] != files[rel][0] or _sha(corpus_dir / rel) != saved[rel][2]:
                return None
        if touched:  # same bytes, new mtime (a copy, a touch): remember the new stat
            store.save_manifest({rel: (*files[rel], saved[rel][2]) for rel in files}, facts)
        store.keep_records_copy(generation)
        return IndexReport(
            articles=facts["articles"], chunks=facts["chunks"], unchanged=facts["articles"],
            skipped=[Problem(**p) for p in facts.get("skipped", [])],
            warnings=[Problem(**p) for p in facts.get("warnings", [])])

    def _apply(self, articles: list[Article], report: IndexReport,
               progress: Callable[[int, int], None] | None, committed: dict[str, dict]) -> dict[str, dict]:
        """Write what changed; returns the article records as the store now holds them."""
        with self.store.writing():
            return self._apply_locked(articles, report, progress, committed)

    def _apply_locked(self, articles: list[Article], report: IndexReport,
                      progress: Callable[[int, int], None] | None, committed: dict[str, dict]) -> dict[str, dict]:
        store = self.store
        stored = store.versions()  # article_id -> {hash: [chunk ids]}

        wanted = {a.id: a for a in articles}
        todo: list[Article] = []
        for article in articles:
            rec = committed.get(article.id)
            have = stored.get(article.id, {}).get(article.hash, [])
            if rec and rec["hash"] == article.hash and len(have) == rec.get("n_chunks"):
                report.unchanged += 1
            else:
                todo.append(article)
                if rec:
                    report.updated += 1
                else:
                    report.added += 1
        removed = [aid for aid in committed if aid not in wanted]
        report.removed = len(removed)
        # Removed articles: drop the commit record first; their chunks go with the orphans.
        store.uncommit(removed)
        # The records as this build leaves them (it holds the writer lock: nobody else
        # writes them), kept here rather than read back from Chroma.
        gone = set(removed)
        after = {aid: rec for aid, rec in committed.items() if aid not in gone}

        todo = self._full(todo, report)
        planned = [(a, split_article(a, self.settings.chunk_chars, self.settings.chunk_overlap)) for a in todo]
        total = sum(len(c) for _, c in planned)
        done = 0
        if progress:
            progress(0, total)
        batch: list[tuple[Article, list[Chunk]]] = []
        size = 0
        for item in planned:
            batch.append(item)
            size += len(item[1])
            if size >= self.settings.index_batch_chunks:
                after.update(self._write_batch(batch, stored, report))
                done += size
                if progress:
                    progress(done, total)
                batch, size = [], 0
        if batch:
            after.update(self._write_batch(batch, stored, report))
            done += size
            if progress:
                progress(done, total)

        # Superseded versions, removed articles and leftovers of interrupted runs: chunks
        # whose version no article record commits. Deleted after the generation moved and
        # this process's readers of the previous snapshot finished (store.retire), so a
        # question answered across the commit still reads whole old versions.
        committed = after
        stored = store.versions()
        orphans = [cid for aid, versions in stored.items() for h, ids in versions.items()
                   if committed.get(aid, {}).get("hash") != h for cid in ids]
        report.articles = len(committed)
        report.chunks = sum(int(r.get("n_chunks", 0)) for r in committed.values())
        store.finish(bool(todo or removed or orphans), {
            "embedder": self.embedder.name, "chunk_chars": self.settings.chunk_chars,
            "chunk_overlap": self.settings.chunk_overlap})
        store.retire(orphans)
        return committed

    @staticmethod
    def _full(articles: list[Article], report: IndexReport) -> list[Article]:
        """The articles with their texts: an unchanged file's article that must be written
        after all (its chunks went missing) is parsed now; one its file no longer holds is
        reported and left for the next build."""
        out = []
        for article in articles:
            try:
                out.append(article.full())
            except ArticleError as exc:
                log.warning("%s: %s", exc.path, exc.reason)
                report.warnings.append(Problem(exc.path, exc.reason))
        return out

    def _write_batch(self, batch: list[tuple[Article, list[Chunk]]], stored: dict,
                     report: IndexReport) -> dict[str, dict]:
        """Embed and write the batch's chunks, then commit its articles; returns the article
        records committed."""
        # Reuse vectors of chunks whose embedded text did not change (edits, metadata-only
        # changes) and embed identical texts once. One forward pass per chunk gives its
        # vector and its sentences' in-context vectors (late chunking, see embedding.py).
        store = self.store
        reuse = store.reusable([cid for a, _ in batch for ids in stored.get(a.id, {}).values() for cid in ids])
        to_embed: dict[str, Chunk] = {}
        for _, chunks in batch:
            for c in chunks:
                if c.text_hash not in reuse:
                    to_embed.setdefault(c.text_hash, c)
        if to_embed:
            todo = list(to_embed.values())
            shifted = [[(a + len(c.embed_text) - len(c.text), b + len(c.embed_text) - len(c.text))
                        for a, b in c.sentences] for c in todo]
            vectors, sentence_vectors = self.embedder.embed_with_spans([c.embed_text for c in todo], shifted)
            for c, vec, svecs in zip(todo, vectors, sentence_vectors):
                reuse[c.text_hash] = (np.asarray(vec, dtype=np.float32), pack_vectors(svecs))
            report.embedded += len(to_embed)
        rows, vecs = [], []
        for article, chunks in batch:
            notes = self._annotate(article, chunks)
            for c, note in zip(chunks, notes):
                vec, packed = reuse[c.text_hash]
                vecs.append(vec)
                rows.append({
                    "id": c.id, "article_id": article.id, "hash": article.hash,
                    "text_hash": c.text_hash, "idx": c.index, "start": c.start, "end": c.end,
                    "title": article.title, "source": article.source, "date": article.date,
                    "url": article.url, "text": c.text,
                    "terms": terms_text(article.title, article.source, c.text),
                    "spans": ";".join(f"{a}-{b}" for a, b in c.sentences), "sv": packed,
                    "annotations": json.dumps(note) if note else None,
                })
        store.write_chunks(rows, np.asarray(vecs, dtype=np.float32))
        self._batches_written += 1
        if self.crash:
            self.crash("written", self._batches_written)
        # Commit point: each article record names the version whose chunks are now complete.
        records = {a.id: _article_meta(a, len(chunks)) for a, chunks in batch}
        store.commit(records)
        if self.crash:
            self.crash("committed", self._batches_written)
        for a, chunks in batch:
            stored.setdefault(a.id, {})[a.hash] = [c.id for c in chunks]
        return records

    def _annotate(self, article: Article, chunks: list[Chunk]) -> list[dict | None]:
        if self.annotator is None:
            return [None] * len(chunks)
        notes = list(self.annotator(article, chunks))
        if len(notes) != len(chunks):
            raise ValueError(f"the annotator returned {len(notes)} annotations for "
                             f"{len(chunks)} chunks of {article.path}")
        return notes


def _article_meta(article: Article, n_chunks: int) -> dict:
    return {
        "hash": article.hash, "n_chunks": n_chunks, "path": article.path,
        "title": article.title, "source": article.source, "date": article.date or "",
        "day": int(article.date.replace("-", "")) if article.date else 0, "url": article.url or "",
        "updated": article.updated or "",  # when a correction replaced an earlier version
    }
