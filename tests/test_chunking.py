from assistant.chunking import split_article, split_sentences
from assistant.corpus import Article


def article(text: str) -> Article:
    return Article(id="a1", path="a.txt", title="T", source="S", date="2024-01-02", url=None, text=text)


def test_split_sentences_keeps_abbreviations_and_offsets():
    text = "Mr. Smith met Dr. Jones in the U.S. capital. They talked.\nNew paragraph here"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "Mr. Smith met Dr. Jones in the U.S. capital.", "They talked.", "New paragraph here"]


def test_split_sentences_quotes_and_question_marks():
    text = "“Is it over?” she asked. “Yes.” He left."
    assert [text[a:b] for a, b in split_sentences(text)] == ["“Is it over?” she asked.", "“Yes.”", "He left."]


def test_split_article_chunks_respect_size_offsets_and_overlap():
    sentences = [f"Sentence number {i} talks about the harbour and the boats." for i in range(20)]
    art = article(" ".join(sentences))
    chunks = split_article(art, chunk_chars=200, overlap=1)
    assert len(chunks) > 3
    for c in chunks:
        assert len(c.text) <= 200
        assert art.text[c.start:c.end] == c.text
        assert c.embed_text == "T · S · 2024-01-02\n" + c.text
    # One sentence of overlap between neighbours.
    assert chunks[1].text.split(". ")[0] in chunks[0].text
    assert chunks[-1].end == len(art.text)


def test_split_article_cuts_a_sentence_longer_than_chunk():
    art = article("word " * 400)
    chunks = split_article(art, chunk_chars=300, overlap=0)
    assert all(len(c.text) <= 300 for c in chunks)
    assert sum(len(c.text.split()) for c in chunks) == 400


def test_split_article_ids_change_with_content():
    a, b = article("One. Two."), article("One. Three.")
    assert split_article(a)[0].id != split_article(b)[0].id
