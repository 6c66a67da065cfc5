import json

import pytest

from assistant import Answer
from assistant.errors import QuestionError
from tests.conftest import SEED_QUESTION, SEED_SENTENCE


def test_ask_seed_question_cites_seed_article_with_law_sentence(seed_assistant):
    answer = seed_assistant.ask(SEED_QUESTION)
    assert isinstance(answer, Answer) and not answer.abstained
    assert SEED_SENTENCE in answer.answer
    assert "[1]" in answer.answer
    first = answer.citations[0]
    assert first.n == 1 and first.date == "2025-08-27"
    assert first.title.startswith("Welcoming the Tajik parliamentary delegation")
    start, end = first.span
    assert SEED_SENTENCE in first.passage[start:end]


def test_ask_every_answer_sentence_carries_a_valid_citation(seed_assistant):
    answer = seed_assistant.ask(SEED_QUESTION)
    numbers = {c.n for c in answer.citations}
    assert answer.sentences
    for sentence in answer.sentences:
        assert sentence.citations and set(sentence.citations) <= numbers
        assert f"{sentence.text} [{sentence.citations[0]}]" in answer.answer


def test_answer_to_dict_has_stable_schema(seed_assistant):
    data = json.loads(json.dumps(seed_assistant.ask(SEED_QUESTION).to_dict()))
    assert {"question", "answer", "abstained", "citations"} <= set(data)
    assert {"n", "title", "source", "date", "url", "passage", "span", "spans",
            "event_date", "also_in"} <= set(data["citations"][0])
    start, end = data["citations"][0]["span"]
    assert 0 <= start < end <= len(data["citations"][0]["passage"])


def test_str_answer_lists_numbered_sources(seed_assistant):
    text = str(seed_assistant.ask(SEED_QUESTION))
    assert "Sources:" in text and "[1] Welcoming the Tajik" in text


def test_ask_unrelated_question_abstains_and_shows_closest(seed_assistant):
    answer = seed_assistant.ask("Which team won the football world cup final on penalties?")
    assert answer.abstained
    assert "do not cover" in answer.answer
    assert answer.passages and not answer.citations


def test_ask_follow_up_uses_history(seed_assistant):
    history = [(SEED_QUESTION, "…")]
    answer = seed_assistant.ask("and what about teachers?", history)
    assert answer.searched_for == "what did the Speakers discuss about teachers?"
    assert "status of teachers" in answer.answer


BAD_QUESTIONS = [
    ("", "the question is empty"),
    ("   \n\t ", "the question is empty"),
    ("x" * 100_000, "100,000 characters long; the limit is 2,000"),
    ("?!?! ... ???", "no words"),
    ("\x00\x01\x02", "the question is empty"),
]


@pytest.mark.parametrize("question,message", BAD_QUESTIONS, ids=["empty", "blank", "huge", "punct", "control"])
def test_ask_bad_question_clear_error(seed_assistant, question, message):
    with pytest.raises(QuestionError, match=message):
        seed_assistant.ask(question)


def test_answer_function_uses_environment_settings(seed_assistant, monkeypatch):
    import assistant.api as api

    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(seed_assistant.settings.index_dir))
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(seed_assistant.settings.corpus_dir))
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", seed_assistant.settings.chroma_url)
    monkeypatch.setenv("ASSISTANT_COLLECTION", seed_assistant.settings.collection)
    monkeypatch.setattr(api, "_DEFAULT", None)
    from assistant import answer

    result = answer(SEED_QUESTION)
    assert SEED_SENTENCE in result.answer


def test_chain_is_a_langchain_runnable(seed_assistant):
    from langchain_core.runnables import Runnable

    assert isinstance(seed_assistant.chain, Runnable)
    result = seed_assistant.chain.invoke({"question": SEED_QUESTION})
    assert SEED_SENTENCE in result.answer


def test_stream_yields_searched_text_then_answer(seed_assistant):
    events = list(seed_assistant.stream(SEED_QUESTION))
    kinds = [e[0] for e in events]
    assert kinds[0] == "searched" and kinds[-1] == "answer" and "text" in kinds
    assert "".join(t for k, t in events if k == "text").strip() == events[-1][1].answer
