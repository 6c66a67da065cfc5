import datetime as dt
import hashlib
import json
import os

import pytest

from assistant.corpus import load_articles, parse_date
from assistant.errors import CorpusError
from tests.conftest import SEED, write

TODAY = dt.date(2026, 1, 1)


def test_load_articles_seed_txt_parses_date_title_source(tmp_path):
    write(tmp_path / SEED.name, SEED.read_text(encoding="utf-8"))
    report = load_articles(tmp_path)
    [article] = report.articles
    assert article.date == "2025-08-27"
    assert article.title.startswith("Welcoming the Tajik parliamentary delegation")
    assert article.source == SEED.stem
    assert article.text.startswith("Welcoming")
    assert not report.skipped


def test_load_articles_txt_header_lines_override_defaults(tmp_path):
    write(tmp_path / "a.txt", "date 2024-01-02\ntitle: Budget passes\nsource: Daily Planet\n"
          "url: https://example.com/a\n\nThe council passed the budget. It was late.")
    [a] = load_articles(tmp_path).articles
    assert (a.title, a.source, a.date, a.url) == ("Budget passes", "Daily Planet", "2024-01-02", "https://example.com/a")
    assert a.text == "The council passed the budget. It was late."


def test_load_articles_markdown_front_matter(tmp_path):
    write(tmp_path / "sub" / "b.md", "---\ntitle: Rail strike\ndate: 2023-11-24\nsource: The Verge\n"
          "url: https://v.example/x\n---\nWorkers walked out on Friday. Trains stopped.\n")
    [a] = load_articles(tmp_path).articles
    assert (a.title, a.date, a.source, a.url) == ("Rail strike", "2023-11-24", "The Verge", "https://v.example/x")
    assert a.path == "sub/b.md"
    assert a.text.startswith("Workers walked out")


def test_load_articles_html_extracts_text_title_date_site(tmp_path):
    page = """<html><head><title>Harbour reopens - Coast News</title>
    <meta property="og:site_name" content="Coast News"><meta name="date" content="2024-03-05"></head>
    <body><nav>Home | Sport</nav><article><h1>Harbour reopens</h1>
    <p>The harbour reopened on Monday after a three-week closure caused by the storm damage to the pier.</p>
    <script>window.hacked = 1</script>
    <p>Fishing boats returned to their moorings and the market opened again in the afternoon.</p>
    </article></body></html>"""
    write(tmp_path / "c.html", page)
    [a] = load_articles(tmp_path).articles
    assert a.title == "Harbour reopens"
    assert a.source == "Coast News"
    assert a.date == "2024-03-05"
    assert "harbour reopened on Monday" in a.text
    assert "hacked" not in a.text and "Home | Sport" not in a.text


def test_load_articles_json_list_and_jsonl_records(tmp_path):
    rec = {"title": "T1", "author": "A", "source": "TechCrunch", "published_at": "2023-10-05T10:00:00+00:00",
           "category": "tech", "url": "https://tc.example/1", "body": "A startup raised money. Investors cheered."}
    write(tmp_path / "list.json", json.dumps([rec, {**rec, "title": "T2", "body": "Another story entirely here."}]))
    write(tmp_path / "lines.jsonl", json.dumps({**rec, "title": "T3", "body": "Third story body text."}) + "\n")
    report = load_articles(tmp_path)
    titles = sorted(a.title for a in report.articles)
    assert titles == ["T1", "T2", "T3"]
    t1 = next(a for a in report.articles if a.title == "T1")
    assert (t1.source, t1.date, t1.author, t1.category) == ("TechCrunch", "2023-10-05", "A", "tech")
    assert t1.path == "list.json#0"


def test_load_articles_ids_are_stable_and_hash_follows_content(tmp_path):
    write(tmp_path / "a.txt", "First version of the story.")
    first = load_articles(tmp_path).articles[0]
    again = load_articles(tmp_path).articles[0]
    write(tmp_path / "a.txt", "Second version of the story.")
    changed = load_articles(tmp_path).articles[0]
    assert first.id == again.id == changed.id
    assert first.hash == again.hash != changed.hash


def test_load_articles_updated_date_read_and_hash_unchanged_without_it(tmp_path):
    body = "---\ntitle: Rail strike\ndate: 2023-11-24\n{}---\nWorkers walked out on Friday.\n"
    write(tmp_path / "b.md", body.format(""))
    plain = load_articles(tmp_path).articles[0]
    write(tmp_path / "b.md", body.format("updated: 2023-11-26\n"))
    corrected = load_articles(tmp_path).articles[0]
    write(tmp_path / "r.json", json.dumps([{"title": "T", "body": "A story.", "updated_at": "2023-10-07T08:00:00Z"}]))
    record = next(a for a in load_articles(tmp_path).articles if a.path == "r.json#0")
    assert plain.updated is None and corrected.updated == "2023-11-26" and record.updated == "2023-10-07"
    assert corrected.hash != plain.hash
    # Articles never corrected keep the hash they had before "updated" existed.
    old_formula = hashlib.sha256(b"".join((part or "").encode() + b"\x1f" for part in (
        plain.title, plain.source, plain.date, plain.url, plain.author, plain.text))).hexdigest()[:32]
    assert plain.hash == old_formula


