from assistant.lexical import LexicalIndex, query_terms, tokenize


def test_tokenize_drops_stop_words_lowercases_and_stems():
    assert tokenize("The Speakers discussed AI-legislation!") == ["speaker", "discuss", "ai", "legisl"]


def test_query_terms_expand_news_acronyms():
    assert query_terms("AI law") == ["ai", "law", "artifici", "intellig"]


def test_bm25_ranks_matching_chunk_first_and_updates_incrementally(tmp_path):
    index = LexicalIndex()
    index.add([("a", "harbour reopened boats"), ("b", "budget schools teachers"), ("c", "bridge river")])
    assert index.search("teachers budget", 2)[0][0] == "b"
    index.remove(["b"])
    assert [i for i, _ in index.search("teachers", 5)] == []
    added, dropped = index.sync(["a", "c", "d"], lambda ids: ["teachers strike" for _ in ids])
    assert (added, dropped) == (1, 0)
    assert index.search("teachers", 5)[0][0] == "d"
    index.generation = 7
    index.save(tmp_path / "bm25.pkl")
    loaded = LexicalIndex.load(tmp_path / "bm25.pkl")
    assert loaded.generation == 7 and loaded.search("bridge", 1)[0][0] == "c"


def test_bm25_rarer_term_weighs_more():
    index = LexicalIndex()
    index.add([(str(i), "common word here") for i in range(10)] + [("rare", "common zebra")])
    assert index.search("common zebra", 1)[0][0] == "rare"


def test_bm25_load_corrupt_file_gives_empty_index(tmp_path):
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    assert len(LexicalIndex.load(tmp_path / "bad.pkl")) == 0
