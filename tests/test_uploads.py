"""Saving uploaded articles: names that could escape the corpus, types, sizes, bad content."""

import os

import pytest

from assistant.corpus import load_articles
from assistant.errors import UploadError
from assistant.uploads import check_name, save_upload

ARTICLE = b"title: Harbour board approves ferry terminal\nsource: Coast Courier\n\nThe harbour board approved a new ferry terminal on Monday."

BAD_NAMES = [
    ("../../x.txt", "the name is a path"),
    ("../corpus2/x.txt", "the name is a path"),
    ("sub/x.txt", "the name is a path"),
    ("..\\..\\x.txt", "the name is a path"),
    ("/etc/passwd.txt", "absolute paths are not allowed"),
    ("/tmp/x.txt", "absolute paths are not allowed"),
    ("\\\\server\\share\\x.txt", "absolute paths are not allowed"),
    ("C:\\Windows\\x.txt", "absolute paths are not allowed"),
    ("x\x00.txt", "contains a NUL byte"),
    ("x.txt\x00.pdf", "contains a NUL byte"),
    ("bad\nname.txt", "control characters"),
    ("", "the file name is empty"),
    ("   ", "the file name is empty"),
    ("..", "not a file name"),
    (".", "not a file name"),
    (".hidden.txt", "hidden file names"),
    ("report.pdf", "unsupported file type '.pdf'"),
    ("archive.tar.gz", "unsupported file type '.gz'"),
    ("script.txt.exe", "unsupported file type '.exe'"),
    ("README", "unsupported file type '(none)'"),
    (".txt", "hidden file names"),
    ("a" * 200 + ".txt", "the limit is 150"),
]


