"""The store: Chroma (chunk vectors, commit records, the generation) plus a SQLite side
store (passages, lexical index, chunk and sentence vectors, annotations, file manifest). The
only module that talks to Chroma. Questions are searched in numpy over a snapshot's copy of
the chunk vectors (dense.py, ``vector_table``); Chroma's own vector search is the fallback.

Layout, per settings fingerprint (embedder + chunking), for deployment ``<name>``
(``Settings.collection``):
- Chroma ``<name>-<fp>-chunks``: one record per chunk: its vector and only what filters and
  bookkeeping need (article id, version hash, day, outlet);
- Chroma ``<name>-<fp>-articles``: one record per indexed article (version hash, chunk count,
  path, title, outlet, date); its collection metadata holds the store's ``generation``;
- Chroma ``<name>.owned``: the exact collection names this deployment created. A rebuild
  with new settings drops only names listed there, never another deployment's
  (``news`` never touches ``news-eu-…``);
- SQLite ``index_dir/side-<name>-<fp>[-<server>].sqlite3``: per chunk its passage, title,
  outlet, date, url, offsets, sentence spans, sentence vectors (int8 with a float16 scale
  per row, a blob), its vector (float16, a blob), annotations (JSON) and stemmed terms; plus the manifest of corpus files,
  each file's last parse without texts, and a copy of the article records as the last
  complete build left them (``build_records``; marked stale before a build writes);
- tantivy ``index_dir/lexical-<name>-<fp>[-<server>]/``: BM25 over the chunks' terms
  (lexical.py), a derived copy of the side store's terms (rebuilt from them if it is lost).

Commit rule: an article record is the commit point. A batch writes its chunks to the side
store, then the lexical index, then Chroma, then upserts the article records; superseded
versions are deleted at the end of the build, after the generation is bumped and once this
process's readers of older snapshots are done (``lease``/``retire``). A reader keeps a chunk only
when its version hash equals the article record of its snapshot, so it never sees half an
article or one twice, and an interrupted run (even ``kill -9``) leaves rows that no record
commits, which the next build deletes. The side store is always a superset of the lexical
index and of Chroma (written before, deleted after).

Concurrency model:
- One writer per store. Embedded: an exclusive ``flock`` on ``index_dir/.index.lock``
  (content: the holder's pid and, for a serving app, its URL); a serving app holds it for
  its whole life (``hold_writer``), so ``assistant index`` beside it is refused with a
  message naming the app's pid and URL; the app's own rebuilds run in-process. With a
  Chroma server: the collection ``<name>.writer`` is the lock (creating a collection is
  atomic on the server, so writers on any machine are serialized); the holder refreshes
  a heartbeat in its metadata and a lock whose heartbeat is older than
  ``WRITER_STALE_S`` is taken over (its holder died).
- Readers never share mutable state with the writer. search.py gives each question one
  immutable ``Snapshot`` (generation, committed article records, outlets, the read-only
  table of the committed chunks' vectors), replaced by one
  assignment when the generation moves, holding a tantivy searcher of the last lexical
  commit (immutable); its dense and lexical hits are filtered by the snapshot's records before
  they are ranked, and it leases its generation for the question (search.py). Each reader
  thread has its own read-only (``query_only``) SQLite connection; SQLite's WAL gives it a
  consistent view per statement while the writer commits beside it. Nothing a reader holds
  is mutated in place.
- With a Chroma server, every app instance keeps its own side store, built from the
  collection when the server's generation differs from the local one (the chunk records
  then also carry the passage fields, sentence vectors and annotations); embedded, those
  live only in the side store.
- Embedded, a reader never opens Chroma: every build records the generation and the time
  of the build in the side store right after Chroma's (``finish``) and, once complete, a
  copy of the article records of that generation (``save_manifest``; marked stale before
  a build writes, so a reader falls back to Chroma while one runs or after one died). The
  generation, the records, the passages, the vectors and BM25 then all come from the side
  store and tantivy, which also sees a writer in another process at once (Chroma's
  PersistentClient would not: it is single-process).
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .config import Settings, offline_environment
from .dense import VectorTable
from .errors import ConfigError, IndexBusyError, IndexMissingError
from .lexical import LexicalIndex, LexicalSnapshot, coverage, terms_text

__all__ = ["FORMAT_VERSION", "IndexStats", "Store", "StoredChunk", "WriterLock", "fingerprint",
           "pack_vectors", "unpack_vectors"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 3: passages, sentence vectors and BM25 in the SQLite side store
WRITER_STALE_S = 120.0  # a server-side writer lock without a heartbeat this long is dead
_HEARTBEAT_S = 15.0
RETIRE_WAIT_S = 60.0  # longest a build waits for readers of the previous snapshot


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
    annotations: dict = field(default_factory=dict)  # what the indexer's annotator computed


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


def fingerprint(settings: Settings, embedder_name: str) -> str:
    spec = json.dumps([FORMAT_VERSION, embedder_name, settings.chunk_chars, settings.chunk_overlap])
    return hashlib.sha1(spec.encode()).hexdigest()[:10]


def pack_vectors(vectors: np.ndarray) -> bytes:
    """Unit vectors as int8 with a float16 scale per row (error < 1% of a cosine)."""
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    scale = np.maximum(np.abs(vectors).max(axis=1), 1e-9) if len(vectors) else np.zeros(0)
    q = np.round(vectors / scale[:, None] * 127).astype(np.int8) if len(vectors) else vectors.astype(np.int8)
    return scale.astype(np.float16).tobytes() + q.tobytes()


def unpack_vectors(raw: bytes, rows: int) -> np.ndarray:
    """The inverse of pack_vectors (rows = how many vectors were packed)."""
    if rows == 0 or not raw:
        return np.zeros((0, 0), dtype=np.float32)
    scale = np.frombuffer(raw[:2 * rows], dtype=np.float16).astype(np.float32)
    q = np.frombuffer(raw[2 * rows:], dtype=np.int8).reshape(rows, -1).astype(np.float32)
    return q * (scale / 127)[:, None]


_VECTOR_BLOCK = 4096  # chunk vectors converted at a time when a snapshot's table is built
_SQL_PARAMS = 900  # SQLite's bound-parameter limit, with room to spare


def _by_ids(conn: sqlite3.Connection, sql: str, ids: Sequence[str]) -> list[tuple]:
    """The rows of ``sql`` (ending in ``WHERE id IN ({})``) for ids, run in parts that stay
    under SQLite's bound-parameter limit (a DELETE gives no rows)."""
    ids = list(ids)
    rows: list[tuple] = []
    for start in range(0, len(ids), _SQL_PARAMS):
        part = ids[start:start + _SQL_PARAMS]
        rows += conn.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return rows


