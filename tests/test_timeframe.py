"""Relative dates, the reference date and event dates (timeframe.py): exact tables."""

import datetime as dt

import pytest

from assistant.errors import ConfigError
from assistant.timeframe import (event_dates, find_timeframe, has_topic, parse_bound,
                                 reference_date, strip_temporal, temporal_intent, within)

REF = dt.date(2025, 8, 27)  # a Wednesday: the seed article's date
SUNDAY = dt.date(2023, 12, 31)


@pytest.mark.parametrize("question,ref,first,last,hard", [
    ("what happened today?", REF, "2025-08-27", "2025-08-27", True),
    ("what happened yesterday?", REF, "2025-08-26", "2025-08-26", True),
    ("what happened this week?", REF, "2025-08-25", "2025-08-27", True),
    ("what happened last week?", REF, "2025-08-18", "2025-08-24", True),
    ("what happened last week?", SUNDAY, "2023-12-18", "2023-12-24", True),
    ("news from this month", REF, "2025-08-01", "2025-08-27", True),
    ("what did they say last month?", REF, "2025-07-01", "2025-07-31", True),
    ("what happened this year?", REF, "2025-01-01", "2025-08-27", True),
    ("what happened last year?", REF, "2024-01-01", "2024-12-31", True),
    ("news of the past 3 days", REF, "2025-08-25", "2025-08-27", True),
    ("over the past two weeks", REF, "2025-08-14", "2025-08-27", True),
    ("in the last 7 days", SUNDAY, "2023-12-25", "2023-12-31", True),
    ("what changed since Monday?", REF, "2025-08-25", "2025-08-27", True),
    ("what happened over the weekend?", REF, "2025-08-23", "2025-08-24", True),
    ("what happened earlier this year?", REF, "2025-01-01", "2025-08-27", True),
    ("what was announced 3 days ago?", REF, "2025-08-24", "2025-08-24", True),
    ("a story from the day before yesterday", REF, "2025-08-25", "2025-08-25", True),
    ("who won last Sunday's game?", REF, "2025-08-24", "2025-08-24", True),
    ("what happened last Wednesday?", REF, "2025-08-20", "2025-08-20", True),  # REF is a Wednesday
    # Named dates are boosts, the year inferred as the most recent one not after the reference.
    ("what happened in March?", REF, "2025-03-01", "2025-03-31", False),
    ("what happened in September?", REF, "2024-09-01", "2024-09-30", False),
    ("What happened on 26 August?", REF, "2025-08-26", "2025-08-26", False),
    ("what happened on Tuesday?", REF, "2025-08-26", "2025-08-26", False),
    ("results for Q3 2023", REF, "2023-07-01", "2023-09-30", False),
    ("results for the third quarter of 2023", REF, "2023-07-01", "2023-09-30", False),
    ("What happened on 2023-11-24?", REF, "2023-11-24", "2023-11-24", False),
    ("What was reported in November 2023?", REF, "2023-11-01", "2023-11-30", False),
    ("Who spoke before October 5, 2023?", REF, None, "2023-10-05", False),
    ("what happened with OpenAI since March?", REF, "2025-03-01", "2025-08-27", False),
])
def test_find_timeframe_table(question, ref, first, last, hard):
    frame = find_timeframe(question, ref)
    assert (frame.date_from, frame.date_to, frame.hard) == (first, last, hard)


@pytest.mark.parametrize("question,recent", [
    ("what happened recently in Kazakhstan?", True),
    ("what is the latest news?", True),
    ("What may happen next?", None),
    ("who is the Speaker of the Majilis?", None),
])
def test_find_timeframe_recency_is_soft(question, recent):
    frame = find_timeframe(question, REF)
    if recent is None:
        assert frame is None
    else:
        assert frame.recent and not frame.hard and frame.start is None and frame.end is None


def test_reference_date_sources():
    assert reference_date(None, "2025-08-27").describe() == "as of 2025-08-27, the newest article"
    assert reference_date("2023-12-31", "2025-08-27").date == SUNDAY
    today = reference_date("today", "2025-08-27", today=dt.date(2026, 11, 29))
    assert today.date == dt.date(2026, 11, 29) and today.source == "today"
    assert reference_date(None, None, today=dt.date(2026, 11, 29)).date == dt.date(2026, 11, 29)
    with pytest.raises(ConfigError, match="unknown reference date '31/12/2023'"):
        reference_date("31/12/2023", None)


