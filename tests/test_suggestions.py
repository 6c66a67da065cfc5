"""Example questions drawn from indexed article records."""

from assistant.suggestions import SEED_QUESTION, example_questions, question_for
from tests.conftest import SEED_QUESTION as CONFTEST_SEED_QUESTION


def record(title, source="", date="", path="a.txt"):
    return {"title": title, "source": source, "date": date, "path": path}


def test_seed_question_from_a_real_seed_index(seed_corpus, settings_factory):
    from assistant import Assistant

    assistant = Assistant(settings_factory(seed_corpus))
    assistant.build_index()
    questions = example_questions(assistant.index.article_records())
    assert SEED_QUESTION == CONFTEST_SEED_QUESTION
    assert questions[0] == SEED_QUESTION


def test_seed_question_only_when_the_seed_is_indexed():
    records = {"1": record("City council votes on the new bus lanes", "Metro Daily", "2024-05-01")}
    assert SEED_QUESTION not in example_questions(records)


def test_questions_name_the_outlet_and_the_title():
    assert question_for(record("City council votes on bus lanes.", "Metro Daily")) == \
        "What did Metro Daily report about “City council votes on bus lanes”?"
    # The loader's fallback outlet (the file name) and "unknown" are not named.
    assert question_for(record("City council votes on bus lanes", "000_abc", path="000_abc.txt")) == \
        "What do the articles say about “City council votes on bus lanes”?"
    assert question_for(record("City council votes", "unknown")).startswith("What do the articles say")
    assert question_for(record("Hi")) is None


def test_long_titles_are_shortened_at_a_word():
    q = question_for(record("word " * 40, "Metro Daily"))
    assert q.endswith("…”?") and len(q) < 130


def test_examples_spread_over_outlets_newest_first_and_are_capped():
    records = {}
    for i in range(5):
        records[f"a{i}"] = record(f"Alpha story number {i}", "Alpha News", f"2024-01-0{i + 1}", f"a{i}.txt")
        records[f"b{i}"] = record(f"Beta story number {i}", "Beta Post", f"2023-01-0{i + 1}", f"b{i}.txt")
    questions = example_questions(records, n=4)
    assert len(questions) == 4
    assert "Alpha story number 4" in questions[0]  # newest article first
    assert sum("Alpha News" in q for q in questions) == 2 and sum("Beta Post" in q for q in questions) == 2
    assert example_questions({}) == []
