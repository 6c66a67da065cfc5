"""Shared fixtures: the real model is loaded once per session; indexes live in tmp dirs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEED = ROOT / "corpus" / "000_db5d042bbc5024b2.txt"
SEED_QUESTION = "what did the Speakers discuss about AI legislation?"
SEED_SENTENCE = "the Majilis is working actively over the drafts of the law on artificial intelligence and the Digital Code"


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory):
    from assistant import Settings

    def make(corpus_dir: Path, **kw) -> Settings:
        index_dir = kw.pop("index_dir", None) or tmp_path_factory.mktemp("index")
        return Settings.from_env(env={}, corpus_dir=corpus_dir, index_dir=index_dir, **kw)

    return make


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("seed-corpus")
    shutil.copy(SEED, corpus / SEED.name)
    return corpus


@pytest.fixture(scope="session")
def seed_assistant(seed_corpus, settings_factory):
    """An Assistant over the seed corpus with its index built (model loaded once)."""
    from assistant import Assistant

    assistant = Assistant(settings_factory(seed_corpus))
    assistant.build_index()
    return assistant


@pytest.fixture
def make_assistant(settings_factory, tmp_path):
    """A fresh Assistant over a corpus folder the test writes (shares the loaded model)."""
    from assistant import Assistant

    def make(corpus_dir: Path | None = None, **kw):
        corpus = corpus_dir or (tmp_path / "corpus")
        corpus.mkdir(exist_ok=True)
        return Assistant(settings_factory(corpus, index_dir=tmp_path / "index", **kw))

    return make


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def needs_shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data not available)")
    return path