@pytest.mark.parametrize("value,end,expected", [
    ("2023-11-24", False, "2023-11-24"),
    ("last week", False, "2025-08-18"),
    ("last week", True, "2025-08-24"),
    ("yesterday", False, "2025-08-26"),
    ("March", True, "2025-03-31"),
    ("Q3 2023", False, "2023-07-01"),
    ("the past 3 days", False, "2025-08-25"),
    ("today", True, "2025-08-27"),
    ("", False, None),
])
def test_parse_bound_accepts_words(value, end, expected):
    assert parse_bound(value, REF, end=end) == expected


@pytest.mark.parametrize("value", ["soon", "27/08/2025", "2025-13-01"])
def test_parse_bound_unknown_value_names_it(value):
    with pytest.raises(ConfigError, match=f"unknown date '{value}' for the 'from' filter"):
        parse_bound(value, REF, end=False, label="from")


@pytest.mark.parametrize("sentence,published,expected", [
    ("President Tokayev on Tuesday held a meeting with Rustam Emomali.", "2025-08-27", ["2025-08-26"]),
    ("The company said yesterday it would cut jobs.", "2023-12-07", ["2023-12-06"]),
    ("Altman returns, the company said on Wednesday.", "2023-11-22", ["2023-11-22"]),
    ("The vote on Nov. 17 removed him; on 22 November 2023 he returned.", "2023-12-01",
     ["2023-11-17", "2023-11-22"]),
    ("The board met on 2023-11-17.", "2023-12-01", ["2023-11-17"]),
    ("He may return.", "2023-12-01", []),
    ("On Tuesday the board met.", None, []),  # undated article: nothing to resolve against
])
def test_event_dates_resolve_against_publication(sentence, published, expected):
    assert [d for _, _, d in event_dates(sentence, published)] == expected


@pytest.mark.parametrize("question,intent", [
    ("How did the OpenAI board crisis develop?", "timeline"),
    ("Give me a timeline of the Sam Bankman-Fried trial", "timeline"),
    ("What happened with Sam Altman since November?", "timeline"),
    ("What is the latest on the Google antitrust case?", "latest"),
    ("what's new about Apple?", "latest"),
    ("Who is the Speaker of the Majilis?", None),
    ("List in order what the harbour board decided and what followed.", "timeline"),
    ("How did the strike play out?", "timeline"),
    ("What did the council cut in order to balance the budget?", None),
    ("How did the council vote?", None),
    ("How did climate change affect farming?", None),  # "change" is the topic here
    ("How has the war changed since March?", "timeline"),
    ("How did the singer stay in the news around her memoir?", "timeline"),
    ("Give me the story so far on the ceasefire talks", "timeline"),
    ("What is the history of the points deduction?", "timeline"),
    ("Recap of the board crisis, please", "timeline"),
    ("What were the key events in the sign-stealing scandal?", "timeline"),
    ("How many people have died so far?", None),
])
def test_temporal_intent(question, intent):
    assert temporal_intent(question) == intent


def test_strip_temporal_and_topic():
    assert strip_temporal("What is the latest news about the OpenAI board?") == "the OpenAI board"
    assert strip_temporal("what happened last week in Kazakhstan?") == "what happened in Kazakhstan"
    assert not has_topic("what happened last week?")
    assert not has_topic("What is the latest news?")
    assert has_topic("what happened with Sam Altman since November?")


@pytest.mark.parametrize("question,topic", [
    ("How did the legal fight over Google's search dominance develop?", "the legal fight over Google's search dominance"),
    ("Lay out, in order, how the board removed its chief executive and what followed.",
     "how the board removed its chief executive and"),
    ("How did coverage of the harbour strike evolve after the vote?", "the harbour strike after the vote"),
    ("Give me a timeline of the Riverton tram line", "the Riverton tram line"),
    ("How did climate change affect farming last year?", "How did climate change affect farming"),
])
def test_strip_temporal_timeline_instructions_leave_the_topic(question, topic):
    assert strip_temporal(question) == topic


@pytest.mark.parametrize("day,lo,hi,inside", [
    ("2023-11-05", "2023-11-01", "2023-11-30", True),
    ("2023-11-30", "2023-11-01", "2023-11-30", True),
    ("2023-12-01", "2023-11-01", "2023-11-30", False),
    ("2023-10-31", "2023-11-01", None, False),
    ("2031-01-01", "2023-11-01", None, True),
    ("1999-01-01", None, "2023-11-30", True),
    (None, None, None, False),  # undated: never inside
])
def test_within_bounds_inclusive_open_when_missing(day, lo, hi, inside):
    assert within(day, lo, hi) is inside