def _copy_current(rows: dict[str, str], generation: int) -> bool:
    """Whether the side store's meta rows say its records copy is that of generation and
    no build began writing since."""
    return (rows.get("records_stale") == "0" and "records" in rows
            and rows.get("records_generation") == str(generation))


def _day(date: str | None) -> int:
    return int(date.replace("-", "")) if date else 0


_SIDE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS chunks(
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
    hash TEXT NOT NULL, text_hash TEXT NOT NULL, idx INTEGER, start INTEGER, end INTEGER,
    title TEXT, source TEXT, date TEXT, url TEXT, text TEXT, terms TEXT, spans TEXT,
    sv BLOB, annotations TEXT, vec BLOB);
CREATE INDEX IF NOT EXISTS chunks_version ON chunks(article_id, hash);
CREATE INDEX IF NOT EXISTS chunks_text_hash ON chunks(text_hash);
CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,
    sha TEXT);
CREATE TABLE IF NOT EXISTS parsed(path TEXT PRIMARY KEY, summary TEXT);
"""

_ROW_COLUMNS = ("id", "article_id", "hash", "text_hash", "idx", "start", "end", "title", "source",
                "date", "url", "text", "terms", "spans", "sv", "annotations")


_INSERT_ROW = (f"INSERT INTO chunks({', '.join(_ROW_COLUMNS)}, vec) VALUES "
               f"({','.join('?' * (len(_ROW_COLUMNS) + 1))})")


class _Side:
    """The SQLite side store: one writer connection, one read-only connection per thread."""

    def __init__(self, path: Path):
        self.path = path
        self._write: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._local = threading.local()

    def exists(self) -> bool:
        return self.path.exists()

    def writer(self) -> sqlite3.Connection:
        if self._write is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable against process crashes
            conn.executescript(_SIDE_SCHEMA)
            # Side stores written before chunk vectors were kept here gain the column; the
            # vectors are copied from Chroma on the next snapshot (Store.vector_table).
            if "vec" not in {r[1] for r in conn.execute("PRAGMA table_info(chunks)")}:
                conn.execute("ALTER TABLE chunks ADD COLUMN vec BLOB")
            self._write = conn
        return self._write

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self.writer()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def reader(self) -> sqlite3.Connection:
        """This thread's connection (query_only: it cannot write)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                raise IndexMissingError(f"the index's side store {self.path} is missing; "
                                        "rebuild it with `assistant index`")
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
        return conn

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        if not self.path.exists():
            return default
        row = self.reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default


class _Chroma:
    """The Chroma client (embedded or server) with pagination written once."""

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
        from .embedding import explicit_embeddings

        if create:
            return self.client.get_or_create_collection(
                name, embedding_function=explicit_embeddings(), metadata=metadata,
                configuration={"hnsw": {"space": "cosine"}},
            )
        return self.client.get_collection(name, embedding_function=explicit_embeddings())

    def drop(self, name: str) -> None:
        self.client.delete_collection(name)

    def pages(self, collection, include: list[str], **kw) -> Iterator[dict]:
        """Every record of a collection, max_batch at a time."""
        offset = 0
        while True:
            got = collection.get(include=include, limit=self.max_batch, offset=offset, **kw)
            yield got
            if len(got["ids"]) < self.max_batch:
                return
            offset += len(got["ids"])

    def batched(self, method, ids: Sequence[str], **columns) -> None:
        step = self.max_batch
        for start in range(0, len(ids), step):
            part = {k: v[start:start + step] for k, v in columns.items()}
            method(ids=list(ids[start:start + step]), **part)


