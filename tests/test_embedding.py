"""The embedder's question path: its own torch thread count, concurrent questions batched,
vectors identical to a direct encode (real model)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from assistant import embedding
from assistant.config import Settings
from assistant.embedding import SentenceTransformerEmbedder

QUESTIONS = ["what did the Speakers discuss about AI legislation?",
             "Who won the election in Tajikistan?", "When did the delegation visit Astana?",
             "What is the Digital Code?", "Which parliament met on 26 August?",
             "How many seats does the Majilis have?"]


@pytest.fixture(scope="module")
def embedder():
    return SentenceTransformerEmbedder(Settings.from_env(env={}).model_path())


def _spy(monkeypatch, *, hold: threading.Event | None = None):
    """Record (thread name, torch threads, batch size) of every encode call; optionally hold
    the first call until `hold` is set."""
    import torch

    calls: list[tuple[str, int, int]] = []
    real = embedding._encode

    def spy(model, texts, batch_size):
        calls.append((threading.current_thread().name, torch.get_num_threads(), len(texts)))
        if hold is not None and len(calls) == 1:
            assert hold.wait(60), "the test never released the first encode"
        return real(model, texts, batch_size)

    monkeypatch.setattr(embedding, "_encode", spy)
    return calls


def test_embed_query_single_question_runs_on_one_torch_thread(embedder, monkeypatch):
    import torch

    before = torch.get_num_threads()
    calls = _spy(monkeypatch)
    vector = embedder.embed_query(QUESTIONS[0])
    assert calls == [("query-encoder", 1, 1)]
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    # The caller, and threads started afterwards, keep the process's thread count.
    seen = []
    worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    assert torch.get_num_threads() == before and seen == [before]
    calls.clear()
    embedder.embed(QUESTIONS[:2])  # the batch path stays on the calling thread, all cores
    assert calls == [(threading.current_thread().name, before, 2)]


def test_embed_query_concurrent_questions_batched_with_direct_vectors(embedder, monkeypatch):
    direct = embedder.embed(QUESTIONS)
    hold = threading.Event()
    calls = _spy(monkeypatch, hold=hold)
    results: dict[int, np.ndarray] = {}

    def ask(i):
        results[i] = embedder.embed_query(QUESTIONS[i])

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:  # the worker is inside the first encode
        time.sleep(0.01)
    rest = [threading.Thread(target=ask, args=(i,)) for i in range(1, len(QUESTIONS))]
    for t in rest:
        t.start()
    worker = embedding._worker(embedder.model_path, 1)
    while worker.queue.qsize() < len(rest) and time.monotonic() < deadline:
        time.sleep(0.01)
    hold.set()
    for t in [first, *rest]:
        t.join(30)
    # Five questions waited while the first was encoded: they were encoded in one call.
    assert [n for _, _, n in calls] == [1, len(rest)]
    for i in range(len(QUESTIONS)):
        np.testing.assert_allclose(results[i], direct[i], atol=1e-5)


def test_embed_query_encode_error_reaches_the_caller(embedder, monkeypatch):
    def broken(model, texts, batch_size):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(embedding, "_encode", broken)
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        embedder.embed_query("anything")
    monkeypatch.undo()
    assert embedder.embed_query(QUESTIONS[0]).shape == (384,)  # the worker keeps serving
