import datetime as dt

import pytest

from assistant.errors import ConfigError
from assistant.retrieval import Filters, analyze_question, rrf

OUTLETS = ["The Verge", "TechCrunch", "The Independent - Life and Style", "Wired", "Fortune"]


def test_rrf_orders_by_summed_reciprocal_ranks():
    scores = rrf([["a", "b", "c"], ["b", "d", "c"]], k=60)
    assert sorted(scores, key=scores.get, reverse=True) == ["b", "c", "a", "d"]
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["c"] == pytest.approx(2 / 63)


def test_rrf_weights_scale_a_ranking():
    scores = rrf([["a"], ["b"]], weights=[1.0, 2.0], k=60)
    assert scores["b"] == pytest.approx(2 * scores["a"])


@pytest.mark.parametrize("question,outlets", [
    ("What did The Verge and TechCrunch report about Google?", ["The Verge", "TechCrunch"]),
    ("Does the techcrunch article say so?", ["TechCrunch"]),
    ("What did The Independent say about sleep?", ["The Independent - Life and Style"]),
    ("Is fortune on their side?", ["Fortune"]),
    ("What did the speakers discuss?", []),
])
def test_analyze_question_finds_outlets(question, outlets):
    assert analyze_question(question, OUTLETS).outlets == outlets


@pytest.mark.parametrize("question,date_from,date_to", [
    ("What happened on 2023-11-24?", "2023-11-24", "2023-11-24"),
    ("What was reported in November 2023?", "2023-11-01", "2023-11-30"),
    ("Who spoke before October 5, 2023?", None, "2023-10-05"),
    ("What changed after September 2023?", "2023-09-01", None),
    ("Was it said in October 2023 and in December 2023?", "2023-10-01", "2023-12-31"),
    ("What may happen next?", None, None),
])
def test_analyze_question_finds_dates(question, date_from, date_to):
    result = analyze_question(question, OUTLETS, today=dt.date(2024, 1, 1))
    assert (result.date_from, result.date_to) == (date_from, date_to)


def test_filters_parse_rejects_bad_and_empty_ranges():
    assert Filters.parse("2023-01-01", None, ["Wired"]).where() == {
        "$and": [{"day": {"$gte": 20230101}}, {"source": {"$in": ["Wired"]}}]}
    with pytest.raises(ConfigError, match="unknown date 'soon'"):
        Filters.parse("soon")
    with pytest.raises(ConfigError, match="empty"):
        Filters.parse("2024-01-02", "2024-01-01")