class Store:
    """The index of one deployment and settings fingerprint: reads, writes, generation."""

    def __init__(self, settings: Settings, *, embedder_name: str):
        self.settings = settings
        self.embedder_name = embedder_name
        self.fp = fingerprint(settings, embedder_name)
        self.prefix = f"{settings.collection}-{self.fp}"
        self.chunks_name = f"{self.prefix}-chunks"
        self.articles_name = f"{self.prefix}-articles"
        self.owned_name = f"{settings.collection}.owned"
        self.server = bool(settings.chroma_url)
        suffix = ("-" + hashlib.sha1(settings.chroma_url.encode()).hexdigest()[:8]) if self.server else ""
        self.side = _Side(Path(settings.index_dir) / f"side-{self.prefix}{suffix}.sqlite3")
        self.lexical_index = LexicalIndex(Path(settings.index_dir) / f"lexical-{self.prefix}{suffix}")
        self._local_write = threading.RLock()  # this process's writes to side + lexical
        self._chroma: _Chroma | None = None
        self._chroma_lock = threading.Lock()
        self._handles = None
        self._generation: int | None = None
        self._generation_read = 0.0
        self._writer = WriterLock(self)
        # Readers of this process lease the generation of their snapshot for one question;
        # a build deletes the rows it superseded only once no lease of an older one is held.
        self._leases: dict[int, int] = {}
        self._leases_cv = threading.Condition()

    # -- plumbing -------------------------------------------------------------------------
    @property
    def chroma(self) -> _Chroma:
        with self._chroma_lock:
            if self._chroma is None:
                self._chroma = _Chroma(self.settings)
            return self._chroma

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir)

    def meta(self) -> dict:
        """The articles collection's metadata; {} when it does not exist (other errors,
        e.g. an unreachable server, propagate)."""
        if self.articles_name not in self.chroma.names():
            return {}
        return dict(self.chroma.get(self.articles_name).metadata or {})

    def local_generation(self) -> int | None:
        """Embedded store: the generation as the side store recorded it (every ``finish``
        writes it right after Chroma's), read without importing chromadb (~4 s of a no-change
        ``assistant index``); None when there is no complete build to trust, or with a
        server (other machines write there: ask Chroma)."""
        if self.server or not (Path(self.settings.index_dir) / "chroma.sqlite3").is_file():
            return None
        value = self.side.get_meta("generation")
        return int(value) if value is not None and value.isdigit() else None

    def exists(self) -> bool:
        names = self.chroma.names()
        return self.articles_name in names and self.chunks_name in names and \
            bool(self.meta().get("complete", False))

    def _require(self):
        """The (chunks, articles) collections; IndexMissingError when not built yet."""
        handles = self._handles
        if handles is None:
            if not self.exists():
                raise IndexMissingError(
                    f"no index at {self.where} for these settings; build it with `assistant index` "
                    f"(corpus: {self.settings.corpus_dir})"
                )
            handles = self._handles = (self.chroma.get(self.chunks_name), self.chroma.get(self.articles_name))
        return handles

    def _read(self, fn):
        """Run a read against the collections; if they vanished (dropped by a rebuild with
        other settings), look them up again once, which names the fix if they are gone."""
        try:
            return fn(*self._require())
        except IndexMissingError:
            raise
        except Exception as exc:
            log.info("chroma read failed (%s); looking the collections up again", exc)
            self._handles = None
            return fn(*self._require())

    # -- read side ------------------------------------------------------------------------
    def generation(self, max_age: float = 1.0) -> int:
        """The store's generation (bumped by every build that changed something); read at
        most every max_age seconds (this process's own builds update it at once). Embedded:
        the side store's record of it (``local_generation``), so that a question, whose every
        read is of the side store, the tantivy index and the numpy vector table, never loads
        chromadb (1.2-1.6 s of a cold start); with a server, or no complete build recorded
        there, Chroma's."""
        now = time.monotonic()
        if self._generation is None or now - self._generation_read >= max_age:
            local = self.local_generation()
            self._generation = local if local is not None else int(self.meta().get("generation", 0))
            self._generation_read = now
        return self._generation

    def committed(self, partial: bool = False) -> dict[str, dict]:
        """Article id -> its commit record (hash, n_chunks, path, title, source, date...).
        partial: also from an index whose first build did not complete (the indexer)."""
        if partial:
            if self.articles_name not in self.chroma.names():
                return {}
            articles = self.chroma.get(self.articles_name)
        else:
            _, articles = self._require()
        out: dict[str, dict] = {}
        for got in self.chroma.pages(articles, ["metadatas"]):
            out.update(zip(got["ids"], got["metadatas"]))
        return out

    article_records = committed

    def build_records(self) -> dict[str, dict]:
        """``committed(partial=True)`` for a build, from the side store's copy when it is
        certain to be Chroma's (``_saved_records``). Reading 2,300 records back from Chroma
        was a fifth of a re-index after one new file."""
        if self.server:
            return self.committed(partial=True)
        saved = self._saved_records(self.generation(max_age=0), self.side.writer())
        return saved if saved is not None else self.committed(partial=True)

    def snapshot_records(self, generation: int) -> dict[str, dict]:
        """``committed()`` as of generation, for a reader's snapshot: the side store's copy
        when it holds exactly that generation's records (embedded), else read from Chroma.
        At 100k chunks reading 30k records from Chroma took 2.7 s and kept ~150 MB in
        chromadb's allocations for the life of the process; the copy is 0.3 s and 28 MB."""
        if not self.server and self.side.exists():
            saved = self._saved_records(generation, self.side.reader(), check_chroma=False)
            if saved is not None:
                return saved
        return self.committed()

    def _saved_records(self, generation: int, conn: sqlite3.Connection,
                       check_chroma: bool = True) -> dict[str, dict] | None:
        """The side store's copy of the article records when it is certain to be Chroma's
        at generation: embedded (no other machine writes), saved by the build that completed
        that generation (``save_manifest``), and no build began writing since (``writing``
        marks the copy stale first, so a build killed midway leaves it stale). The three
        values are read in one statement, so a writer's commit beside it is seen whole or
        not at all. check_chroma: also that Chroma still has the collection (a build; a
        reader skips it, as a build that drops this fingerprint's collections deletes its side
        store with them)."""
        if self.server:
            return None
        rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN "
                                 "('records', 'records_generation', 'records_stale')").fetchall())
        if (_copy_current(rows, generation)
                and (not check_chroma or self.articles_name in self.chroma.names())):
            try:
                return json.loads(rows["records"])
            except ValueError as exc:
                log.warning("reading the article records from Chroma: their copy is unreadable: %s", exc)
        return None

    def keep_records_copy(self, generation: int) -> None:
        """Embedded, under the writer lock: save Chroma's article records (and the time of
        the last build) in the side store unless current copies are there. A side store of
        a build made before they were kept gets them on its next no-change run; readers
        then never load chromadb."""
        if self.server:
            return
        rows = dict(self.side.writer().execute(
            "SELECT key, value FROM meta WHERE key IN ('records_generation', 'records_stale', "
            "'last_build') UNION ALL SELECT 'records', '' FROM meta WHERE key = 'records'").fetchall())
        if not rows.get("last_build"):
            with self.side.transaction() as tx:
                tx.execute("INSERT OR REPLACE INTO meta VALUES ('last_build', ?)",
                           (str(self.meta().get("last_build") or ""),))
        if _copy_current(rows, generation):
            return
        log.info("saving a copy of the article records in the side store %s", self.side.path)
        self._save_records(self.committed(partial=True), generation)

    def _save_records(self, records: dict[str, dict], generation: int,
                      conn: sqlite3.Connection | None = None) -> None:
        values = [("records", json.dumps(records)), ("records_generation", str(generation)),
                  ("records_stale", "0")]
        if conn is not None:
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values)
            return
        with self.side.transaction() as tx:
            tx.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values)

    def stats(self, records: dict[str, dict] | None = None) -> IndexStats:
        metas = list((records if records is not None else self.committed()).values())
        outlets: dict[str, int] = {}
        dates = []
        for m in metas:
            outlets[m.get("source", "")] = outlets.get(m.get("source", ""), 0) + 1
            if m.get("date"):
                dates.append(m["date"])
        return IndexStats(
            articles=len(metas), chunks=sum(int(m.get("n_chunks", 0)) for m in metas),
            outlets=dict(sorted(outlets.items(), key=lambda kv: (-kv[1], kv[0]))),
            first_date=min(dates) if dates else None, last_date=max(dates) if dates else None,
            last_build=self._last_build(),
        )

    def _last_build(self) -> str | None:
        """When the last changing build finished: from the side store (embedded; written by
        ``finish``), else from Chroma's collection metadata."""
        if not self.server:
            local = self.side.get_meta("last_build")
            if local:
                return local
        return self.meta().get("last_build")

    def dense(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[str, float]]:
        def query(chunks, _):
            got = chunks.query(query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
                               n_results=k, where=where or None, include=["distances"])
            return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0])]

        return self._read(query)

    def vector_table(self, records: dict[str, dict]) -> VectorTable | None:
        """The committed chunks' vectors (records: a snapshot's article records) for exact
        search in numpy (dense.py), read from the side store's float16 copies. Chunks
        written before the side store kept vectors get theirs from Chroma first, once.
        None (search goes to Chroma, logged) when the side store cannot be completed, e.g.
        a read-only index folder or chunks Chroma has no vector for."""
        try:
            self.side.writer()  # opening it adds the vec column to an older side store
            table, missing = self._read_vectors(records)
            if missing:  # one scan finds them: no second pass over the table per snapshot
                self._complete_vectors(missing)
                table, missing = self._read_vectors(records)
        except (sqlite3.Error, OSError, ValueError) as exc:
            log.warning("dense search asks Chroma: the side store's chunk vectors could not "
                        "be completed (%s)", exc)
            return None
        if missing:
            log.warning("dense search asks Chroma: chunk %s has no vector in the side store "
                        "(written while this snapshot was built?)", missing[0])
            return None
        return table

    def _read_vectors(self, records: dict[str, dict]) -> tuple[VectorTable | None, list[str]]:
        """(the table of the committed chunks, []) or (None, the committed chunk ids whose
        vector the side store lacks)."""
        ids, days, sources, block, missing = [], [], [], [], []
        # Filled block by block into one (dimension, n) float32 matrix sized by the records'
        # chunk counts: at 100k chunks, collecting every blob first and converting them
        # after doubled the peak memory of a snapshot.
        columns: np.ndarray | None = None
        expected = sum(int(r.get("n_chunks", 0)) for r in records.values())

        def flush() -> None:
            nonlocal columns
            rows = np.frombuffer(b"".join(block), dtype=np.float16).reshape(len(block), -1)
            end, start = len(ids), len(ids) - len(block)
            if columns is None:
                columns = np.zeros((rows.shape[1], max(expected, end)), dtype=np.float32)
            elif end > columns.shape[1]:  # more committed rows than the records count
                grown = np.zeros((columns.shape[0], max(2 * columns.shape[1], end)), dtype=np.float32)
                grown[:, :start] = columns[:, :start]
                columns = grown
            columns[:, start:end] = rows.T
            block.clear()

        # Read on this thread's own connection: the writer's may be inside a build's
        # transaction on another thread (only side.transaction() serializes its use).
        for cid, aid, h, date, source, vec in self.side.reader().execute(
                "SELECT id, article_id, hash, date, source, vec FROM chunks"):
            if (records.get(aid) or {}).get("hash") != h:
                continue  # an uncommitted or superseded version
            if vec is None:
                missing.append(cid)
                continue
            if missing:
                continue  # no table this time: only the missing ids are still wanted
            ids.append(cid)
            days.append(_day(date))
            sources.append(source or "")
            block.append(vec)
            if len(block) == _VECTOR_BLOCK:
                flush()
        if missing:
            return None, missing
        if block:
            flush()
        if columns is None:
            return VectorTable.build([], np.zeros((0, 0), dtype=np.float32), [], []), []
        return VectorTable.from_columns(ids, columns[:, :len(ids)], days, sources), []

    def _complete_vectors(self, missing: list[str]) -> None:
        """Copy Chroma's vectors of these committed chunks (of side stores written before
        it kept them) into the side store."""
        log.info("copying %d chunk vectors from Chroma into the side store %s (once)",
                 len(missing), self.side.path)
        chunks, _ = self._require()
        for start in range(0, len(missing), self.chroma.max_batch):
            got = chunks.get(ids=missing[start:start + self.chroma.max_batch], include=["embeddings"])
            with self.side.transaction() as tx:
                tx.executemany("UPDATE chunks SET vec = ? WHERE id = ?",
                               [(np.asarray(v, dtype=np.float16).tobytes(), cid)
                                for cid, v in zip(got["ids"], got["embeddings"])])

    def versions_of(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Chunk id -> (article id, version hash), from the side store (a superset of Chroma
        and the lexical index: ids it lacks are rows of another machine's uncommitted build)."""
        rows = _by_ids(self.side.reader(), "SELECT id, article_id, hash FROM chunks WHERE id IN ({})",
                       list(dict.fromkeys(ids)))
        return {cid: (aid, h) for cid, aid, h in rows}

    # -- reader leases --------------------------------------------------------------------
    def lease(self, generation: int) -> bool:
        """Hold generation's rows for one reader; False (nothing held) when this process
        has already committed a newer generation: the caller takes a new snapshot."""
        with self._leases_cv:
            if self._generation is not None and generation < self._generation:
                return False
            self._leases[generation] = self._leases.get(generation, 0) + 1
            return True

    def release(self, generation: int) -> None:
        with self._leases_cv:
            left = self._leases.get(generation, 0) - 1
            if left > 0:
                self._leases[generation] = left
            else:
                self._leases.pop(generation, None)
                self._leases_cv.notify_all()

    def retire(self, ids: Sequence[str], timeout: float = RETIRE_WAIT_S) -> None:
        """Delete rows no record of the current generation commits, once this process's
        readers of older snapshots are done (waiting at most timeout seconds)."""
        ids = list(ids)
        if not ids:
            return
        current = self._generation if self._generation is not None else 0
        with self._leases_cv:
            if not self._leases_cv.wait_for(
                    lambda: not any(g < current for g in self._leases), timeout=timeout):
                log.warning("deleting %d superseded chunks while readers of generations %s still "
                            "run (waited %.0f s): their answers may miss those passages",
                            len(ids), sorted(g for g in self._leases if g < current), timeout)
        self.delete_chunks(ids)

    def lexical_snapshot(self) -> LexicalSnapshot:
        if not self.lexical_index.exists():
            raise IndexMissingError(f"the lexical index {self.lexical_index.path} is missing; "
                                    "rebuild it with `assistant index`")
        return self.lexical_index.snapshot()

    def coverage(self, question: str, chunks: dict[str, tuple[str, str]],
                 lexical: LexicalSnapshot) -> dict[str, float]:
        """lexical.coverage for chunk id -> (article id, version hash), terms from the side store."""
        if not chunks:
            return {}
        conn = self.side.reader()
        ids = list(chunks)
        own = {cid: set(t.split()) for cid, t in conn.execute(
            f"SELECT id, terms FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids)}
        versions: dict[tuple[str, str], set[str]] = {}
        for version in set(chunks.values()):
            versions[version] = set().union(*(set(r[0].split()) for r in conn.execute(
                "SELECT terms FROM chunks WHERE article_id = ? AND hash = ?", version)))
        out = coverage(question, own, {cid: versions[chunks[cid]] for cid in own},
                       lexical.doc_freq, lexical.num_docs)
        return {cid: out.get(cid, 0.0) for cid in chunks}

    def fetch(self, ids: Sequence[str], committed: dict[str, dict] | None = None) -> dict[str, StoredChunk]:
        """Chunks by id from the side store, keeping only those of the committed version
        of their article (committed: the snapshot's records; None reads them now)."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        rows = _by_ids(self.side.reader(),
                       f"SELECT {', '.join(_ROW_COLUMNS)} FROM chunks WHERE id IN ({{}})", ids)
        if committed is None:
            arts = sorted({r[1] for r in rows})
            _, articles = self._require()
            got = articles.get(ids=arts, include=["metadatas"]) if arts else {"ids": [], "metadatas": []}
            committed = dict(zip(got["ids"], got["metadatas"]))
        out = {}
        for row in rows:
            r = dict(zip(_ROW_COLUMNS, row))
            if (committed.get(r["article_id"]) or {}).get("hash") != r["hash"]:
                continue  # an uncommitted new version or a superseded old one
            spans = [tuple(map(int, p.split("-"))) for p in r["spans"].split(";")] if r["spans"] else []
            out[r["id"]] = StoredChunk(
                id=r["id"], article_id=r["article_id"], text=r["text"], title=r["title"] or "",
                source=r["source"] or "", date=r["date"] or None, url=r["url"] or None,
                start=int(r["start"] or 0), end=int(r["end"] or 0), hash=r["hash"],
                sentences=spans,
                sentence_vectors=unpack_vectors(r["sv"], len(spans)) if spans else None,
                annotations=json.loads(r["annotations"]) if r["annotations"] else {},
            )
        return out

    def chunk_ids(self) -> list[str]:
        """Every chunk id in Chroma (committed or not)."""
        chunks, _ = self._require()
        return [i for got in self.chroma.pages(chunks, []) for i in got["ids"]]

    # -- side store in step with a server ------------------------------------------------
    def sync_side(self) -> None:
        """With a Chroma server: bring this machine's side store (and lexical index) in
        line with the server's chunks when the generation differs (another instance
        wrote). Embedded: nothing to do (the side store is the only copy)."""
        if not self.server or not self.exists():
            return
        with self._local_write:
            gen = self.generation(max_age=0)
            if self.side.exists() and self.side.get_meta("generation") == str(gen) \
                    and self.lexical_index.exists():
                return
            chunks, _ = self._require()
            remote = set(self.chunk_ids())
            with self.side.transaction() as conn:
                local = {r[0] for r in conn.execute("SELECT id FROM chunks")}
                stale = sorted(local - remote)
                missing = sorted(remote - local)
                _by_ids(conn, "DELETE FROM chunks WHERE id IN ({})", stale)
                for start in range(0, len(missing), self.chroma.max_batch):
                    got = chunks.get(ids=missing[start:start + self.chroma.max_batch],
                                     include=["documents", "metadatas", "embeddings"])
                    conn.executemany(_INSERT_ROW, [
                        _row_from_server(i, d, m) + (np.asarray(v, dtype=np.float16).tobytes(),)
                        for i, d, m, v in zip(got["ids"], got["documents"], got["metadatas"],
                                              got["embeddings"])])
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(gen),))
            with self._lexical_writer():
                if stale:
                    self.lexical_index.delete(stale)
                if missing:
                    self.lexical_index.replace(_by_ids(
                        self.side.writer(), "SELECT id, terms FROM chunks WHERE id IN ({})", missing))
                self._repair_lexical()
            log.info("side store %s synced from the server: %d added, %d removed",
                     self.side.path, len(missing), len(stale))

    @contextmanager
    def _lexical_writer(self):
        """The tantivy writer, open for the duration (re-entrant inside a build)."""
        opened = self.lexical_index._writer is None
        self.lexical_index.open_writer()
        try:
            yield self.lexical_index
        finally:
            if opened:
                self.lexical_index.close_writer()

    def _repair_lexical(self) -> None:
        """Rebuild the lexical index from the side store when they disagree (lost folder,
        a sync): a derived copy, so this loses nothing."""
        n_side = self.side.writer().execute("SELECT count(*) FROM chunks").fetchone()[0]
        if self.lexical_index.exists() and self.lexical_index.snapshot().num_docs == n_side:
            return
        log.info("rebuilding the lexical index %s from the side store (%d chunks)",
                 self.lexical_index.path, n_side)
        self.lexical_index.rebuild(self.side.writer().execute("SELECT id, terms FROM chunks"))

    # -- write side (the indexer, under writer()) ----------------------------------------
    def writer(self, url: str = ""):
        """The writer lock (see the module docstring); IndexBusyError when held elsewhere."""
        return self._writer.hold(url)

    def hold_writer(self, url: str):
        """Become this embedded store's only writer until the returned release() is called
        (a serving app, for its whole life). With a Chroma server writers are serialized
        per build instead, so this holds nothing there."""
        if self.server:
            return lambda: None
        return self._writer.acquire_forever(url)

    @contextmanager
    def writing(self):
        """The (chunks, articles) collections for a build, created (and recorded as owned)
        if missing, with the lexical writer open; call under writer()."""
        with self._local_write:
            self._own([self.chunks_name, self.articles_name])
            chunks = self.chroma.get(self.chunks_name, create=True)
            articles = self.chroma.get(self.articles_name, create=True,
                                       metadata={"generation": 0, "complete": False})
            self._handles = (chunks, articles)
            # Before any record changes: the side store's copy of the records is stale until
            # this build completes and saves them (build_records).
            with self.side.transaction() as conn:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('records_stale', '1')")
            with self._lexical_writer():
                self._repair_lexical()
                yield chunks, articles

    def versions(self) -> dict[str, dict[str, list[str]]]:
        """Article id -> {version hash: [chunk ids]} as the side store holds them."""
        out: dict[str, dict[str, list[str]]] = {}
        for cid, aid, h in self.side.writer().execute("SELECT id, article_id, hash FROM chunks ORDER BY rowid"):
            out.setdefault(aid, {}).setdefault(h, []).append(cid)
        return out

    def reusable(self, chunk_ids: Sequence[str]) -> dict[str, tuple[np.ndarray, bytes]]:
        """text_hash -> (vector, packed sentence vectors) of stored chunks (for reuse)."""
        out: dict[str, tuple[np.ndarray, bytes]] = {}
        if not chunk_ids:
            return out
        chunks, _ = self._handles or self._require()
        conn = self.side.writer()
        sv = {cid: (th, blob) for cid, th, blob in _by_ids(
            conn, "SELECT id, text_hash, sv FROM chunks WHERE id IN ({})", chunk_ids)}
        for start in range(0, len(chunk_ids), self.chroma.max_batch):
            got = chunks.get(ids=list(chunk_ids[start:start + self.chroma.max_batch]), include=["embeddings"])
            for cid, vec in zip(got["ids"], got["embeddings"]):
                if cid in sv:
                    out[sv[cid][0]] = (np.asarray(vec, dtype=np.float32), sv[cid][1])
        return out

    def write_chunks(self, rows: list[dict], vectors: np.ndarray) -> None:
        """Store chunk rows (dicts with _ROW_COLUMNS keys) and their vectors: side store
        first, then Chroma, so the side store always holds at least Chroma's chunks."""
        if not rows:
            return
        ids = [r["id"] for r in rows]
        packed = np.asarray(vectors, dtype=np.float16)
        with self.side.transaction() as conn:
            _by_ids(conn, "DELETE FROM chunks WHERE id IN ({})", ids)
            conn.executemany(_INSERT_ROW, [tuple(r[c] for c in _ROW_COLUMNS) + (packed[i].tobytes(),)
                                           for i, r in enumerate(rows)])
        self.lexical_index.replace((r["id"], r["terms"]) for r in rows)
        chunks, _ = self._handles
        metas = [_chroma_meta(r, self.server) for r in rows]
        extra = {"documents": [r["text"] for r in rows]} if self.server else {}
        self.chroma.batched(chunks.upsert, ids, embeddings=np.asarray(vectors, dtype=np.float32),
                            metadatas=metas, **extra)

    def commit(self, records: dict[str, dict]) -> None:
        """Upsert article records: the commit point of their chunks."""
        if records:
            _, articles = self._handles
            self.chroma.batched(articles.upsert, list(records),
                                embeddings=np.ones((len(records), 1), dtype=np.float32),
                                metadatas=list(records.values()))

    def uncommit(self, article_ids: Sequence[str]) -> None:
        if article_ids:
            _, articles = self._handles
            self.chroma.batched(articles.delete, list(article_ids))

    def delete_chunks(self, ids: Sequence[str]) -> None:
        """Chroma first, then the lexical index, then the side store."""
        ids = list(ids)
        if not ids:
            return
        chunks, _ = self._handles
        self.chroma.batched(chunks.delete, ids)
        self.lexical_index.delete(ids)
        with self.side.transaction() as conn:
            _by_ids(conn, "DELETE FROM chunks WHERE id IN ({})", ids)

    def finish(self, changed: bool, info: dict) -> int:
        """Bump the generation (when something changed) and mark the build complete."""
        _, articles = self._handles
        meta = dict(articles.metadata or {})
        if changed or not meta.get("complete"):
            meta.update(generation=int(meta.get("generation", 0)) + 1, complete=True,
                        last_build=dt.datetime.now().isoformat(timespec="seconds"), **info)
            meta.pop("hnsw:space", None)
            articles.modify(metadata=meta)
        gen = int(meta.get("generation", 0))
        with self.side.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [("generation", str(gen)), ("last_build", str(meta.get("last_build") or ""))])
        self._generation, self._generation_read = gen, time.monotonic()
        return gen

    # -- manifest -------------------------------------------------------------------------
    def manifest(self) -> tuple[dict[str, tuple[int, int, str]], dict]:
        """({path: (size, mtime_ns, sha)}, saved build facts) of the last complete build."""
        conn = self.side.writer()
        files = {p: (s, m, h) for p, s, m, h in conn.execute("SELECT path, size, mtime_ns, sha FROM files")}
        row = conn.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
        return files, (json.loads(row[0]) if row else {})

    def parsed(self) -> dict[str, dict]:
        """{path: what the last complete build's parse of that file gave, without texts}
        (corpus.LoadReport.files, with its parse_key), saved with the manifest."""
        conn = self.side.writer()
        out = {}
        for path, summary in conn.execute("SELECT path, summary FROM parsed"):
            try:
                out[path] = json.loads(summary)
            except ValueError as exc:  # the file is parsed again
                log.warning("ignoring the saved parse of %s: %s", path, exc)
        return out

    def save_manifest(self, files: dict[str, tuple[int, int, str]], facts: dict,
                      parsed: dict[str, dict] | None = None,
                      records: dict[str, dict] | None = None) -> None:
        """Save the corpus files' state after a complete build (and, when given, each file's
        parse and the article records as Chroma now holds them, for ``build_records``).
        Only rows that changed are written."""
        with self.side.transaction() as conn:
            old = {p: (s, m, h) for p, s, m, h in conn.execute("SELECT path, size, mtime_ns, sha FROM files")}
            _by_ids(conn, "DELETE FROM files WHERE path IN ({})", [p for p in old if p not in files])
            conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                             [(p, *v) for p, v in files.items() if tuple(old.get(p, ())) != tuple(v)])
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('manifest', ?)", (json.dumps(facts),))
            if parsed is not None:
                saved = dict(conn.execute("SELECT path, summary FROM parsed"))
                new = {p: json.dumps(v) for p, v in parsed.items()}
                _by_ids(conn, "DELETE FROM parsed WHERE path IN ({})", [p for p in saved if p not in new])
                conn.executemany("INSERT OR REPLACE INTO parsed VALUES (?, ?)",
                                 [(p, v) for p, v in new.items() if saved.get(p) != v])
            if records is not None:
                self._save_records(records, facts.get("generation"), conn)

    # -- collection ownership -------------------------------------------------------------
    def owned(self) -> list[str]:
        """Collection names this deployment created (older indexes: adopted by exact pattern)."""
        names = self.chroma.names()
        if self.owned_name in names:
            return json.loads((self.chroma.get(self.owned_name).metadata or {}).get("names", "[]"))
        pattern = re.compile(re.escape(self.settings.collection) + r"-[0-9a-f]{10}-(chunks|articles)")
        return [n for n in names if pattern.fullmatch(n)]

    def _own(self, add: Iterable[str] = (), drop: Iterable[str] = ()) -> None:
        names = [n for n in self.owned() if n not in set(drop)]
        names += [n for n in add if n not in names]
        col = self.chroma.get(self.owned_name, create=True, metadata={"names": "[]"})
        col.modify(metadata={"names": json.dumps(names)})

    def drop_superseded_collections(self) -> list[str]:
        """Drop the collections of this deployment's other fingerprints (only names it
        recorded as its own) and their side stores; returns the dropped names."""
        current = {self.chunks_name, self.articles_name}
        existing = set(self.chroma.names())
        stale = [n for n in self.owned() if n not in current]
        for name in stale:
            if name in existing:
                self.chroma.drop(name)
                log.info("dropped collection %s (superseded settings of deployment %s)",
                         name, self.settings.collection)
            prefix = name.rsplit("-", 1)[0]
            for side in Path(self.settings.index_dir).glob(f"side-{prefix}*.sqlite3*"):
                side.unlink(missing_ok=True)
        if stale:
            self._own(drop=stale)
        return stale


def _chroma_meta(row: dict, server: bool) -> dict:
    meta = {"article_id": row["article_id"], "hash": row["hash"], "day": _day(row["date"]),
            "source": row["source"]}
    if server:  # everything another app instance needs to build its side store
        meta.update(text_hash=row["text_hash"], idx=row["idx"], start=row["start"], end=row["end"],
                    title=row["title"], date=row["date"] or "", url=row["url"] or "",
                    ss=row["spans"], sv=base64.b64encode(row["sv"] or b"").decode("ascii"),
                    ann=row["annotations"] or "")
    return meta


def _row_from_server(cid: str, document: str, m: dict) -> tuple:
    from .lexical import terms_text

    r = {"id": cid, "article_id": m["article_id"], "hash": m["hash"], "text_hash": m.get("text_hash", ""),
         "idx": m.get("idx", 0), "start": m.get("start", 0), "end": m.get("end", 0),
         "title": m.get("title", ""), "source": m.get("source", ""), "date": m.get("date") or None,
         "url": m.get("url") or None, "text": document or "", "spans": m.get("ss", ""),
         "sv": base64.b64decode(m.get("sv", "")), "annotations": m.get("ann") or None}
    r["terms"] = terms_text(r["title"], r["source"], r["text"])
    return tuple(r[c] for c in _ROW_COLUMNS)


# Locks this process holds, by path: a second Store on the same index in this process
# (tests, the app and its rebuilds) shares the holder instead of deadlocking on flock.
_HELD: dict[str, "_FileLock"] = {}
_HELD_LOCK = threading.Lock()
_BUILD_LOCKS: dict[str, threading.Lock] = {}  # one build at a time per index in this process


class _FileLock:
    """An exclusive flock on index_dir/.index.lock; the OS releases it if the process dies.
    The file names the holder (pid, and the URL of a serving app)."""

    def __init__(self, index_dir: Path):
        self.path = Path(index_dir) / ".index.lock"
        self.fh = None
        self.users = 0
        self.forever = False

    def acquire(self, url: str = "") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raw = fh.read().strip()
            fh.close()
            try:
                holder = json.loads(raw)
            except ValueError:
                holder = {"pid": raw or "?"}
            if holder.get("url"):
                raise IndexBusyError(
                    f"the index at {self.path.parent} is served by the app at {holder['url']} "
                    f"(pid {holder.get('pid')}), which is its only writer: update it from the app "
                    f"(Articles → Rebuild index, or POST /rebuild), or stop the app first"
                ) from None
            raise IndexBusyError(
                f"another `assistant index` is already running on {self.path.parent} "
                f"(pid {holder.get('pid')}); wait for it to finish"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "url": url}))
        fh.flush()
        self.fh = fh

    def release(self) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


