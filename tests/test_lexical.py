import threading

from assistant.lexical import LexicalIndex, MemoryBM25, coverage, query_terms, terms_text, tokenize


def test_tokenize_drops_stop_words_lowercases_and_stems():
    assert tokenize("The Speakers discussed AI-legislation!") == ["speaker", "discuss", "ai", "legisl"]


def test_query_terms_expand_news_acronyms():
    assert query_terms("AI law") == ["ai", "law", "artifici", "intellig"]


def test_tokenize_many_threads_same_stems_as_one_thread():
    import snowballstemmer

    words = ("teachers innovation generously nationalization running relational hopefulness "
             "conditional parliamentary delegations discussed legislation happily").split() * 40
    text = " ".join(words)
    reference = snowballstemmer.stemmer("english").stemWords(words)
    from assistant import lexical

    lexical._stem.cache_clear()  # every thread stems for real, not from the cache
    errors, results = [], []
    start = threading.Barrier(16)

    def work():
        try:
            start.wait()
            for _ in range(30):
                results.append(tokenize(text))
                lexical._stem.cache_clear()
        except Exception as exc:  # an IndexError here is the bug this test guards
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 16 * 30
    assert all(r == reference for r in results)


def _index(tmp_path, rows):
    index = LexicalIndex(tmp_path / "lex")
    index.open_writer()
    index.replace((i, terms_text("", "", t)) for i, t in rows)
    return index


def test_lexical_index_ranks_matching_chunk_first_and_follows_updates(tmp_path):
    index = _index(tmp_path, [("a-1", "harbour reopened boats"), ("b-1", "budget schools teachers"),
                              ("c-1", "bridge river")])
    before = index.snapshot()
    assert before.search("teachers budget", 2)[0][0] == "b-1"
    index.delete(["b-1"])
    index.replace([("d-1", terms_text("", "", "teachers strike"))])
    after = index.snapshot()
    assert [i for i, _ in after.search("Teachers?", 5)] == ["d-1"]
    assert before.search("teachers", 1)[0][0] == "b-1"  # a snapshot never changes
    index.close_writer()
    reopened = LexicalIndex(tmp_path / "lex").snapshot()  # from disk, read by another reader
    assert reopened.num_docs == 3 and reopened.search("bridge", 1)[0][0] == "c-1"


def test_lexical_index_rarer_term_weighs_more_like_memory_bm25(tmp_path):
    docs = [(str(i), "common word here") for i in range(10)] + [("rare", "common zebra")]
    assert _index(tmp_path, docs).snapshot().search("common zebra", 1)[0][0] == "rare"
    memory = MemoryBM25()
    memory.add(docs)
    assert memory.search("common zebra", 1)[0][0] == "rare"


def test_lexical_index_question_without_terms_finds_nothing(tmp_path):
    assert _index(tmp_path, [("a", "harbour")]).snapshot().search("the of and", 5) == []


def test_coverage_counts_article_share_and_acronym_expansion():
    docs = {"a-1": "speakers discussed the law", "a-2": "artificial intelligence drafts",
            "b-1": "speakers discussed football"}
    docs |= {f"x-{i}": "filler text" for i in range(20)}
    terms = {cid: set(tokenize(t)) for cid, t in docs.items()}
    df = {}
    for ts in terms.values():
        for t in ts:
            df[t] = df.get(t, 0) + 1
    article_a = terms["a-1"] | terms["a-2"]
    cov = coverage("What did speakers say about AI law?", {"a-1": terms["a-1"], "b-1": terms["b-1"]},
                   {"a-1": article_a, "b-1": terms["b-1"]}, lambda t: df.get(t, 0), len(docs))
    # a-1 holds "speakers" and "law"; its article also holds "AI" (as "artificial
    # intelligence"), so the article's share is 1 and the chunk's is partial.
    assert 0.5 < cov["a-1"] < 1.0
    # b-1 and its article hold only "speakers", the commonest of the three terms.
    assert 0 < cov["b-1"] < 1 / 3


def test_stemmer_is_the_c_extension_with_the_pure_python_stems():
    # PyStemmer is a dependency for speed (the answer step stems every passage word it has
    # not seen); snowballstemmer uses it when it is installed. Same algorithm, same stems.
    from snowballstemmer.english_stemmer import EnglishStemmer

    from assistant.lexical import _thread_stemmer
    from tests.conftest import SEED

    stemmer = _thread_stemmer()
    assert type(stemmer).__module__ == "Stemmer", type(stemmer)
    words = set(SEED.read_text(encoding="utf-8").lower().split()) | {
        "generously", "sky", "news", "dying", "agreed", "feed", "knightly", "cement", "succeeded",
        "Kazakhstani", "teachers", "innovation", "universities", "1,870", "€412"}
    pure = EnglishStemmer()
    assert {w: stemmer.stemWord(w) for w in words} == {w: pure.stemWord(w) for w in words}
