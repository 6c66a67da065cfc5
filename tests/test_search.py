"""search.py: one snapshot per question, unchanged by a running build (real model, real
Chroma embedded and server, real tantivy)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import write


TRAM = ("Riverton tram line approved\n\nThe Riverton city council approved the new tram line on "
        "Monday. The project is budgeted at 412 million euros. The line will have 14 stops and "
        "should carry 30,000 passengers a day when it opens in 2029.\n")
HOSPITAL = ("Northfield hospital report\n\nNorthfield hospital treated 1,870 patients during the "
            "winter flu season, its annual report says. The hospital hired 40 nurses.\n")
HARBOUR = ("Harbour dredging begins\n\nDredging of the old harbour began this week. The port "
           "authority expects larger ships to dock there from next spring.\n")


class _Stop(Exception):
    """Raised by the crash hook: the build stops after writing a batch, before committing it."""


def _corpus(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "tram.txt", TRAM)
    write(corpus / "hospital.txt", HOSPITAL)
    write(corpus / "harbour.txt", HARBOUR)
    return corpus


def test_snapshot_search_uncommitted_chunks_take_no_rank_places(make_assistant, tmp_path):
    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    question = "How much will the Riverton tram line cost?"
    snap = assistant.searcher.snapshot()
    qvec = assistant.embedder.embed_query(question)
    dense_before, lexical_before = snap.dense(qvec, 3), snap.lexical(question, 3)
    assert dense_before and lexical_before

    # A build writes copies of the tram article (the best match for the question) and stops
    # before its commit point: its rows are in Chroma and the lexical index, uncommitted.
    for n in range(4):
        write(corpus / f"tram-copy-{n}.txt", TRAM.replace("Monday", f"Monday ({n})"))

    def stop(point: str, batches: int) -> None:
        if point == "written":
            raise _Stop

    assistant.indexer.crash = stop
    with pytest.raises(_Stop):
        assistant.build_index()
    committed = assistant.store.committed()
    new_ids = {cid for aid, versions in assistant.store.versions().items() if aid not in committed
               for ids in versions.values() for cid in ids}
    assert new_ids, "the stopped build wrote no rows: the test tests nothing"

    for view in (snap, assistant.searcher.snapshot()):  # the held one and a fresh one
        for got, before in ((view.dense(qvec, 3), dense_before),
                            (view.lexical(question, 3), lexical_before)):
            assert [i for i, _ in got] == [i for i, _ in before]
            assert [sc for _, sc in got] == pytest.approx([sc for _, sc in before], abs=1e-4)
    # and the uncommitted rows are there to be found without the snapshot's filter
    assert set(i for i, _ in assistant.store.dense(qvec, 10)) & new_ids


def test_reading_lease_keeps_superseded_rows_until_released(make_assistant, tmp_path):
    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    store, searcher = assistant.store, assistant.searcher
    report: dict = {}
    with searcher.reading() as snap:
        old = {cid for cid, _ in snap.lexical("Northfield hospital patients", 5)}
        hospital = next(aid for aid, r in snap.records.items() if r["path"] == "hospital.txt")
        old_rows = {cid for cid, (aid, _) in store.versions_of(old).items() if aid == hospital}
        assert old_rows
        write(corpus / "hospital.txt", HOSPITAL.replace("40 nurses", "45 nurses"))
        builder = threading.Thread(target=lambda: report.update(r=assistant.build_index()))
        builder.start()
        deadline = time.monotonic() + 120
        while store.generation(max_age=0) == snap.generation and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.generation(max_age=0) > snap.generation, "the build never committed"
        time.sleep(0.5)
        # Committed, but this reader's snapshot still reads the whole old version.
        assert builder.is_alive()
        assert set(snap.fetch(list(old_rows))) == old_rows
    builder.join(timeout=120)
    assert not builder.is_alive() and report["r"].updated == 1
    assert store.versions_of(list(old_rows)) == {}  # released: the old rows are gone
    with searcher.reading() as fresh:
        assert fresh.generation > snap.generation
        got = fresh.fetch([cid for cid, _ in fresh.lexical("Northfield hospital nurses", 5)])
        assert any("45 nurses" in c.text for c in got.values())


def _chroma_order(assistant, qvec, k):
    """Chroma's own nearest chunks, kept to the committed ones (what search did before)."""
    snap = assistant.searcher.snapshot()
    return [cid for cid, _ in snap._committed(assistant.store.dense(qvec, 4 * k))][:k]


def test_snapshot_dense_numpy_table_agrees_with_chroma(make_assistant, tmp_path):
    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    snap = assistant.searcher.snapshot()
    assert snap.vectors is not None, "dense search fell back to Chroma"
    assert len(snap.vectors) == snap.stats.chunks
    for question in ("How much will the Riverton tram line cost?", "flu season nurses",
                     "When can larger ships dock in the harbour?"):
        qvec = assistant.embedder.embed_query(question)
        ours = snap.dense(qvec, 3)
        assert [cid for cid, _ in ours] == _chroma_order(assistant, qvec, 3)
        chroma = dict(assistant.store.dense(qvec, 10))
        # float16 copies: cosines within 1e-3 of Chroma's float32 ones
        assert [s for _, s in ours] == pytest.approx([chroma[c] for c, _ in ours], abs=1e-3)
    # filters: Chroma's where language, evaluated on the table
    qvec = assistant.embedder.embed_query("tram")
    assert snap.dense(qvec, 5, where={"day": {"$gte": 20990101}}) == []
    assert len(snap.dense(qvec, 5, where={"source": {"$in": list(snap.stats.outlets)}})) == min(5, snap.stats.chunks)


