import pytest

from assistant.errors import CorpusError, IndexBusyError, IndexMissingError
from assistant.store import _FileLock
from tests.conftest import write

STORY_A = "The harbour reopened on Monday after storm damage. Fishing boats returned quickly."
STORY_B = "The council approved a new budget for schools. Teachers welcomed the extra money."
STORY_C = "A new bridge opened over the river. Commuters saved twenty minutes a day."


def chunk_counts(assistant) -> dict[str, int]:
    return {rec["path"]: rec["n_chunks"] for rec in assistant.index.article_records().values()}


def test_build_index_reindex_without_change_embeds_nothing(make_assistant, tmp_path):
    write(tmp_path / "corpus" / "a.txt", STORY_A)
    write(tmp_path / "corpus" / "b.txt", STORY_B)
    assistant = make_assistant()
    first = assistant.build_index()
    assert (first.added, first.articles, first.embedded) == (2, 2, first.chunks)
    before = assistant.embedder.count
    second = assistant.build_index()
    assert (second.added, second.updated, second.removed, second.unchanged) == (0, 0, 0, 2)
    assert second.embedded == 0 and assistant.embedder.count == before


def test_build_index_edit_add_delete_followed_exactly(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", STORY_A)
    write(corpus / "b.txt", STORY_B)
    assistant = make_assistant(chunk_chars=100, chunk_overlap=0)
    assistant.build_index()
    write(corpus / "a.txt", STORY_A + " The mayor thanked the crews for their work on the pier.")
    (corpus / "b.txt").unlink()
    write(corpus / "c.txt", STORY_C)
    report = assistant.build_index()
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 0)
    # Only the new sentence of a.txt and the new article were embedded; old chunks reused.
    # a.txt: its first chunk is unchanged (reused), the new sentence is a new chunk.
    assert report.embedded == 2
    assert chunk_counts(assistant) == {"a.txt": 2, "c.txt": 1}
    stats = assistant.stats()
    assert (stats.articles, stats.chunks) == (2, 3)
    ids = assistant.store.chunk_ids()
    assert len(ids) == len(set(ids)) == 3  # no leftovers of the old version or of b.txt


def test_build_index_metadata_only_change_reembeds_nothing_when_text_header_same(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "a.md", "---\ntitle: Harbour\nurl: https://a.example/1\n---\n" + STORY_A)
    assistant = make_assistant()
    assistant.build_index()
    write(corpus / "a.md", "---\ntitle: Harbour\nurl: https://a.example/2\n---\n" + STORY_A)
    report = assistant.build_index()
    assert report.updated == 1 and report.embedded == 0
    [rec] = assistant.index.article_records().values()
    assert rec["url"] == "https://a.example/2"


def test_build_index_settings_change_triggers_full_rebuild(make_assistant, tmp_path, settings_factory):
    from assistant import Assistant

    write(tmp_path / "corpus" / "a.txt", STORY_A)
    assistant = make_assistant()
    assistant.build_index()
    changed = Assistant(assistant.settings.replace(chunk_chars=300))
    report = changed.build_index()
    assert "full rebuild" in report.rebuilt
    assert report.added == 1
    assert not assistant.index.exists()  # the old collections are gone
    assert changed.index.exists()


def test_build_index_empty_corpus_refused_and_index_kept(make_assistant, tmp_path):
    write(tmp_path / "corpus" / "a.txt", STORY_A)
    assistant = make_assistant()
    assistant.build_index()
    (tmp_path / "corpus" / "a.txt").unlink()
    with pytest.raises(CorpusError, match="holds no readable article"):
        assistant.build_index()
    assert assistant.stats().articles == 1


