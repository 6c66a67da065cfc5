"""The persisted index: Chroma collections (kept private to this module) plus BM25.

Two collections per settings fingerprint (embedder + chunking):
- ``<name>-<fp>-chunks``: one record per chunk (vector, passage text, article metadata);
- ``<name>-<fp>-articles``: one record per indexed article: its content hash and chunk count.
  An article record is the commit point: it is written after all the article's chunks and
  the old version's chunks are deleted after it, so a reader that keeps only chunks whose
  hash matches the article record never sees an article twice or half of one.

Indexing is incremental by content hash and idempotent: an interrupted run (even ``kill -9``)
leaves chunks without a matching article record, which the next run deletes or completes.
A change of embedder or chunking settings builds new collections beside the old ones (which
keep serving until the new build is complete) and then drops the old ones.
The same code serves the embedded ``PersistentClient`` and a ``chroma run`` server.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .chunking import Chunk, split_article
from .config import Settings, offline_environment
from .corpus import Article, Problem, load_articles
from .errors import ConfigError, CorpusError, IndexBusyError, IndexMissingError
from .lexical import LexicalIndex

FORMAT_VERSION = 2  # 2: in-context sentence vectors stored with each chunk


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


@dataclass
class IndexStats:
    articles: int
    chunks: int
    outlets: dict[str, int]
    first_date: str | None
    last_date: str | None
    last_build: str | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class StoredChunk:
    """A chunk as read back from the store."""

    id: str
    article_id: str
    text: str
    title: str
    source: str
    date: str | None
    url: str | None
    start: int
    end: int
    hash: str
    sentences: list[tuple[int, int]] = field(default_factory=list)  # spans inside text
    sentence_vectors: np.ndarray | None = None  # one in-context vector per sentence


def fingerprint(settings: Settings, embedder_name: str) -> str:
    spec = json.dumps([FORMAT_VERSION, embedder_name, settings.chunk_chars, settings.chunk_overlap])
    return hashlib.sha1(spec.encode()).hexdigest()[:10]


def _day(date: str | None) -> int:
    return int(date.replace("-", "")) if date else 0


class _Chroma:
    """The one place that talks to Chroma."""

    def __init__(self, settings: Settings):
        offline_environment()
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if settings.chroma_url:
            from urllib.parse import urlparse

            url = urlparse(settings.chroma_url)
            try:
                self.client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1", port=url.port or 8000,
                    ssl=url.scheme == "https", settings=chroma_settings,
                )
                self.client.heartbeat()
            except Exception as exc:
                raise ConfigError(
                    f"cannot reach the Chroma server at {settings.chroma_url}: {exc}"
                ) from exc
        else:
            Path(settings.index_dir).mkdir(parents=True, exist_ok=True)
            self.client = chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)
        self.max_batch = min(int(self.client.get_max_batch_size()), 5000)

    def names(self) -> list[str]:
        return [c if isinstance(c, str) else c.name for c in self.client.list_collections()]

    def get(self, name: str, create: bool = False, metadata: dict | None = None):
        if create:
            return self.client.get_or_create_collection(
                name, embedding_function=_explicit_embeddings_class()(), metadata=metadata,
                configuration={"hnsw": {"space": "cosine"}},
            )
        return self.client.get_collection(name, embedding_function=_explicit_embeddings_class()())

    def drop(self, name: str) -> None:
        self.client.delete_collection(name)


@functools.cache
def _explicit_embeddings_class():
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class ExplicitEmbeddings(EmbeddingFunction[Documents]):
        """Vectors are always computed by the assistant; Chroma's default would download."""

        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:
            raise RuntimeError("the assistant passes embeddings explicitly")

        @staticmethod
        def name() -> str:
            return "assistant-explicit"

        def get_config(self) -> dict:
            return {}

        @staticmethod
        def build_from_config(config: dict) -> "ExplicitEmbeddings":
            return ExplicitEmbeddings()

    return ExplicitEmbeddings