def test_snapshot_side_store_without_vectors_copies_them_from_chroma(make_assistant, tmp_path, caplog):
    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    # A side store written before chunk vectors were kept there: no vec column at all.
    with assistant.store.side.transaction() as conn:
        conn.execute("ALTER TABLE chunks DROP COLUMN vec")
    again = make_assistant(corpus)  # a new process on the same index
    with caplog.at_level("INFO", logger="assistant.store"):
        snap = again.searcher.snapshot()
    assert snap.vectors is not None and len(snap.vectors) == snap.stats.chunks
    assert "chunk vectors from Chroma" in caplog.text
    qvec = again.embedder.embed_query("How much will the Riverton tram line cost?")
    assert [cid for cid, _ in snap.dense(qvec, 3)] == _chroma_order(again, qvec, 3)
    nulls = again.store.side.writer().execute("SELECT count(*) FROM chunks WHERE vec IS NULL").fetchone()[0]
    assert nulls == 0, "the copied vectors were not saved"


def test_snapshot_vectors_incomplete_falls_back_to_chroma_and_logs(make_assistant, tmp_path, caplog,
                                                                   monkeypatch):
    import sqlite3

    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    with assistant.store.side.transaction() as conn:
        conn.execute("UPDATE chunks SET vec = NULL")
    again = make_assistant(corpus)

    def refuse(*_a, **_k):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(again.store, "_complete_vectors", refuse)  # e.g. a read-only index folder
    with caplog.at_level("WARNING", logger="assistant.store"):
        snap = again.searcher.snapshot()
    assert snap.vectors is None
    assert "dense search asks Chroma" in caplog.text and "readonly" in caplog.text
    answer = again.ask("How much will the Riverton tram line cost?")
    assert "412 million" in answer.answer


def test_snapshot_records_from_side_copy_only_while_it_is_that_generation(make_assistant, tmp_path,
                                                                         monkeypatch, backend):
    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    store = assistant.store
    gen = store.generation(max_age=0)
    chroma_records = store.committed()
    reads = []
    real_committed = store.committed
    monkeypatch.setattr(store, "committed", lambda *a, **k: reads.append(1) or real_committed(*a, **k))
    assert store.snapshot_records(gen) == chroma_records
    # Embedded: the side store's copy of that generation, no Chroma read; a server: Chroma.
    assert len(reads) == (1 if backend else 0)
    reads.clear()
    assert store.snapshot_records(gen + 1) == chroma_records  # another generation: Chroma
    assert len(reads) == 1
    reads.clear()
    # A build that began writing marks the copy stale: Chroma is read again.
    with store.writer(), store.writing():
        pass
    assert store.snapshot_records(gen) == chroma_records and len(reads) == 1


def test_vector_table_grows_when_records_undercount_chunks(make_assistant, tmp_path, monkeypatch):
    import numpy as np

    from assistant import store as store_module

    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    store = assistant.store
    records = store.snapshot_records(store.generation(max_age=0))
    whole = store.vector_table(records)
    monkeypatch.setattr(store_module, "_VECTOR_BLOCK", 1)  # one row per block: grows each time
    undercounted = {aid: {**r, "n_chunks": 0} for aid, r in records.items()}
    grown = store.vector_table(undercounted)
    assert grown.ids == whole.ids and len(grown) == 3
    assert np.array_equal(grown.columns, whole.columns)
    assert grown.columns.flags.c_contiguous


def test_embedded_question_in_new_process_loads_no_chromadb(make_assistant, tmp_path, backend):
    import subprocess
    import sys

    corpus = _corpus(tmp_path)
    assistant = make_assistant(corpus)
    assistant.build_index()
    # An index built before the side store kept these copies: a no-change run saves them.
    with assistant.store.side.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key IN ('records', 'records_generation', "
                     "'records_stale', 'last_build')")
    make_assistant(corpus).build_index()
    s = assistant.settings
    code = ("import sys; from assistant import Assistant, Settings\n"
            f"s = Settings.from_env(env={{}}, corpus_dir={str(s.corpus_dir)!r}, index_dir={str(s.index_dir)!r}, "
            f"chroma_url={s.chroma_url!r}, collection={s.collection!r})\n"
            "a = Assistant(s)\n"
            "r = a.ask('How much will the Riverton tram line cost?')\n"
            "print('ANSWER', r.answer)\n"
            "print('LAST_BUILD', a.stats().last_build)\n"
            "print('CHROMADB', 'chromadb' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "412 million" in proc.stdout
    assert "LAST_BUILD 20" in proc.stdout  # an ISO date, from the side store or Chroma
    # Embedded: the side store, tantivy and the numpy table answer; a server is asked.
    assert f"CHROMADB {bool(backend)}" in proc.stdout