def test_build_index_bad_files_reported_rest_indexed(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", STORY_A)
    write(corpus / "bad.json", "{oops")
    write(corpus / "empty.txt", "")
    report = make_assistant().build_index()
    assert report.articles == 1
    assert {p.path for p in report.skipped} == {"bad.json", "empty.txt"}


def test_search_missing_index_names_the_command(make_assistant):
    assistant = make_assistant()
    with pytest.raises(IndexMissingError, match="assistant index"):
        assistant.ask("anything at all?")


def test_index_lock_second_holder_refused(tmp_path):
    first = _FileLock(tmp_path)
    first.acquire()
    with pytest.raises(IndexBusyError, match="already running"):
        _FileLock(tmp_path).acquire()
    first.release()
    again = _FileLock(tmp_path)  # released after the first holder left
    again.acquire()
    again.release()


def test_build_index_annotator_runs_per_written_chunk_and_reads_back(make_assistant, tmp_path):
    from assistant import Assistant

    calls = []

    def annotate(article, chunks):
        calls.append(article.path)
        return [{"path": article.path, "n": c.index, "url": article.url} for c in chunks]

    write(tmp_path / "corpus" / "a.md", "---\ntitle: Harbour\nurl: https://a.example/1\n---\n" + STORY_A)
    plain = make_assistant()
    assistant = Assistant(plain.settings, embedder=plain.embedder, annotator=annotate)
    assistant.build_index()
    chunks = assistant.store.fetch(assistant.store.chunk_ids())
    assert [c.annotations for c in chunks.values()] == [{"path": "a.md", "n": 0, "url": "https://a.example/1"}]
    # A metadata-only change reuses the vectors but annotates again (annotations may
    # depend on the article's fields, e.g. its date).
    write(tmp_path / "corpus" / "a.md", "---\ntitle: Harbour\nurl: https://a.example/2\n---\n" + STORY_A)
    report = assistant.build_index()
    assert report.updated == 1 and report.embedded == 0
    assert calls == ["a.md", "a.md"]
    [chunk] = assistant.store.fetch(assistant.store.chunk_ids()).values()
    assert chunk.annotations["url"] == "https://a.example/2"
    assert plain.build_index().unchanged == 1  # no annotator: nothing else changes


def test_build_index_no_change_run_parses_nothing(make_assistant, tmp_path, monkeypatch):
    import assistant.indexer as indexer

    write(tmp_path / "corpus" / "a.txt", STORY_A)
    write(tmp_path / "corpus" / "bad.json", "{oops")
    assistant = make_assistant()
    assistant.build_index()

    def refuse(*args, **kwargs):
        raise AssertionError("a no-change run parsed the corpus")

    monkeypatch.setattr(indexer, "load_articles", refuse)
    monkeypatch.setattr(assistant.store, "versions", refuse)
    report = assistant.build_index()
    assert (report.unchanged, report.articles, report.added) == (1, 1, 0)
    assert [p.path for p in report.skipped] == ["bad.json"]
    (tmp_path / "corpus" / "a.txt").touch()  # same bytes, new mtime: still no parse
    assert assistant.build_index().unchanged == 1
    monkeypatch.undo()
    write(tmp_path / "corpus" / "b.txt", STORY_B)
    assert assistant.build_index().added == 1


def test_build_index_one_new_file_parses_only_that_file(make_assistant, tmp_path, monkeypatch):
    import assistant.corpus as corpus_module

    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", STORY_A)
    write(corpus / "b.md", "---\ntitle: Budget\nsource: Gazette\n---\n" + STORY_B)
    write(corpus / "bad.json", "{oops")
    assistant = make_assistant()
    assistant.build_index()
    parsed = []
    real = corpus_module.parse_file
    monkeypatch.setattr(corpus_module, "parse_file",
                        lambda path, rel, *a, **k: parsed.append(rel) or real(path, rel, *a, **k))
    write(corpus / "c.txt", STORY_C)
    report = assistant.build_index()
    # The new file, and the one that could not be read (tried on every build); not a or b.
    assert sorted(parsed) == ["bad.json", "c.txt"]
    assert (report.added, report.unchanged, report.articles) == (1, 2, 3)
    assert [p.path for p in report.skipped] == ["bad.json"]
    assert chunk_counts(assistant) == {"a.txt": 1, "b.md": 1, "c.txt": 1}
    # Same size, same mtime, other bytes: the content hash of a touched file is what counts,
    # so a file whose stat moved is read again; one whose stat did not is trusted.
    parsed.clear()
    text = STORY_A.replace("Monday", "Sunday")
    st = (corpus / "a.txt").stat()
    write(corpus / "a.txt", text)
    import os
    os.utime(corpus / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    report = assistant.build_index()
    assert "a.txt" in parsed and "b.md" not in parsed
    assert report.updated == 1
    assert "Sunday" in " ".join(c.text for c in assistant.store.fetch(assistant.store.chunk_ids()).values())


def test_build_index_unchanged_file_with_missing_chunks_is_parsed_and_rewritten(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", STORY_A)
    write(corpus / "b.txt", STORY_B)
    assistant = make_assistant()
    assistant.build_index()
    # A's chunks vanish (a crash between writes, a hand-edited store): its file did not
    # change, so the build knows it only from the saved parse, and must read it after all.
    [victim] = [cid for cid, c in assistant.store.fetch(assistant.store.chunk_ids()).items()
                if c.article_id == next(aid for aid, r in assistant.store.committed().items()
                                        if r["path"] == "a.txt")]
    with assistant.store.writer(), assistant.store.writing():
        assistant.store.delete_chunks([victim])
    write(corpus / "c.txt", STORY_C)  # a change, so the build is not a no-change run
    report = assistant.build_index()
    assert report.added == 1 and report.updated == 1
    texts = " ".join(c.text for c in assistant.store.fetch(assistant.store.chunk_ids()).values())
    assert "harbour reopened" in texts


def test_build_records_side_copy_equals_chroma_until_a_build_begins_writing(make_assistant, tmp_path, monkeypatch):
    write(tmp_path / "corpus" / "a.txt", STORY_A)
    write(tmp_path / "corpus" / "b.txt", STORY_B)
    assistant = make_assistant()
    assistant.build_index()
    store = assistant.store
    truth = store.committed(partial=True)
    assert len(truth) == 2
    if not store.server:  # embedded: the copy is read, Chroma is not asked
        monkeypatch.setattr(store, "committed", lambda partial=False: pytest.fail("read from Chroma"))
    assert store.build_records() == truth
    monkeypatch.undo()
    # A build (of a new file) that removed a record and died before it completed: the copy
    # is stale now.
    write(tmp_path / "corpus" / "c.txt", STORY_C)
    victim = next(iter(truth))
    with store.writer(), store.writing():
        store.uncommit([victim])
    assert set(store.build_records()) == set(truth) - {victim}
    # The next complete build repairs the index and leaves a true copy again.
    report = assistant.build_index()
    assert report.added == 2  # c.txt, and the article whose record the dead build removed
    assert store.build_records() == store.committed(partial=True) and len(store.build_records()) == 3