class _ServerLock:
    """The writer lock of a deployment on a Chroma server: the collection <name>.writer.
    Creating a collection is atomic on the server, so one writer wins on any machine."""

    def __init__(self, store: Store):
        self.store = store
        self.name = f"{store.settings.collection}.writer"
        self.token = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._stop: threading.Event | None = None
        self.users = 0
        self.forever = False

    def acquire(self, url: str = "") -> None:
        from .embedding import explicit_embeddings

        client = self.store.chroma.client
        meta = {"holder": self.token, "url": url or "", "since": time.time(), "beat": time.time()}
        for _ in range(2):
            try:
                client.create_collection(self.name, metadata=meta, embedding_function=explicit_embeddings())
                break
            except Exception as exc:  # exists: someone holds it (or held it and died)
                try:
                    held = dict(client.get_collection(self.name).metadata or {})
                except Exception:
                    log.info("writer lock %s vanished while reading it; retrying (%s)", self.name, exc)
                    continue
                if time.time() - float(held.get("beat", 0)) > WRITER_STALE_S:
                    log.warning("taking over the writer lock %s of %s (no heartbeat for %.0f s)",
                                self.name, held.get("holder"), time.time() - float(held.get("beat", 0)))
                    client.delete_collection(self.name)
                    continue
                raise IndexBusyError(
                    f"another writer ({held.get('holder')}{', serving ' + held['url'] if held.get('url') else ''}) "
                    f"is updating deployment {self.store.settings.collection!r} on "
                    f"{self.store.settings.chroma_url}; wait for it to finish"
                ) from None
        else:
            raise IndexBusyError(f"could not take the writer lock {self.name}; try again")
        self._stop = threading.Event()
        threading.Thread(target=self._beat, args=(self._stop,), daemon=True,
                         name="writer-heartbeat").start()

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(_HEARTBEAT_S):
            try:
                col = self.store.chroma.client.get_collection(self.name)
                meta = dict(col.metadata or {})
                if meta.get("holder") != self.token:
                    log.error("writer lock %s was taken over by %s", self.name, meta.get("holder"))
                    return
                col.modify(metadata={**meta, "beat": time.time()})
            except Exception as exc:
                log.warning("writer lock heartbeat failed: %s", exc)

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None
            try:
                self.store.chroma.client.delete_collection(self.name)
            except Exception as exc:
                log.warning("could not release the writer lock %s: %s", self.name, exc)


