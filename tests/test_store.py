"""The store: collection ownership between deployments, writer locks, side stores per
app instance on a Chroma server, binary sentence vectors."""

import subprocess
import sys
import uuid

import numpy as np
import pytest

from assistant.errors import IndexBusyError
from assistant.store import pack_vectors, unpack_vectors
from tests.conftest import write

STORY_A = "The harbour reopened on Monday after storm damage. Fishing boats returned quickly."
STORY_B = "The council approved a new budget for schools. Teachers welcomed the extra money."


def test_pack_vectors_round_trip_within_one_percent():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    back = unpack_vectors(pack_vectors(v), 5)
    assert back.shape == (5, 384)
    assert np.max(np.abs((back * v).sum(1) - 1)) < 0.01


def test_two_deployments_one_server_survive_each_others_rebuilds(chroma_server, tmp_path, settings_factory):
    from assistant import Assistant

    base = f"n{uuid.uuid4().hex[:6]}"
    write(tmp_path / "c1" / "a.txt", STORY_A)
    write(tmp_path / "c2" / "b.txt", STORY_B)
    news = Assistant(settings_factory(tmp_path / "c1", chroma_url=chroma_server, collection=base,
                                      index_dir=tmp_path / "i1"))
    news_eu = Assistant(settings_factory(tmp_path / "c2", chroma_url=chroma_server,
                                         collection=f"{base}-eu", index_dir=tmp_path / "i2"))
    news.build_index()
    news_eu.build_index()
    # Each deployment rebuilds with new settings: the other one keeps its index.
    news2 = Assistant(news.settings.replace(chunk_chars=300))
    assert "full rebuild" in news2.build_index().rebuilt
    assert news_eu.store.exists() and news_eu.stats().articles == 1
    eu2 = Assistant(news_eu.settings.replace(chunk_chars=300))
    assert "full rebuild" in eu2.build_index().rebuilt
    assert news2.store.exists() and news2.stats().articles == 1
    assert not news.store.exists() and not news_eu.store.exists()  # their own old ones are gone
    assert set(news2.store.owned()) == {news2.store.chunks_name, news2.store.articles_name}
    assert "Teachers welcomed" in eu2.ask("What did teachers welcome?").answer
    assert "harbour reopened on Monday" in news2.ask("When did the harbour reopen?").answer


def test_second_app_instance_builds_its_side_store_from_the_server(chroma_server, tmp_path, settings_factory):
    from assistant import Assistant

    name = f"t{uuid.uuid4().hex[:8]}"
    write(tmp_path / "corpus" / "a.txt", STORY_A)
    writer = Assistant(settings_factory(tmp_path / "corpus", chroma_url=chroma_server, collection=name,
                                        index_dir=tmp_path / "machine1"))
    writer.build_index()
    reader = Assistant(settings_factory(tmp_path / "corpus", chroma_url=chroma_server, collection=name,
                                        index_dir=tmp_path / "machine2"))
    first = reader.ask("When did the harbour reopen?")
    assert "Fishing boats" in first.answer or "harbour reopened" in first.answer
    # The writer adds an article; the reader's next snapshot (new generation) finds it.
    write(tmp_path / "corpus" / "b.txt", STORY_B)
    writer.build_index()
    reader.store._generation = None  # skip the once-a-second poll interval
    assert "Teachers welcomed" in reader.ask("What did teachers welcome?").answer
    chunk = next(iter(reader.store.fetch(reader.store.chunk_ids()).values()))
    assert chunk.sentence_vectors is not None and chunk.sentence_vectors.shape[1] == 384
    # the chunk vectors came with the sync: dense search runs on this machine, not on Chroma
    snap = reader.searcher.snapshot()
    assert snap.vectors is not None and len(snap.vectors) == snap.stats.chunks == len(reader.store.chunk_ids())


def test_server_writer_lock_refuses_a_second_writer_anywhere(chroma_server, tmp_path, settings_factory):
    from assistant.store import Store

    name = f"t{uuid.uuid4().hex[:8]}"
    a = Store(settings_factory(tmp_path, chroma_url=chroma_server, collection=name,
                               index_dir=tmp_path / "m1"), embedder_name="x")
    with a.writer():
        # Another machine: a separate process with its own index folder.
        code = ("import sys; from assistant import Settings; from assistant.store import Store\n"
                f"s = Settings.from_env(env={{}}, chroma_url={chroma_server!r}, collection={name!r}, "
                f"index_dir={str(tmp_path / 'm2')!r})\n"
                "try:\n    Store(s, embedder_name='x').writer().__enter__()\n"
                "except Exception as e:\n    print(type(e).__name__, e); sys.exit(3)\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "IndexBusyError" in proc.stdout and "another writer" in proc.stdout
    with a.writer():  # released, and can be taken again
        pass


def test_embedded_writer_held_by_app_refuses_index_naming_pid_and_url(tmp_path, settings_factory):
    from assistant.store import Store

    store = Store(settings_factory(tmp_path, index_dir=tmp_path / "idx"), embedder_name="x")
    code = ("import sys, time; from assistant import Settings; from assistant.store import Store\n"
            f"s = Settings.from_env(env={{}}, index_dir={str(tmp_path / 'idx')!r})\n"
            "Store(s, embedder_name='x').hold_writer('http://127.0.0.1:7999')\n"
            "print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(IndexBusyError, match=rf"served by the app at http://127.0.0.1:7999 \(pid {proc.pid}\)"):
            with store.writer():
                pass
    finally:
        proc.kill()
        proc.wait()
    with store.writer():  # the OS released the dead holder's lock
        pass


@pytest.mark.slow
def test_assistant_index_beside_serving_app_refused_with_pid_and_url(tmp_path):
    import os
    from pathlib import Path

    from tests.conftest import SEED, free_port, wait_until_serving

    bin_dir = Path(sys.executable).parent
    write(tmp_path / "corpus" / SEED.name, SEED.read_text(encoding="utf-8"))
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(tmp_path / "corpus"),
           "ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
    assert subprocess.run([str(bin_dir / "assistant"), "index"], env=env, capture_output=True,
                          timeout=300).returncode == 0
    port = free_port()
    app = subprocess.Popen([str(bin_dir / "assistant"), "serve", "--no-index", "--port", str(port)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # A loaded CI machine starts gradio slowly.
        wait_until_serving(f"http://127.0.0.1:{port}/", app, timeout=300, what="the app")
        proc = subprocess.run([str(bin_dir / "assistant"), "index"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 1
        assert f"served by the app at http://127.0.0.1:{port} (pid {app.pid})" in proc.stderr
    finally:
        app.terminate()
        app.wait(timeout=30)
    # The app is gone: the index is writable again.
    assert subprocess.run([str(bin_dir / "assistant"), "index"], env=env, capture_output=True,
                          timeout=300).returncode == 0
