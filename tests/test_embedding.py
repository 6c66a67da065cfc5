"""The embedder's question path: the numpy BERT encoder on the question thread (no torch),
its sentence-transformers fallback on one torch thread, concurrent questions batched,
vectors identical to a direct encode (real model)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from assistant import embedding
from assistant.bert import BertEncoder
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
    """Record (thread name, encoder type, batch size) of every question encode; optionally
    hold the first call until `hold` is set."""
    calls: list[tuple[str, str, int]] = []
    real = embedding._encode_questions

    def spy(encoder, texts, batch_size):
        calls.append((threading.current_thread().name, type(encoder).__name__, len(texts)))
        if hold is not None and len(calls) == 1:
            assert hold.wait(60), "the test never released the first encode"
        return real(encoder, texts, batch_size)

    monkeypatch.setattr(embedding, "_encode_questions", spy)
    return calls


def test_embed_query_bert_model_encoded_in_numpy_on_question_thread(embedder, monkeypatch):
    calls = _spy(monkeypatch)
    vector = embedder.embed_query(QUESTIONS[0])
    assert calls == [("query-encoder", "BertEncoder", 1)]
    np.testing.assert_allclose(vector, embedder.embed([QUESTIONS[0]])[0], atol=1e-5)


@pytest.mark.parametrize("text", ["", "x", "Ça coûte combien? 東京 🚋 naïve café",
                                  "How much will the Riverton tram line cost? " * 60])  # > 256 tokens
def test_bert_encoder_equals_sentence_transformers(embedder, text):
    encoder = BertEncoder(embedder.model_path)
    np.testing.assert_allclose(encoder.encode_one(text), embedder.embed([text])[0], atol=1e-5)


def test_embed_query_in_fresh_process_imports_no_torch():
    code = ("import sys; from assistant.config import Settings; "
            "from assistant.embedding import SentenceTransformerEmbedder; "
            "e = SentenceTransformerEmbedder(Settings.from_env(env={}).model_path()); "
            "v = e.embed_query('who met Rustam Emomali?'); "
            "print(v.shape, [m for m in ('torch', 'sentence_transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(384,) []"


def test_embed_query_other_model_falls_back_to_one_torch_thread(embedder, monkeypatch, tmp_path):
    import torch

    # The packaged model with CLS pooling is not what bert.py computes: sentence-transformers
    # encodes its questions, on one torch thread.
    folder = tmp_path / "cls-model"
    shutil.copytree(embedder.model_path, folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    other = SentenceTransformerEmbedder(str(folder))
    threads: list[int] = []
    real = embedding._encode_questions

    def spy(encoder, texts, batch_size):
        threads.append(torch.get_num_threads())
        return real(encoder, texts, batch_size)

    monkeypatch.setattr(embedding, "_encode_questions", spy)
    before = torch.get_num_threads()
    vector = other.embed_query(QUESTIONS[1])
    assert threads == [1]
    np.testing.assert_allclose(vector, other.embed([QUESTIONS[1]])[0], atol=1e-5)
    assert not np.allclose(vector, embedder.embed([QUESTIONS[1]])[0], atol=1e-3)  # CLS, not mean
    # The caller, and threads started afterwards, keep the process's thread count.
    seen = []
    worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    assert torch.get_num_threads() == before and seen == [before]


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
    def broken(encoder, texts, batch_size):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(embedding, "_encode_questions", broken)
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        embedder.embed_query("anything")
    monkeypatch.undo()
    assert embedder.embed_query(QUESTIONS[0]).shape == (384,)  # the worker keeps serving


def test_bert_encoder_refuses_a_model_with_a_dense_layer(embedder, tmp_path):
    folder = tmp_path / "dense-model"
    shutil.copytree(embedder.model_path, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="modules beyond"):
        BertEncoder(folder)