class WriterLock:
    """One writer per store (see the module docstring). Re-entrant within the process:
    builds in one process are serialized by a thread lock and share the held lock."""

    def __init__(self, store: Store):
        self.store = store

    def _lock(self):
        key = (self.store.settings.chroma_url + "|" + self.store.settings.collection) if self.store.server \
            else str(Path(self.store.settings.index_dir).resolve())
        with _HELD_LOCK:
            lock = _HELD.get(key)
            if lock is None:
                lock = _HELD[key] = _ServerLock(self.store) if self.store.server else \
                    _FileLock(Path(self.store.settings.index_dir))
            return key, lock

    def _enter(self, url: str, forever: bool) -> None:
        key, lock = self._lock()
        with _HELD_LOCK:
            if lock.users == 0 and not lock.forever:
                lock.acquire(url)
            if forever:
                lock.forever = True
            else:
                lock.users += 1

    def _exit(self) -> None:
        key, lock = self._lock()
        with _HELD_LOCK:
            lock.users -= 1
            if lock.users == 0 and not lock.forever:
                lock.release()
                _HELD.pop(key, None)

    @contextmanager
    def hold(self, url: str = ""):
        key, _ = self._lock()
        with _HELD_LOCK:
            build_lock = _BUILD_LOCKS.setdefault(key, threading.Lock())
        with build_lock:
            self._enter(url, forever=False)
            try:
                yield self
            finally:
                self._exit()

    def acquire_forever(self, url: str):
        """Hold the lock until the returned release() is called."""
        self._enter(url, forever=True)
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            key, lock = self._lock()
            with _HELD_LOCK:
                lock.forever = False
                if lock.users == 0:
                    lock.release()
                    _HELD.pop(key, None)

        return release
