"""Crash safety: `kill -9` of `assistant index` at several points, then a re-run, ends with
an index identical to a clean build; readers never see half an article or one twice."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.store import _FileLock
from tests.conftest import write

BIN = Path(sys.executable).parent / "assistant"
TOPICS = ["harbour", "budget", "bridge", "election", "museum", "railway", "hospital", "festival"]


def write_corpus(corpus: Path, version: int) -> None:
    for i, topic in enumerate(TOPICS):
        write(corpus / f"{topic}.txt",
              f"date 2024-0{1 + i % 9}-1{i} The {topic} story, version {version}, begins in the town hall. "
              f"Officials discussed the {topic} at length with residents. "
              f"Critics said the {topic} plan was too expensive for a small town. "
              f"A vote on the {topic} is expected next month, version {version} says.")


def run_index(corpus: Path, index: Path, **env):
    full = {**os.environ, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
            "ASSISTANT_CHUNK_CHARS": "150", "ASSISTANT_INDEX_BATCH_CHUNKS": "4",
            **{f"ASSISTANT_{k.upper()}": str(v) for k, v in env.items()}}
    return subprocess.run([str(BIN), "index", "--json"], capture_output=True, text=True, env=full, timeout=300)


def snapshot(settings) -> tuple[dict, list]:
    from assistant import Assistant

    assistant = Assistant(settings)
    records = {aid: (r["hash"], r["n_chunks"]) for aid, r in assistant.index.article_records().items()}
    ids = sorted(assistant.store.chunk_ids())
    return records, ids


# Each test kills a real indexing process and rebuilds: the integration tier.
pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def clean_builds(tmp_path_factory, settings_factory):
    """Reference snapshots of clean builds of corpus versions 1 and 2."""
    out = {}
    for version in (1, 2):
        root = tmp_path_factory.mktemp(f"clean{version}")
        write_corpus(root / "corpus", version)
        assert run_index(root / "corpus", root / "index").returncode == 0
        settings = settings_factory(root / "corpus", index_dir=root / "index", chunk_chars=150)
        out[version] = snapshot(settings)
    assert len(out[1][0]) == len(TOPICS) and len(out[1][1]) > len(TOPICS)
    return out


@pytest.mark.parametrize("point,after", [("written", 1), ("committed", 1), ("written", 3), ("committed", 4)])
def test_kill_during_first_build_then_rerun_equals_clean_build(tmp_path, clean_builds, settings_factory, point, after):
    write_corpus(tmp_path / "corpus", 1)
    killed = run_index(tmp_path / "corpus", tmp_path / "index", crash_after_batches=after, crash_point=point)
    assert killed.returncode == -9, killed.stderr
    done = run_index(tmp_path / "corpus", tmp_path / "index")
    assert done.returncode == 0, done.stderr
    settings = settings_factory(tmp_path / "corpus", index_dir=tmp_path / "index", chunk_chars=150)
    assert snapshot(settings) == clean_builds[1]


@pytest.mark.parametrize("point", ["written", "committed"])
def test_kill_during_update_readers_consistent_and_rerun_equals_clean(tmp_path, clean_builds, settings_factory, point):
    from assistant import Assistant

    write_corpus(tmp_path / "corpus", 1)
    assert run_index(tmp_path / "corpus", tmp_path / "index").returncode == 0
    write_corpus(tmp_path / "corpus", 2)
    killed = run_index(tmp_path / "corpus", tmp_path / "index", crash_after_batches=2, crash_point=point)
    assert killed.returncode == -9

    # A reader of the half-updated index sees each article in exactly one version, whole.
    settings = settings_factory(tmp_path / "corpus", index_dir=tmp_path / "index", chunk_chars=150)
    reader = Assistant(settings)
    records = reader.store.article_records()
    visible = reader.store.fetch(reader.store.chunk_ids())
    per_article: dict[str, set] = {}
    for chunk in visible.values():
        per_article.setdefault(chunk.article_id, set()).add(chunk.hash)
        assert chunk.hash == records[chunk.article_id]["hash"]
    assert all(len(h) == 1 for h in per_article.values())
    for aid, rec in records.items():
        assert sum(1 for c in visible.values() if c.article_id == aid) == rec["n_chunks"]
    versions = {("version 2" in c.text) for c in visible.values()}
    assert versions == {True, False}  # genuinely mid-update: some old, some new
    answer = reader.ask("What did officials discuss about the museum?")
    for c in answer.citations:
        assert records[c.article_id]["hash"] == visible[c.chunk_id].hash

    done = run_index(tmp_path / "corpus", tmp_path / "index")
    assert done.returncode == 0, done.stderr
    assert snapshot(settings) == clean_builds[2]


def test_second_index_process_refused_while_first_holds_lock(tmp_path):
    write_corpus(tmp_path / "corpus", 1)
    (tmp_path / "index").mkdir()
    lock = _FileLock(tmp_path / "index")
    lock.acquire()
    try:
        proc = run_index(tmp_path / "corpus", tmp_path / "index")
    finally:
        lock.release()
    assert proc.returncode == 1
    assert "another `assistant index` is already running" in proc.stderr
    assert run_index(tmp_path / "corpus", tmp_path / "index").returncode == 0  # lock released
