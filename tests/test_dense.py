"""dense.py: exact search over a snapshot's vector table (exact numbers on small tables)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.dense import VectorTable


def _table() -> VectorTable:
    # Four unit vectors in 3 dimensions: a, b close to the x axis; c on y; d on z.
    vectors = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return VectorTable.build(["a", "b", "c", "d"], vectors, [20230901, 20231015, 0, 20231201],
                             ["BBC", "Reuters", "BBC", "AP"])


def test_search_no_filter_ranks_by_cosine():
    hits = _table().search(np.array([0.6, 0.8, 0.0]), 3)
    assert [cid for cid, _ in hits] == ["b", "c", "a"]
    assert [round(s, 4) for _, s in hits] == [0.96, 0.8, 0.6]


def test_search_k_beyond_table_returns_every_row_in_order():
    hits = _table().search(np.array([0.0, 0.0, 1.0]), 10)
    assert [cid for cid, _ in hits][0] == "d" and len(hits) == 4


@pytest.mark.parametrize("where, expected", [
    ({"source": "BBC"}, ["a", "c"]),
    ({"source": {"$eq": "BBC"}}, ["a", "c"]),
    ({"source": {"$ne": "BBC"}}, ["b", "d"]),
    ({"source": {"$in": ["AP", "Reuters"]}}, ["b", "d"]),
    ({"source": {"$nin": ["AP", "Reuters"]}}, ["a", "c"]),
    ({"source": {"$in": []}}, []),
    ({"day": {"$gte": 20231001}}, ["b", "d"]),
    ({"day": {"$lte": 20231015}}, ["a", "b", "c"]),  # undated rows are day 0
    ({"$and": [{"day": {"$gte": 20230101}}, {"day": {"$lte": 20231015}}]}, ["a", "b"]),
    ({"$or": [{"source": "AP"}, {"day": {"$lt": 20230902}}]}, ["a", "c", "d"]),
    ({"$and": [{"day": {"$gt": 20230901}}, {"source": {"$in": ["Reuters"]}}]}, ["b"]),
])
def test_search_where_keeps_only_matching_rows(where, expected):
    hits = _table().search(np.array([0.5, 0.5, 0.5]), 10, where)
    assert sorted(cid for cid, _ in hits) == expected


@pytest.mark.parametrize("where, message", [
    ({"outlet": "BBC"}, "cannot filter on 'outlet'"),
    ({"day": {"$between": [1, 2]}}, "unknown filter operator"),
    ({"day": {"$gte": "2023-10-01"}}, "compared with an int"),
    ({"source": {"$eq": 3}}, "compared with a string"),
    ({"source": {"$in": "BBC"}}, "needs a list"),
    ({"$and": []}, "non-empty list"),
    ({"day": {"$gte": 1, "$lte": 2}}, "one operator per field"),
])
def test_search_unreadable_filter_raises(where, message):
    with pytest.raises(ValueError, match=message):
        _table().search(np.array([1.0, 0.0, 0.0]), 2, where)


def test_search_question_of_other_dimension_raises():
    with pytest.raises(ValueError, match="4-dimensional question against 3-dimensional"):
        _table().search(np.ones(4), 2)


def test_build_misaligned_columns_raise():
    with pytest.raises(ValueError, match="do not line up"):
        VectorTable.build(["a", "b"], np.ones((3, 2)), [0, 0], ["x", "y"])
    with pytest.raises(ValueError, match="do not line up"):
        VectorTable.from_columns(["a", "b"], np.ones((2, 2)), [0], ["x", "y"])


def test_from_columns_equals_build_from_rows():
    rows = _table()
    cols = VectorTable.from_columns(rows.ids, rows.columns, rows.day, rows.source)
    q = np.array([0.2, 0.9, 0.1])
    assert cols.search(q, 4) == rows.search(q, 4)


def test_search_empty_table_or_zero_k_finds_nothing():
    empty = VectorTable.build([], np.zeros((0, 0)), [], [])
    assert empty.search(np.ones(3), 5) == []
    assert _table().search(np.ones(3), 0) == []


def test_table_is_read_only():
    table = _table()
    with pytest.raises(ValueError):
        table.columns[0, 0] = 2.0
