"""The bounded parse worker: a file past the time or memory bound is reported alone, the
worker is replaced, and the files after it (HTML, Markdown, JSON) still parse in it."""

from __future__ import annotations

import json

import pytest

from assistant import parseworker
from assistant.corpus import load_articles
from assistant.parseworker import ParseLimits
from tests.conftest import write

PAGE = ("<html><head><title>Pier reopens</title></head><body><article><p>The pier reopened on "
        "Sunday after repairs, the council said in a statement.</p></article></body></html>")
RECORDS = [{"title": "Ferry", "body": "The ferry service resumed on Monday after the strike."}]
MARKDOWN = "---\ntitle: Bridge\ndate: 2024-03-01\n---\nThe bridge closed for repairs on Friday.\n"


def _good_files(folder):
    write(folder / "b_page.html", PAGE)
    write(folder / "c_records.json", json.dumps(RECORDS))
    write(folder / "d_note.md", MARKDOWN)


@pytest.mark.parametrize("name,content,limits,message", [
    ("a_slow.html", b"<html><body>" + b"<div><p>word</p></div>" * 20_000 + b"</body></html>",
     ParseLimits(timeout=3.0), "took longer than 3 s to parse"),  # 3 s: margin for the others
    ("a_floats.json", b"[" + b"1.5," * 1_500_000 + b"1.5]", ParseLimits(memory_mb=32),
     "used more than 32 MB to parse"),
], ids=["time", "memory"])
def test_load_articles_file_past_bound_skipped_worker_replaced_rest_parsed(tmp_path, name, content,
                                                                            limits, message):
    write(tmp_path / name, content)
    _good_files(tmp_path)
    report = load_articles(tmp_path, limits=limits)
    assert [(p.path, message in p.reason) for p in report.skipped] == [(name, True)]
    assert sorted(a.path for a in report.articles) == ["b_page.html", "c_records.json#0", "d_note.md"]
    assert {a.title for a in report.articles} == {"Pier reopens", "Ferry", "Bridge"}


def test_load_articles_worker_matches_in_process(tmp_path):
    _good_files(tmp_path)
    write(tmp_path / "e_bad.json", b'[{"title": "x", "body": oops}]')
    bounded, direct = load_articles(tmp_path), load_articles(tmp_path, limits=None)
    assert [a.to_dict() for a in bounded.articles] == [a.to_dict() for a in direct.articles]
    assert [p.to_dict() for p in bounded.skipped] == [p.to_dict() for p in direct.skipped]
    assert "invalid JSON" in bounded.skipped[0].reason


def test_run_worker_killed_from_outside_next_call_starts_a_new_one(tmp_path):
    request = {"step": "markup", "text": PAGE, "rel": "p.html", "suffix": ".html"}
    assert parseworker.run(request, ParseLimits(), what="p.html")["fields"]["title"] == "Pier reopens"
    first = parseworker._worker
    first.proc.kill()
    first.proc.wait()
    assert parseworker.run(request, ParseLimits(), what="p.html")["fields"]["title"] == "Pier reopens"
    assert parseworker._worker is not first and parseworker._worker.alive()
