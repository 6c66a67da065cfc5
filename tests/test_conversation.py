"""Question and history checks, and the rule-based follow-up condensation, on hostile input:
every pattern runs in linear time on long adversarial strings."""

from __future__ import annotations

import time

import pytest

from assistant import safejson
from assistant.conversation import check_history, check_question, condense_question
from assistant.errors import QuestionError

BASE = "what did the Speakers discuss about AI legislation?"


def test_condense_follow_up_kept_working():
    assert condense_question("and what about teachers?", [(BASE, "")]) == \
        "what did the Speakers discuss about teachers?"
    assert condense_question("what about it?!", [(BASE, "")]).endswith("about it?")
    assert condense_question("who won the cup?", [(BASE, "")]) == "who won the cup?"


@pytest.mark.parametrize("question", [
    "what about x" + "?" * 40_000 + "a",
    "what about " + " ." * 40_000 + "a",
    "and " * 20_000 + "what about x",
    "what about " + "\t" * 40_000,
    "it " * 40_000,
])
def test_condense_adversarial_strings_linear_time(question):
    t0 = time.monotonic()
    condense_question(question, [(BASE, ""), (question, "")])
    assert time.monotonic() - t0 < 1.0


def test_check_question_10_mb_refused_fast():
    t0 = time.monotonic()
    with pytest.raises(QuestionError, match="the limit is 2,000"):
        check_question("x" * 10_000_000, 2000)
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("history,message", [
    (42, "the history must be a list"),
    ("text", "the history must be a list"),
    ([42], "history item 1 must be a [question, answer] pair"),
    ([["q", 7]], "history item 1 holds int, not text"),
    ([["x" * 10_000_000, ""]], "history item 1 is 10,000,000 characters long; the limit is 2,000"),
    ([{"role": "user", "content": "y" * 2001}], "history item 1 is 2,001 characters long"),
])
def test_check_history_bad_input_clear_message(history, message):
    with pytest.raises(QuestionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_history(history, max_chars=2000, max_turns=50)


def test_check_history_keeps_the_last_turns():
    history = [[f"q{i}", f"a{i}"] for i in range(100)]
    kept = check_history(history, max_chars=2000, max_turns=5)
    assert kept == history[-10:]


@pytest.mark.parametrize("depth", [985, 10_000])
def test_safejson_deep_nesting_refused_before_parsing(depth):
    with pytest.raises(safejson.JSONDepthError, match="nested more than 64 levels"):
        safejson.loads("[" * depth + "]" * depth, max_depth=64)


def test_safejson_brackets_in_strings_do_not_count():
    assert safejson.loads('{"a": "[[[[[[\\" ["}', max_depth=2) == {"a": '[[[[[[" ['}
