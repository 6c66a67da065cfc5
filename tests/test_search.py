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