BAD_FILES = [
    ("empty.txt", b"", "empty file"),
    ("blank.txt", b"   \n\n ", "empty file"),
    ("binary.txt", bytes(range(256)) * 8, "binary data, not text"),
    ("broken.json", b'[{"title": "x",\n "body": }]', "invalid JSON at line 2, column"),
    ("nobody.json", b'[{"title": "x"}]', "record 0"),
    ("bad.md", b"---\ntitle: [unclosed\n---\nBody text here.", "invalid YAML front matter"),
    ("open.md", b"---\ntitle: x\nBody without end.", "no closing '---'"),
    ("notes.pdf", b"%PDF-1.4", "unsupported file type '.pdf'"),
]


@pytest.mark.parametrize("name,content,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_load_articles_bad_file_skipped_with_reason_rest_loaded(tmp_path, name, content, message):
    write(tmp_path / "good.txt", "A good article about the harbour. It reopened.")
    write(tmp_path / name, content)
    report = load_articles(tmp_path, today=TODAY)
    assert [a.path for a in report.articles] == ["good.txt"]
    [problem] = report.skipped
    assert problem.path.startswith(name)
    assert message in problem.reason


def test_load_articles_jsonl_bad_line_names_line_and_keeps_others(tmp_path):
    good = json.dumps({"title": "ok", "body": "Fine body text."})
    write(tmp_path / "feed.jsonl", f"{good}\n{{not json\n" + json.dumps({"title": "ok2", "body": "More text."}) + "\n")
    report = load_articles(tmp_path)
    assert sorted(a.title for a in report.articles) == ["ok", "ok2"]
    assert report.skipped[0].path == "feed.jsonl:2"
    assert "invalid JSON on line 2" in report.skipped[0].reason


def test_load_articles_duplicate_content_indexed_once_and_reported(tmp_path):
    write(tmp_path / "a.txt", "Same story text. Word for word.")
    write(tmp_path / "b.txt", "Same story text. Word for word.")
    report = load_articles(tmp_path)
    assert [a.path for a in report.articles] == ["a.txt"]
    assert report.skipped[0].path == "b.txt"
    assert "duplicate content of a.txt" in report.skipped[0].reason


def test_load_articles_non_utf8_decoded_with_warning(tmp_path):
    write(tmp_path / "latin.txt", "Caf\xe9 owners protest the new tax.".encode("latin-1"))
    write(tmp_path / "u16.txt", "\ufeffUTF-16 story about the port.".encode("utf-16"))
    report = load_articles(tmp_path)
    texts = {a.path: a.text for a in report.articles}
    assert texts["latin.txt"].startswith("Café owners")
    assert texts["u16.txt"].startswith("UTF-16 story")
    reasons = {w.path: w.reason for w in report.warnings}
    assert "Latin-1" in reasons["latin.txt"] and "UTF-16" in reasons["u16.txt"]


@pytest.mark.parametrize("raw,expected", [("2024-13-45", "unknown date '2024-13-45'"),
                                          ("2999-01-01", "in the future")])
def test_load_articles_bad_date_indexed_undated_with_warning(tmp_path, raw, expected):
    write(tmp_path / "a.txt", f"date {raw} The story text goes here.")
    report = load_articles(tmp_path, today=TODAY)
    [a] = report.articles
    assert a.date is None
    assert expected in report.warnings[0].reason


def test_load_articles_oversized_article_skipped(tmp_path, monkeypatch):
    import assistant.corpus as corpus

    monkeypatch.setattr(corpus, "MAX_ARTICLE_CHARS", 1000)
    write(tmp_path / "big.txt", "Word. " * 500)
    write(tmp_path / "ok.txt", "Small story.")
    report = load_articles(tmp_path)
    assert [a.path for a in report.articles] == ["ok.txt"]
    assert "over the 1,000 limit" in report.skipped[0].reason


def test_load_articles_symlink_loop_and_dangling_link_skipped(tmp_path):
    write(tmp_path / "ok.txt", "Small story.")
    os.symlink(tmp_path, tmp_path / "loop")  # a folder link: not followed
    os.symlink(tmp_path / "missing.txt", tmp_path / "dangling.txt")
    report = load_articles(tmp_path)
    assert [a.path for a in report.articles] == ["ok.txt"]
    assert any(p.path == "dangling.txt" for p in report.skipped)


@pytest.mark.parametrize("missing", ["nope", "file"])
def test_load_articles_missing_corpus_raises_clear_error(tmp_path, missing):
    target = tmp_path / missing
    if missing == "file":
        write(target, "x")
    with pytest.raises(CorpusError, match="corpus"):
        load_articles(target)


@pytest.mark.parametrize("raw,iso", [("2023-11-24", "2023-11-24"), ("2023-09-26T17:01:22+00:00", "2023-09-26"),
                                     ("yesterday", None), ("2023-02-30", None), (None, None)])
def test_parse_date_table(raw, iso):
    assert parse_date(raw) == iso


def test_load_articles_json_record_cap_reported(tmp_path, monkeypatch):
    import json as _json

    from assistant import corpus as corpus_module

    monkeypatch.setattr(corpus_module, "MAX_JSON_RECORDS", 3)
    records = [{"title": f"t{i}", "body": f"Story number {i} about the harbour."} for i in range(5)]
    (tmp_path / "many.json").write_text(_json.dumps(records))
    (tmp_path / "many.jsonl").write_text("\n".join(_json.dumps(r) for r in records))
    report = corpus_module.load_articles(tmp_path, limits=None)  # in-process: the patch applies
    assert len(report.articles) == 3  # the .jsonl copies are duplicates of the .json ones
    reasons = [p.reason for p in report.skipped]
    assert any("2 records after record 2 not read: over the 3-record limit" in r for r in reasons)
    assert any("records from line 4 on not read" in r for r in reasons)


def test_html_parse_cached_by_content(tmp_path, monkeypatch):
    from assistant import corpus as corpus_module

    calls = []
    real = corpus_module._extract_html
    monkeypatch.setattr(corpus_module, "_extract_html", lambda text, rel: calls.append(rel) or real(text, rel))
    page = "<html><body><article><p>The pier reopened on Sunday after repairs, the council said.</p></article></body></html>"
    (tmp_path / "a.html").write_text(page + "<!-- cache test -->")
    corpus_module.load_articles(tmp_path, limits=None)  # in-process: the patch sees the calls
    corpus_module.load_articles(tmp_path, limits=None)
    assert calls == ["a.html"]


def test_load_articles_small_json_parsed_once_then_from_cache(tmp_path, monkeypatch):
    from assistant import parseworker

    record = {"title": "Harbour reopens", "source": "Coast News", "date": "2024-03-05",
              "body": "The harbour reopened on Monday after the storm. Fishing boats returned."}
    write(tmp_path / "a.json", json.dumps(record))
    calls = []
    real_run = parseworker.run
    monkeypatch.setattr(parseworker, "run", lambda *a, **kw: calls.append(1) or real_run(*a, **kw))
    first = load_articles(tmp_path).articles
    assert len(calls) == 1
    first[0].title = "changed by a caller"  # never reaches the cache
    again = load_articles(tmp_path).articles
    assert len(calls) == 1  # unchanged: from the cache
    assert [(a.id, a.hash, a.title, a.text) for a in again] == \
        [(first[0].id, first[0].hash, "Harbour reopens", first[0].text)]
    write(tmp_path / "a.json", json.dumps({**record, "body": record["body"] + " Nets were mended."}))
    assert "Nets were mended." in load_articles(tmp_path).articles[0].text
    assert len(calls) == 2  # new content: parsed


def test_load_articles_known_files_give_stubs_equal_to_a_parse_without_reading(tmp_path, monkeypatch):
    import assistant.corpus as corpus_module
    from assistant.corpus import ArticleStub

    write(tmp_path / "a.txt", "Title: Harbour\nThe harbour reopened on Monday after storm damage.")
    write(tmp_path / "feed.json", json.dumps([
        {"title": "One", "body": "The first record of the feed.", "published_at": "2025-01-02"},
        {"title": "Two", "body": "The second record of the feed.", "published_at": "2099-01-02"}]))
    first = load_articles(tmp_path, today=TODAY, limits=None)
    assert set(first.files) == {"a.txt", "feed.json"}
    monkeypatch.setattr(corpus_module, "parse_file", lambda *a, **k: pytest.fail("parsed a known file"))
    again = load_articles(tmp_path, today=TODAY, limits=None, known=first.files)
    monkeypatch.undo()
    assert all(isinstance(a, ArticleStub) for a in again.articles)
    key = lambda a: (a.id, a.path, a.hash, a.text_hash, a.title, a.date, a.url)  # noqa: E731
    assert [key(a) for a in again.articles] == [key(a) for a in first.articles]
    # The file's problems come back too (the 2099 date is dropped with a warning).
    assert [str(p) for p in again.warnings] == [str(p) for p in first.warnings] != []
    # The text, when needed, is the file's parse.
    full = [a.full() for a in again.articles]
    assert [(a.id, a.text) for a in full] == [(a.id, a.text) for a in first.articles]
