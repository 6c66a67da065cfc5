"""The extractive answer over a real index (seed + two short articles the tests ship):
typed direct answers, quotes led by the answering sentence, one card per article,
abstention from evidence."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import SEED, SEED_QUESTION, SEED_SENTENCE

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def town_assistant(tmp_path_factory, settings_factory):
    from assistant import Assistant

    corpus = tmp_path_factory.mktemp("town-corpus")
    shutil.copy(SEED, corpus / SEED.name)
    for name in ("tram.md", "hospital.md"):
        shutil.copy(DATA / name, corpus / name)
    assistant = Assistant(settings_factory(corpus))
    assistant.build_index()
    return assistant


@pytest.mark.parametrize("question,direct,sentence", [
    ("How much will the Riverton tram line cost?", "€412 million", "budgeted at €412 million"),
    ("How many patients did Northfield hospital treat in January?", "1,870", "treated 1,870 patients"),
    ("When will the first Riverton trams run?", "September 2028", "due to run in September 2028"),
    ("Who is in charge of the hospital in Northfield?", "Amara Osei", "Hospital director Amara Osei"),
])
def test_ask_typed_question_leads_with_direct_answer_and_its_sentence(town_assistant, question, direct, sentence):
    answer = town_assistant.ask(question)
    assert not answer.abstained
    assert answer.direct_answer is not None and answer.direct_answer.text == direct
    assert answer.answer.startswith(f"**{direct}** [{answer.direct_answer.n}]")
    assert sentence in answer.sentences[0].text  # the answering sentence is quoted first
    cited = answer.citations[answer.direct_answer.n - 1]
    a, b = answer.direct_answer.span
    assert cited.passage[a:b] == direct
    data = answer.to_dict()
    assert data["direct_answer"] == {"text": direct, "n": answer.direct_answer.n, "span": [a, b]}


def test_ask_untyped_question_quotes_without_direct_answer(town_assistant):
    answer = town_assistant.ask(SEED_QUESTION)
    assert answer.direct_answer is None and not answer.abstained
    assert SEED_SENTENCE in answer.answer


def test_ask_follow_up_never_quotes_a_sentence_twice(town_assistant):
    answer = town_assistant.ask("and what about teachers?", history=[(SEED_QUESTION, "…")])
    texts = [s.text for s in answer.sentences]
    assert len(texts) == len(set(texts)) and "status of teachers" in answer.answer
    # One citation (and card) per article, every quoted span inside its passage.
    assert len({c.title for c in answer.citations}) == len(answer.citations)
    for sentence in answer.sentences:
        c = answer.citations[sentence.citations[0] - 1]
        assert any(c.passage[a:b] == sentence.text for a, b in c.spans)


def test_ask_unknown_outlet_named_does_not_decline_when_passages_answer(town_assistant):
    answer = town_assistant.ask("What did the Majilis coverage say about AI?")
    assert not answer.abstained and "artificial intelligence" in answer.answer
    assert "holds no articles" not in answer.answer


def test_ask_question_the_archive_cannot_answer_is_declined_from_evidence(town_assistant):
    answer = town_assistant.ask("How many people died in the Grenfell Tower fire in London?")
    assert answer.abstained and "do not cover" in answer.answer
    assert "holds no articles" not in answer.answer


def test_ask_question_in_another_language_says_search_is_english(town_assistant):
    answer = town_assistant.ask("¿Qué dijeron los presidentes del parlamento sobre la inteligencia artificial?")
    assert "searched in English" in answer.answer and "searched in English" in answer.note