class Index:
    """An index for one settings fingerprint: read side (search, stats) and write side (build)."""

    def __init__(self, settings: Settings, embedder):
        self.settings = settings
        self.embedder = embedder
        self.fp = fingerprint(settings, embedder.name)
        self.prefix = f"{settings.collection}-{self.fp}"
        self.chunks_name = f"{self.prefix}-chunks"
        self.articles_name = f"{self.prefix}-articles"
        self._chroma: _Chroma | None = None
        self._lexical: LexicalIndex | None = None
        self._lexical_lock = threading.Lock()
        self._handles = None
        self._generation: int | None = None
        self._generation_read = 0.0
        self._batches_written = 0

    # -- plumbing -------------------------------------------------------------------------
    @property
    def chroma(self) -> _Chroma:
        if self._chroma is None:
            self._chroma = _Chroma(self.settings)
        return self._chroma

    @property
    def lexical_path(self) -> Path:
        if self.settings.chroma_url:
            safe = hashlib.sha1(self.settings.chroma_url.encode()).hexdigest()[:8]
            return Path(self.settings.index_dir) / f"bm25-{self.prefix}-{safe}.pkl"
        return Path(self.settings.index_dir) / f"bm25-{self.prefix}.pkl"

    def exists(self) -> bool:
        names = self.chroma.names()
        return self.articles_name in names and self.chunks_name in names and \
            self._collection_meta().get("complete", False)

    def _collection_meta(self) -> dict:
        try:
            return dict(self.chroma.get(self.articles_name).metadata or {})
        except Exception:
            return {}

    def _require(self):
        """The (chunks, articles) collections; IndexMissingError when not built yet."""
        if self._handles is None:
            if not self.exists():
                where = self.settings.chroma_url or str(self.settings.index_dir)
                raise IndexMissingError(
                    f"no index at {where} for these settings; build it with `assistant index` "
                    f"(corpus: {self.settings.corpus_dir})"
                )
            self._handles = (self.chroma.get(self.chunks_name), self.chroma.get(self.articles_name))
        return self._handles

    def _read(self, fn):
        """Run a read against the collections; if they vanished (dropped by a rebuild with
        other settings), look them up again once, which names the fix if they are gone."""
        try:
            return fn(*self._require())
        except IndexMissingError:
            raise
        except Exception:
            self._handles = None
            return fn(*self._require())

    # -- read side ------------------------------------------------------------------------
    def generation(self) -> int:
        """The store's generation (bumped by every build that changed something), read at
        most once a second so the query path stays short."""
        now = time.monotonic()
        if self._generation is None or now - self._generation_read >= 1.0:
            self._generation = int(self._collection_meta().get("generation", 0))
            self._generation_read = now
        return self._generation

    def lexical(self) -> LexicalIndex:
        """The BM25 index, synced with the store when the store's generation moved."""
        with self._lexical_lock:
            gen = self.generation()
            if self._lexical is None:
                self._lexical = LexicalIndex.load(self.lexical_path)
            if self._lexical.generation != gen:
                self._sync_lexical(self._lexical, gen)
                self._lexical.save(self.lexical_path)
            return self._lexical

    def _sync_lexical(self, lexical: LexicalIndex, gen: int) -> None:
        chunks, _ = self._require()
        ids = self._all_ids(chunks)

        def fetch(batch):
            got = chunks.get(ids=list(batch), include=["documents", "metadatas"])
            by_id = {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
            return [_lexical_text(*by_id[i]) if i in by_id else "" for i in batch]

        lexical.sync(ids, fetch)
        lexical.generation = gen

    def _all_ids(self, collection) -> list[str]:
        ids: list[str] = []
        offset = 0
        while True:
            got = collection.get(include=[], limit=self.chroma.max_batch, offset=offset)
            ids.extend(got["ids"])
            if len(got["ids"]) < self.chroma.max_batch:
                return ids
            offset += len(got["ids"])

    def dense_search(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[str, float]]:
        def query(chunks, _):
            got = chunks.query(query_embeddings=[vector.tolist()], n_results=k,
                               where=where or None, include=["distances"])
            return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0])]

        return self._read(query)

    def fetch(self, ids: Sequence[str]) -> dict[str, StoredChunk]:
        """Chunks by id, keeping only those of the committed version of their article."""
        if not ids:
            return {}

        def read(chunks, articles):
            got = chunks.get(ids=list(ids), include=["documents", "metadatas"])
            art_ids = sorted({m["article_id"] for m in got["metadatas"]})
            arts = (articles.get(ids=art_ids, include=["metadatas"]) if art_ids
                    else {"ids": [], "metadatas": []})
            return got, {i: m["hash"] for i, m in zip(arts["ids"], arts["metadatas"])}

        got, committed = self._read(read)
        metas = got["metadatas"]
        out = {}
        for cid, doc, meta in zip(got["ids"], got["documents"], metas):
            if committed.get(meta["article_id"]) != meta["hash"]:
                continue  # an uncommitted new version or a superseded old one
            chunk = StoredChunk(
                id=cid, article_id=meta["article_id"], text=doc, title=meta.get("title", ""),
                source=meta.get("source", ""), date=meta.get("date") or None,
                url=meta.get("url") or None, start=int(meta.get("start", 0)),
                end=int(meta.get("end", 0)), hash=meta["hash"],
            )
            if meta.get("ss"):
                chunk.sentences = [tuple(map(int, p.split("-"))) for p in meta["ss"].split(";")]
                chunk.sentence_vectors = unpack_vectors(meta.get("sv", ""), len(chunk.sentences))
            out[cid] = chunk
        return out

    def stats(self) -> IndexStats:
        chunks, articles = self._require()
        metas = articles.get(include=["metadatas"])["metadatas"]
        outlets: dict[str, int] = {}
        dates = []
        for m in metas:
            outlets[m.get("source", "")] = outlets.get(m.get("source", ""), 0) + 1
            if m.get("date"):
                dates.append(m["date"])
        meta = self._collection_meta()
        return IndexStats(
            articles=len(metas), chunks=sum(int(m.get("n_chunks", 0)) for m in metas),
            outlets=dict(sorted(outlets.items(), key=lambda kv: (-kv[1], kv[0]))),
            first_date=min(dates) if dates else None, last_date=max(dates) if dates else None,
            last_build=meta.get("last_build"),
        )

    def article_records(self) -> dict[str, dict]:
        _, articles = self._require()
        got = articles.get(include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    # -- write side -----------------------------------------------------------------------
    def build(self, corpus_dir: str | Path | None = None,
              progress: Callable[[int, int], None] | None = None) -> IndexReport:
        """Bring the index in line with the corpus folder (incremental, crash-safe)."""
        started = time.perf_counter()
        corpus_dir = Path(corpus_dir or self.settings.corpus_dir)
        with _IndexLock(Path(self.settings.index_dir)):
            indexed = set()
            if self.articles_name in self.chroma.names():
                indexed = {r.get("path") for r in self._read_committed(self.chroma.get(self.articles_name)).values()}
            loaded = load_articles(corpus_dir, prefer=indexed)
            if not loaded.articles:
                reasons = "; ".join(str(p) for p in loaded.skipped[:5])
                raise CorpusError(
                    f"corpus folder {str(corpus_dir)!r} holds no readable article"
                    + (f" ({reasons})" if reasons else "") + "; the existing index is unchanged"
                )
            report = IndexReport(skipped=loaded.skipped, warnings=loaded.warnings)
            old = [n for n in self.chroma.names()
                   if n.startswith(f"{self.settings.collection}-") and not n.startswith(self.prefix)
                   and n.endswith(("-chunks", "-articles"))]
            if old and self.articles_name not in self.chroma.names():
                report.rebuilt = ("embedder or chunking settings changed: full rebuild "
                                  "(the previous index serves until this one is complete)")
            self._apply(loaded.articles, report, progress)
            for name in old:
                self.chroma.drop(name)
            report.seconds = time.perf_counter() - started
            return report

    def _apply(self, articles: list[Article], report: IndexReport,
               progress: Callable[[int, int], None] | None) -> None:
        chunks_col = self.chroma.get(self.chunks_name, create=True)
        articles_col = self.chroma.get(self.articles_name, create=True,
                                       metadata={"generation": 0, "complete": False})
        committed = self._read_committed(articles_col)
        stored = self._read_chunk_versions(chunks_col)  # article_id -> {hash: [chunk ids]}

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

        # Removed articles: drop the commit record first, then the chunks.
        if removed:
            self._batched(articles_col.delete, removed)
            self._batched(chunks_col.delete, [c for aid in removed for ids in stored.get(aid, {}).values() for c in ids])

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
                self._write_batch(batch, stored, chunks_col, articles_col, report)
                done += size
                if progress:
                    progress(done, total)
                batch, size = [], 0
        if batch:
            self._write_batch(batch, stored, chunks_col, articles_col, report)
            done += size
            if progress:
                progress(done, total)

        # Leftovers of interrupted runs: chunks whose version no article record commits.
        committed = self._read_committed(articles_col)
        stored = self._read_chunk_versions(chunks_col)
        orphans = [cid for aid, versions in stored.items() for h, ids in versions.items()
                   if committed.get(aid, {}).get("hash") != h for cid in ids]
        self._batched(chunks_col.delete, orphans)

        report.articles = len(committed)
        report.chunks = sum(int(r.get("n_chunks", 0)) for r in committed.values())
        meta = dict(articles_col.metadata or {})
        changed = bool(todo or removed or orphans) or not meta.get("complete")
        if changed:
            meta.update(generation=int(meta.get("generation", 0)) + 1, complete=True,
                        last_build=dt.datetime.now().isoformat(timespec="seconds"),
                        embedder=self.embedder.name, chunk_chars=self.settings.chunk_chars,
                        chunk_overlap=self.settings.chunk_overlap)
            meta.pop("hnsw:space", None)
            articles_col.modify(metadata=meta)
        # Keep BM25 in step now, so the first query does not pay for it.
        self._lexical = None
        self._generation = None
        self._handles = None
        self.lexical()

    def _write_batch(self, batch, stored, chunks_col, articles_col, report: IndexReport) -> None:
        # Reuse vectors of chunks whose embedded text did not change (edits, metadata-only
        # changes) and embed identical texts once. One forward pass per chunk gives its
        # vector and its sentences' in-context vectors (late chunking, see embedding.py).
        reuse = self._reusable_vectors(chunks_col, [stored.get(a.id, {}) for a, _ in batch])
        all_chunks = [c for _, chunks in batch for c in chunks]
        to_embed: dict[str, Chunk] = {}
        for c in all_chunks:
            if c.text_hash not in reuse:
                to_embed.setdefault(c.text_hash, c)
        if to_embed:
            todo = list(to_embed.values())
            shifted = [[(a + len(c.embed_text) - len(c.text), b + len(c.embed_text) - len(c.text))
                        for a, b in c.sentences] for c in todo]
            vectors, sentence_vectors = self.embedder.embed_with_spans([c.embed_text for c in todo], shifted)
            for c, vec, svecs in zip(todo, vectors, sentence_vectors):
                reuse[c.text_hash] = (vec, pack_vectors(svecs))
            report.embedded += len(to_embed)
        ids, vecs, docs, metas = [], [], [], []
        for article, chunks in batch:
            for c in chunks:
                vec, packed = reuse[c.text_hash]
                ids.append(c.id)
                vecs.append(vec)
                docs.append(c.text)
                metas.append(_chunk_meta(article, c) | {"sv": packed})
        if ids:
            self._batched(chunks_col.upsert, ids, embeddings=np.asarray(vecs, dtype=np.float32),
                          documents=docs, metadatas=metas)
        self._batches_written += 1
        self._maybe_crash("written")
        # Commit point: each article record names the version whose chunks are now complete.
        self._batched(articles_col.upsert, [a.id for a, _ in batch],
                      embeddings=np.ones((len(batch), 1), dtype=np.float32),
                      metadatas=[_article_meta(a, len(chunks)) for a, chunks in batch])
        self._maybe_crash("committed")
        superseded = [cid for a, _ in batch for h, cids in stored.get(a.id, {}).items()
                      if h != a.hash for cid in cids]
        self._batched(chunks_col.delete, superseded)
        for a, chunks in batch:
            stored[a.id] = {a.hash: [c.id for c in chunks]}

    def _maybe_crash(self, point: str) -> None:
        s = self.settings
        if s.crash_after_batches and s.crash_point == point and self._batches_written >= s.crash_after_batches:
            os.kill(os.getpid(), signal.SIGKILL)  # test hook: die like `kill -9` would

    def _reusable_vectors(self, chunks_col, versions: list[dict]) -> dict[str, tuple]:
        ids = [cid for v in versions for cids in v.values() for cid in cids]
        out: dict[str, tuple] = {}
        for start in range(0, len(ids), self.chroma.max_batch):
            got = chunks_col.get(ids=ids[start:start + self.chroma.max_batch],
                                 include=["embeddings", "metadatas"])
            for vec, meta in zip(got["embeddings"], got["metadatas"]):
                if meta.get("text_hash") and "sv" in meta:
                    out[meta["text_hash"]] = (np.asarray(vec, dtype=np.float32), meta["sv"])
        return out

    def _read_committed(self, articles_col) -> dict[str, dict]:
        out = {}
        offset = 0
        while True:
            got = articles_col.get(include=["metadatas"], limit=self.chroma.max_batch, offset=offset)
            out.update(zip(got["ids"], got["metadatas"]))
            if len(got["ids"]) < self.chroma.max_batch:
                return out
            offset += len(got["ids"])

    def _read_chunk_versions(self, chunks_col) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {}
        offset = 0
        while True:
            got = chunks_col.get(include=["metadatas"], limit=self.chroma.max_batch, offset=offset)
            for cid, meta in zip(got["ids"], got["metadatas"]):
                out.setdefault(meta["article_id"], {}).setdefault(meta["hash"], []).append(cid)
            if len(got["ids"]) < self.chroma.max_batch:
                return out
            offset += len(got["ids"])

    def _batched(self, method, ids: list[str], **columns) -> None:
        step = self.chroma.max_batch
        for start in range(0, len(ids), step):
            part = {k: v[start:start + step] for k, v in columns.items()}
            method(ids=ids[start:start + step], **part)


def pack_vectors(vectors: np.ndarray) -> str:
    """Unit vectors as compact text for Chroma metadata: int8 with a float16 scale per row.

    Quantisation error is below 1% of a cosine, plenty for ranking sentences; the text form
    keeps them beside the chunk in any Chroma deployment (embedded or server).
    """
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    scale = np.maximum(np.abs(vectors).max(axis=1), 1e-9)
    q = np.round(vectors / scale[:, None] * 127).astype(np.int8)
    return base64.b64encode(scale.astype(np.float16).tobytes() + q.tobytes()).decode("ascii")


def unpack_vectors(text: str, rows: int) -> np.ndarray:
    """The inverse of pack_vectors (rows = how many vectors were packed)."""
    raw = base64.b64decode(text)
    if rows == 0:
        return np.zeros((0, 0), dtype=np.float32)
    scale = np.frombuffer(raw[:2 * rows], dtype=np.float16).astype(np.float32)
    q = np.frombuffer(raw[2 * rows:], dtype=np.int8).reshape(rows, -1).astype(np.float32)
    return q * (scale / 127)[:, None]


def _lexical_text(document: str, meta: dict) -> str:
    # BM25 sees the same header as the embedder, so outlet and title words match too.
    return f"{meta.get('title', '')} {meta.get('source', '')} {document}"


def _chunk_meta(article: Article, chunk: Chunk) -> dict:
    return {
        "article_id": article.id, "hash": article.hash, "idx": chunk.index,
        "start": chunk.start, "end": chunk.end, "title": article.title,
        "source": article.source, "date": article.date or "", "day": _day(article.date),
        "url": article.url or "", "text_hash": chunk.text_hash,
        "ss": ";".join(f"{a}-{b}" for a, b in chunk.sentences),
    }


def _article_meta(article: Article, n_chunks: int) -> dict:
    return {
        "hash": article.hash, "n_chunks": n_chunks, "path": article.path,
        "title": article.title, "source": article.source, "date": article.date or "",
        "day": _day(article.date), "url": article.url or "",
    }


class _IndexLock:
    """An exclusive flock on index_dir/.index.lock; the OS releases it if the process dies."""

    def __init__(self, index_dir: Path):
        self.path = index_dir / ".index.lock"
        self.fh = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise IndexBusyError(
                f"another `assistant index` is already running on {self.path.parent} "
                f"(pid {holder}); wait for it to finish"
            ) from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(str(os.getpid()))
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()