@pytest.mark.parametrize("name, message", BAD_NAMES)
def test_bad_names_are_refused_with_a_message_naming_the_file(tmp_path, name, message):
    corpus = tmp_path / "corpus"
    with pytest.raises(UploadError) as err:
        save_upload(corpus, name, ARTICLE, 1_000_000)
    text = str(err.value)
    assert message in text
    assert text.startswith("upload refused")
    if name.strip():
        assert repr(name)[:40] in text  # the name, control characters made visible
    # Nothing was written anywhere: not in the corpus, not beside it.
    assert not corpus.exists() or list(corpus.rglob("*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["corpus"])


def test_bad_name_is_not_a_path_type():
    with pytest.raises(UploadError, match="must be text"):
        check_name(b"x.txt")


SANITISED = [
    ("Budget report 2024.TXT", "Budget_report_2024.txt"),
    ("budget<script>.md", "budget_script.md"),
    ("élection—résultats.html", "élection_résultats.html"),
    ("  spaced.json  ", "spaced.json"),
    ("feed.JSONL", "feed.jsonl"),
    ("page.htm", "page.htm"),
    ("-leading-dash.txt", "leading-dash.txt"),
    ("a..b.txt", "a..b.txt"),
    ("$$$.txt", "upload.txt"),
]


@pytest.mark.parametrize("name, saved_as", SANITISED)
def test_names_are_sanitised(name, saved_as):
    assert check_name(name) == saved_as


def test_save_bytes_then_path_and_replace(tmp_path):
    corpus = tmp_path / "corpus"
    first = save_upload(corpus, "ferry.txt", ARTICLE, 10_000)
    assert first.path == corpus / "ferry.txt" and not first.replaced and first.articles == 1
    assert first.path.read_bytes() == ARTICLE
    src = tmp_path / "upload-tmp.bin"
    src.write_bytes(ARTICLE + b" It opens in May.")
    # A different file of the same name is never replaced silently: it gets a free name.
    second = save_upload(corpus, "ferry.txt", src, 10_000)
    assert second.renamed and not second.replaced and second.name == "ferry-2.txt"
    assert first.path.read_bytes() == ARTICLE
    assert second.path.read_bytes().endswith(b"It opens in May.")
    # The same content again is kept once; replace=True replaces on purpose.
    again = save_upload(corpus, "ferry.txt", ARTICLE, 10_000)
    assert again.unchanged and again.path == first.path
    third = save_upload(corpus, "ferry.txt", src, 10_000, replace=True)
    assert third.replaced and third.path.read_bytes().endswith(b"It opens in May.")
    assert sorted(p.name for p in corpus.iterdir()) == ["ferry-2.txt", "ferry.txt"]  # no temp file
    loaded = load_articles(corpus)
    assert [a.title for a in loaded.articles] == ["Harbour board approves ferry terminal"]


def test_quota_of_files_and_bytes(tmp_path):
    corpus = tmp_path / "corpus"
    save_upload(corpus, "a.txt", ARTICLE, 10_000, max_files=2)
    save_upload(corpus, "b.txt", ARTICLE + b" Two.", 10_000, max_files=2)
    with pytest.raises(UploadError, match="holds 2 files, its limit"):
        save_upload(corpus, "c.txt", ARTICLE + b" Three.", 10_000, max_files=2)
    used = sum(p.stat().st_size for p in corpus.iterdir())
    with pytest.raises(UploadError, match="over its .*-byte quota"):
        save_upload(corpus, "d.txt", ARTICLE + b" Four.", 10_000, max_total_bytes=used + 10)
    assert sorted(p.name for p in corpus.iterdir()) == ["a.txt", "b.txt"]


def test_name_over_255_bytes_refused(tmp_path):
    corpus = tmp_path / "corpus"
    with pytest.raises(UploadError, match="bytes long in UTF-8; the limit is 200"):
        save_upload(corpus, "é" * 140 + ".txt", ARTICLE, 10_000)
    with pytest.raises(UploadError, match="the limit is 150"):
        save_upload(corpus, "a" * 300 + ".txt", ARTICLE, 10_000)
    assert not corpus.exists() or not list(corpus.iterdir())


def test_size_limit_and_empty_file(tmp_path):
    corpus = tmp_path / "corpus"
    with pytest.raises(UploadError, match=r"'big.txt': the file is 2,001 bytes, over the 2,000-byte upload limit"):
        save_upload(corpus, "big.txt", b"x" * 2001, 2000)
    with pytest.raises(UploadError, match="'empty.txt': the file is empty"):
        save_upload(corpus, "empty.txt", b"", 2000)
    assert not corpus.exists() or list(corpus.iterdir()) == []


BAD_CONTENT = [
    ("broken.json", b'[{"title": "x", ', "invalid JSON"),
    ("records.jsonl", b'{"title": "no body"}\n', "no readable article"),
    ("blank.txt", b"   \n\n ", "empty file"),
    ("binary.txt", b"\x00\x01\x02binary\x00" * 50, "binary data"),
    ("front.md", b"---\ntitle: [unclosed\n---\nBody text here.", "invalid YAML front matter"),
]


@pytest.mark.parametrize("name, data, message", BAD_CONTENT)
def test_unreadable_content_is_refused_and_nothing_is_kept(tmp_path, name, data, message):
    corpus = tmp_path / "corpus"
    (corpus).mkdir()
    (corpus / "keep.txt").write_bytes(ARTICLE)
    with pytest.raises(UploadError) as err:
        save_upload(corpus, name, data, 100_000)
    assert message in str(err.value) and repr(name) in str(err.value)
    assert sorted(os.listdir(corpus)) == ["keep.txt"]


def test_existing_directory_or_symlink_is_not_overwritten(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "dir.txt").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    (corpus / "link.txt").symlink_to(outside)
    for name in ("dir.txt", "link.txt"):
        with pytest.raises(UploadError, match="not a regular file|outside the corpus"):
            save_upload(corpus, name, ARTICLE, 10_000)
    assert outside.read_text() == "outside"


def test_missing_source_path(tmp_path):
    with pytest.raises(UploadError, match="the uploaded file is missing"):
        save_upload(tmp_path / "corpus", "x.txt", tmp_path / "nope", 10_000)
