"""The web chat through real HTTP: each app runs on a free loopback port (real model, real
Chroma, real Gradio) and is driven with gradio_client; rendering is checked as HTML."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError, AuthenticationError

from assistant import Assistant
from assistant.answering import Answer, AnswerSentence, Citation
from assistant.errors import ConfigError
from assistant.webapp import Access, launch, parse_auth, plain_history, render_answer
from tests.conftest import ROOT, SEED, SEED_QUESTION, SEED_SENTENCE, write

PLANET = """---
title: Springfield approves the new tram line
source: Daily Planet
date: 2024-03-13
url: https://dailyplanet.example/tram
---
The Springfield city council approved a new tram line to the airport on Wednesday.
Construction starts next spring and the line should carry 40,000 riders a day.
"""

FERRY = """title: Harbour board approves the new ferry terminal
source: Coast Courier
date 2025-02-03

The harbour board approved a new ferry terminal for the old port on Monday.
The terminal will open in 2027 and serve three island routes.
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(assistant: Assistant, **kw):
    demo = launch(assistant, host="127.0.0.1", port=free_port(), block=False, **kw)
    try:
        yield demo
    finally:
        demo.close()


def client(demo, **kw) -> Client:
    return Client(demo.local_url, verbose=False, analytics_enabled=False, **kw)


@pytest.fixture(scope="module")
def news(tmp_path_factory, settings_factory):
    """A read-only app over the seed article and a second outlet."""
    corpus = tmp_path_factory.mktemp("web-corpus")
    shutil.copy(SEED, corpus / SEED.name)
    write(corpus / "planet.md", PLANET)
    assistant = Assistant(settings_factory(corpus))
    report = assistant.build_index()
    with running(assistant, report=report) as demo:
        yield assistant, demo


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory, settings_factory):
    """An app whose corpus the tests change (uploads, rebuilds); small upload limit."""
    corpus = tmp_path_factory.mktemp("web-upload-corpus")
    shutil.copy(SEED, corpus / SEED.name)
    assistant = Assistant(settings_factory(corpus, max_upload_bytes=20_000))
    assistant.build_index()
    with running(assistant) as demo:
        yield assistant, demo


def corpus_files(assistant) -> list[str]:
    root = Path(assistant.settings.corpus_dir)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# -- /ask: the JSON of `assistant ask --json` ---------------------------------------------

def test_ask_endpoint_returns_the_answer_json(news):
    assistant, demo = news
    data = client(demo).predict(SEED_QUESTION, api_name="/ask")
    assert data == assistant.ask(SEED_QUESTION).to_dict()
    assert SEED_SENTENCE in data["answer"] and "[1]" in data["answer"]
    first = data["citations"][0]
    assert first["n"] == 1 and first["date"] == "2025-08-27"
    start, end = first["span"]
    assert SEED_SENTENCE in first["passage"][start:end]


FOLLOW_UP_HISTORIES = [
    [[SEED_QUESTION, "…"]],
    [{"role": "user", "content": SEED_QUESTION}, {"role": "assistant", "content": "…"}],
    # What a Gradio 6 Chatbot holds: content as a list of parts.
    [{"role": "user", "content": [{"type": "text", "text": SEED_QUESTION}]},
     {"role": "assistant", "content": [{"type": "text", "text": "<div>…</div>"}]}],
]


@pytest.mark.parametrize("history", FOLLOW_UP_HISTORIES, ids=["pairs", "messages", "gradio-parts"])
def test_ask_follow_up_uses_history(news, history):
    data = client(news[1]).predict("and what about teachers?", history, api_name="/ask")
    assert data["searched_for"] == "what did the Speakers discuss about teachers?"
    assert "status of teachers" in data["answer"]


def test_ask_filters_apply_to_retrieval(news):
    c = client(news[1])
    only_planet = c.predict(SEED_QUESTION, None, None, None, ["Daily Planet"], api_name="/ask")
    assert only_planet["passages"] and {p["source"] for p in only_planet["passages"]} == {"Daily Planet"}
    before_2025 = c.predict(SEED_QUESTION, date_to="2024-12-31", api_name="/ask")
    assert before_2025["passages"] and all(p["date"] <= "2024-12-31" for p in before_2025["passages"])
    from_2025 = c.predict(SEED_QUESTION, date_from="2025-01-01", api_name="/ask")
    assert {p["date"] for p in from_2025["passages"]} == {"2025-08-27"}
    assert SEED_SENTENCE in from_2025["answer"]
    one = c.predict(SEED_QUESTION, k=1, api_name="/ask")
    assert len(one["passages"]) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"question": "   "}, "the question is empty"),
    ({"question": SEED_QUESTION, "date_from": "2025-13-01"}, "unknown date '2025-13-01'"),
    ({"question": SEED_QUESTION, "date_from": "2025-02-01", "date_to": "2025-01-01"}, "the date range is empty"),
    ({"question": SEED_QUESTION, "history": "not a list"}, "history must be a list"),
])
def test_ask_errors_are_messages(news, kwargs, message):
    with pytest.raises(AppError, match=message):
        client(news[1]).predict(api_name="/ask", **kwargs)


# -- the chat event (what the page calls): streaming, follow-ups, filters ---------------------

def test_chat_streams_answer_with_source_cards_then_follow_up(news):
    c = client(news[1])
    job = c.submit(SEED_QUESTION, api_name="/chat")
    question_box, chat = job.result(timeout=120)
    steps = job.outputs()
    assert len(steps) >= 2  # the pending message first, then the answer
    assert question_box == ""
    assert "Reading the articles" in steps[0][1][-1]["content"][0]["text"]
    final = chat[-1]["content"][0]["text"]
    assert "Searched for: <q>what did the Speakers discuss about AI legislation?</q>" in final
    assert "<span class='cite'>[1]</span>" in final and "source-card" in final
    assert f"<mark>Over 90% of public services in the country are available online, and {SEED_SENTENCE}" in final
    # Only cited sources get cards, numbered like the markers; the others are folded.
    markers = set(re.findall(r"<span class='cite'>\[(\d+)\]</span>", final))
    cards = set(re.findall(r"<span class='source-n'>\[(\d+)\]</span>", final.split("<details")[0]))
    assert "1" in markers and markers == cards
    assert "<details class='other-passages'><summary>Other retrieved passages" in final
    # The follow-up in the same session is read with the chat history.
    _, chat = c.predict("and what about teachers?", chat, api_name="/chat")
    assert len(chat) == 4
    final = chat[-1]["content"][0]["text"]
    assert "Searched for: <q>what did the Speakers discuss about teachers?</q>" in final
    assert "<mark>" in final and "status of teachers" in final


def test_chat_filters_and_bad_filters(news):
    c = client(news[1])
    _, chat = c.predict(SEED_QUESTION, [], "", "", ["Daily Planet"], 5, api_name="/chat")
    final = chat[-1]["content"][0]["text"]
    assert "Daily Planet" in final and "000_db5d042bbc5024b2" not in final
    _, chat = c.predict(SEED_QUESTION, [], "27/08/2025", "", [], 5, api_name="/chat")
    assert "⚠️ unknown date &#x27;27/08/2025&#x27;" in chat[-1]["content"][0]["text"]


def test_empty_message_changes_nothing(news):
    _, chat = client(news[1]).predict("   ", [], api_name="/chat")
    assert chat == []


# -- Articles: upload, rebuild, statistics ----------------------------------------------------

def test_upload_then_rebuild_makes_the_article_searchable(newsroom):
    assistant, demo = newsroom
    c = client(demo)
    saved = c.predict("ferry terminal.txt", FERRY, api_name="/upload")
    assert saved == {"name": "ferry_terminal.txt", "saved_as": "uploads/ferry_terminal.txt",
                     "replaced": False, "renamed": False, "bytes": len(FERRY.encode()),
                     "articles": 1}
    assert (Path(assistant.settings.corpus_dir) / "uploads" / "ferry_terminal.txt").read_text() == FERRY
    result = c.predict(api_name="/rebuild")
    assert result["report"]["added"] == 1 and result["report"]["skipped"] == []
    assert result["stats"]["articles"] == 2 and "Coast Courier" in result["stats"]["outlets"]
    assert c.predict(api_name="/stats")["articles"] == 2
    data = c.predict("What did the harbour board approve?", api_name="/ask")
    assert data["citations"][0]["title"] == "Harbour board approves the new ferry terminal"
    assert "ferry terminal" in data["answer"]


def test_page_upload_and_rebuild_with_report(newsroom, tmp_path):
    assistant, demo = newsroom
    c = client(demo)
    good = write(tmp_path / "Budget report 2024.md",
                 "---\ntitle: City budget grows\nsource: Metro Daily\ndate: 2024-11-02\n---\n"
                 "The city council approved a budget that grows by three percent next year.")
    bad = write(tmp_path / "notes.pdf", b"%PDF-1.4 not an article")
    broken = write(tmp_path / "feed.json", '[{"title": "x", ')
    html, status, *_ = c.predict([handle_file(str(good)), handle_file(str(bad)), handle_file(str(broken))],
                                 api_name="/add_files")
    assert "1 of 3 file(s) added" in html
    assert "✓ Index updated: 1 added" in status  # added and indexed in one step
    assert "✓ Budget_report_2024.md saved as uploads/Budget_report_2024.md" in html
    assert "✗ upload refused: &#x27;notes.pdf&#x27;: unsupported file type" in html
    assert "✗ upload refused: &#x27;feed.json&#x27;: invalid JSON" in html
    assert "notes.pdf" not in corpus_files(assistant) and "uploads/feed.json" not in corpus_files(assistant)
    # An unreadable file dropped into the corpus by hand is reported as skipped.
    write(Path(assistant.settings.corpus_dir) / "scan.pdf", b"%PDF")
    added, status, outlets, examples, stats, report = c.predict(None, api_name="/rebuild_page")
    assert added == "" and "✓ Index updated" in status
    assert "Metro Daily" in [choice[0] for choice in outlets["choices"]]
    assert any("City budget grows" in sample[0] for sample in examples["samples"])
    assert "<th>Articles</th>" in stats and "2024-11-02 – 2025-08-27" in stats
    assert "Skipped files (1)" in report and "scan.pdf" in report and "unsupported file type" in report


BAD_UPLOAD_NAMES = [
    ("../../x.txt", "the name is a path; folders are not allowed"),
    ("../corpus/x.md", "the name is a path"),
    ("/etc/cron.d/x.txt", "absolute paths are not allowed"),
    ("C:\\x.txt", "absolute paths are not allowed"),
    ("x\x00.txt", "contains a NUL byte"),
    (".env.txt", "hidden file names"),
    ("payload.exe", "unsupported file type '.exe'"),
    ("", "the file name is empty"),
]


@pytest.mark.parametrize("name, message", BAD_UPLOAD_NAMES)
def test_bad_upload_names_are_refused_and_change_nothing(newsroom, name, message):
    assistant, demo = newsroom
    c = client(demo)
    before_files, before_stats = corpus_files(assistant), c.predict(api_name="/stats")
    with pytest.raises(AppError) as err:
        c.predict(name, FERRY, api_name="/upload")
    assert message in str(err.value) and "upload refused" in str(err.value)
    assert corpus_files(assistant) == before_files
    assert not (Path(assistant.settings.corpus_dir).parent / "x.txt").exists()
    assert c.predict(api_name="/stats") == before_stats


def test_oversized_and_unreadable_uploads_are_refused(newsroom):
    assistant, demo = newsroom
    c = client(demo)
    before = corpus_files(assistant)
    with pytest.raises(AppError, match="over the 20,000-byte upload limit"):
        c.predict("big.txt", "word " * 5000, api_name="/upload")
    with pytest.raises(AppError, match="invalid JSON"):
        c.predict("records.json", "[{", api_name="/upload")
    assert corpus_files(assistant) == before


def _outside_index(assistant):
    s = assistant.settings
    return subprocess.run([sys.executable, "-m", "assistant", "index", "--corpus", str(s.corpus_dir),
                           "--index", str(s.index_dir)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_outside_build_beside_the_serving_app_is_refused(newsroom):
    """The serving app is its embedded index's only writer: a second build (another
    `assistant index`) is refused naming the app; the app's own rebuild and answers go on."""
    assistant, demo = newsroom
    c = client(demo)
    proc = _outside_index(assistant)
    assert proc.returncode == 1 and str(demo.server_port) in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "report" in c.predict(api_name="/rebuild")
    assert SEED_SENTENCE in c.predict(SEED_QUESTION, api_name="/ask")["answer"]


def test_answering_continues_while_a_rebuild_runs(newsroom, monkeypatch):
    assistant, demo = newsroom
    started, release = threading.Event(), threading.Event()
    original = assistant.build_index

    def slow_build(corpus_dir=None, progress=None):
        def gate(done, total):
            if not started.is_set():
                started.set()
                release.wait(120)  # hold the build (and its lock) open
            if progress:
                progress(done, total)
        return original(corpus_dir, progress=gate)

    monkeypatch.setattr(assistant, "build_index", slow_build)
    write(Path(assistant.settings.corpus_dir) / "uploads" / "late.txt",
          "title: Late news\nsource: Coast Courier\n\nThe night ferry was cancelled because of the storm.")
    try:
        job = client(demo).submit(api_name="/rebuild")
        assert started.wait(120), "the rebuild did not start"
        t0 = time.monotonic()
        data = client(demo).predict(SEED_QUESTION, api_name="/ask")
        assert SEED_SENTENCE in data["answer"]
        _, chat = client(demo).predict(SEED_QUESTION, api_name="/chat")
        assert "source-card" in chat[-1]["content"][0]["text"]
        assert not job.done() and time.monotonic() - t0 < 60
        assert _outside_index(assistant).returncode == 1  # `assistant index` beside it is refused
    finally:
        release.set()
    assert job.result(timeout=120)["report"]["added"] >= 1


def test_first_use_without_an_index_then_upload_and_rebuild(tmp_path, settings_factory):
    corpus = tmp_path / "empty-corpus"
    corpus.mkdir()
    with running(Assistant(settings_factory(corpus))) as demo:
        c = client(demo)
        with pytest.raises(AppError, match="no index"):
            c.predict(api_name="/stats")
        _, chat = c.predict(SEED_QUESTION, api_name="/chat")
        assert "⚠️ no index" in chat[-1]["content"][0]["text"]
        with pytest.raises(AppError, match="holds no readable article"):
            c.predict(api_name="/rebuild")
        c.predict("ferry.txt", FERRY, api_name="/upload")
        assert c.predict(api_name="/rebuild")["stats"]["articles"] == 1
        assert "ferry terminal" in c.predict("What did the harbour board approve?", api_name="/ask")["answer"]


# -- safety: binding, login, share ------------------------------------------------------------

def test_binds_to_loopback_by_default_and_never_shares(news):
    assistant, demo = news
    assert assistant.settings.host == "127.0.0.1"
    assert demo.local_url.startswith("http://127.0.0.1:")
    assert not demo.share and demo.share_url is None


def test_login_when_auth_is_set(news):
    assistant, _ = news
    guarded = Assistant(assistant.settings.replace(auth="editor:s3cret"))
    with running(guarded) as demo:
        with pytest.raises(AuthenticationError):
            client(demo)
        with pytest.raises(ValueError, match="Could not login"):
            client(demo, auth=("editor", "wrong"))
        assert client(demo, auth=("editor", "s3cret")).predict(api_name="/stats")["articles"] == 2


@pytest.mark.parametrize("value, expected", [("", None), ("ed:pw", ("ed", "pw")), ("ed:p:w", ("ed", "p:w"))])
def test_parse_auth(value, expected):
    assert parse_auth(value) == expected


@pytest.mark.parametrize("value", ["nopassword", ":pw", "ed:"])
def test_parse_auth_refuses_malformed_settings(value):
    with pytest.raises(ConfigError, match="user:password"):
        parse_auth(value)


@pytest.mark.slow  # a subprocess or the local LLM: the integration tier
def test_python_app_py_serves_the_same_app(news):
    """`python app.py --host H` with the port from the environment, as a real process."""
    assistant, demo = news
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASSISTANT_CORPUS_DIR": str(assistant.settings.corpus_dir),
           "ASSISTANT_INDEX_DIR": str(assistant.settings.index_dir), "ASSISTANT_PORT": str(port),
           "ASSISTANT_HOST": "0.0.0.0"}
    proc = subprocess.Popen([sys.executable, "app.py", "--no-index", "--host", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "app.py did not start"
            time.sleep(0.5)
        served = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False)
        assert served.predict(api_name="/stats")["articles"] == 2
        names = lambda c: set(c.view_api(return_format="dict", print_info=False)["named_endpoints"])  # noqa: E731
        assert names(served) == names(client(demo)) >= {"/ask", "/chat", "/upload", "/rebuild", "/stats"}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert f"serving on http://127.0.0.1:{port}" in proc.stdout.read()


# -- rendering: untrusted article text --------------------------------------------------------

PAYLOAD = ('Officials met. <script>alert(1)</script> <img src=x onerror="alert(2)"> '
           '[click me](javascript:alert(3)) # Heading\n\n    code block')


def payload_answer(**kw) -> Answer:
    c = Citation(1, "<b>T</b> [x](javascript:alert(5))", "S<i>", None, "javascript:alert(4)",
                 PAYLOAD, (0, 14))
    other = Citation(2, "Other <svg onload=alert(6)>", "O", "2024-01-01", "https://ok.example/a?b=1&c=2",
                     "Another passage <iframe src=javascript:alert(7)>", (0, 7), chunk_id="c2")
    return Answer("q", "Officials met. [1]", False, [c], [AnswerSentence("Officials met.", [1])],
                  passages=[c, other], **kw)


def test_render_answer_makes_article_text_inert():
    html = render_answer(payload_answer())
    for bad in ("<script", "<img", "<svg", "<iframe", "<b>T", "<i>", "href=\"javascript", "](",
                "onerror=\"", "\n"):
        assert bad not in html, bad
    assert "&lt;script&gt;alert&#40;1&#41;&lt;/script&gt;" in html
    assert "&#91;click me&#93;&#40;javascript:alert&#40;3&#41;&#41;" in html
    assert "<mark>Officials met.</mark>" in html and "<span class='cite'>[1]</span>" in html
    assert "href=" not in html.split("other-passages")[0]  # the javascript: URL is not linked
    assert 'href="https://ok.example/a?b=1&amp;c=2"' in html  # an http(s) URL is
    assert "<br><br>" in html  # line breaks kept without blank lines


def test_render_answer_shows_only_cited_sources_and_folds_the_rest():
    html = render_answer(payload_answer(searched_for="officials"))
    cited, folded = html.split("<details class='other-passages'>")
    assert cited.count("source-card") == 1 and "Searched for: <q>officials</q>" in cited
    assert "Other retrieved passages (1)" in folded and folded.count("source-card") == 1
    abstained = render_answer(Answer("q", "The articles do not cover this question.", True, [],
                                     passages=payload_answer().passages))
    assert "Closest passages (2)" in abstained and "source-n" not in abstained


def test_plain_history_normalises_shapes():
    assert plain_history(None) == []
    assert plain_history([("q", "a")]) == [["q", "a"]]
    assert plain_history([{"role": "user", "content": [{"type": "text", "text": "q"}]}]) == \
        [{"role": "user", "content": "q"}]
    with pytest.raises(ConfigError):
        plain_history("q")


# -- hostile parameters, roles, hosts (issue 13) -----------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(k=100000), "k must be from 1 to 50"),
    (dict(k="abc"), "k must be a whole number from 1 to 50"),
    (dict(outlets={"a": 1}), "outlets must be a list of outlet names"),
    (dict(date_from=20240101), "date_from must be a YYYY-MM-DD text"),
    (dict(history=[["x" * 10_000_000, ""]]), "history item 1 is 10,000,000 characters long"),
    (dict(history=42), "history must be a list of [question, answer] pairs"),
])
def test_ask_endpoint_bad_parameters_clear_message(news, kwargs, message):
    _, demo = news
    with pytest.raises(AppError, match=re.escape(message)):
        client(demo).predict(SEED_QUESTION, api_name="/ask", **kwargs)


def test_ask_endpoint_adversarial_follow_up_is_fast(news):
    _, demo = news
    turn = "what about x" + "?" * 1900 + "a"
    t0 = time.monotonic()
    data = client(demo).predict(turn, [[SEED_QUESTION, "..."], [turn, "..."]], api_name="/ask")
    assert time.monotonic() - t0 < 30 and data["question"]


def test_chat_unexpected_error_is_shown_not_stuck(news, monkeypatch):
    assistant, demo = news

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setattr(assistant, "stream", broken)
    _, chat = client(demo).predict(SEED_QUESTION, api_name="/chat")
    text = chat[-1]["content"][0]["text"]
    assert "Something went wrong while answering &#40;RuntimeError&#41;" in text
    assert "Reading the articles" not in text


def test_upload_batch_one_bad_file_others_saved(newsroom, tmp_path):
    assistant, demo = newsroom
    first = write(tmp_path / "one.txt", "title: One\n\nThe first harbour story of the batch.")
    deep = write(tmp_path / "deep.json", "[" * 10_000 + "]" * 10_000)
    last = write(tmp_path / "three.txt", "title: Three\n\nThe third story of the batch.")
    html = client(demo).predict([handle_file(str(p)) for p in (first, deep, last)],
                                api_name="/add_files")[0]
    assert "2 of 3 file(s) added" in html and "JSON nested more than 64 levels deep" in html
    files = corpus_files(assistant)
    assert {"uploads/one.txt", "uploads/three.txt"} <= set(files) and "uploads/deep.json" not in files


def test_upload_name_over_255_bytes_clear_message(newsroom):
    assistant, demo = newsroom
    before = corpus_files(assistant)
    with pytest.raises(AppError, match="bytes long in UTF-8; the limit is 200"):
        client(demo).predict("é" * 140 + ".txt", FERRY, api_name="/upload")
    assert corpus_files(assistant) == before


def test_access_roles_and_login_rate_limit(tmp_path, settings_factory):
    users = write(tmp_path / "users", "reader:pw1:read\neditor:pw2:write\n")
    settings = settings_factory(tmp_path, users_file=str(users))
    access = Access(settings, max_failures=3, window=60)
    assert access.login("reader", "pw1") and access.login("editor", "pw2")
    assert not access.can_write("reader") and access.can_write("editor")
    assert not access.can_write(None)
    for _ in range(3):
        assert not access.login("editor", "guess")
    assert not access.login("editor", "pw2")  # locked out for the window, right password or not
    assert access.login("reader", "pw1")
    with pytest.raises(ConfigError, match="line 1: expected user:password:role"):
        Access(settings_factory(tmp_path, users_file=str(write(tmp_path / "bad", "x:y:admin\n"))))


def test_reader_cannot_write_writer_can(news, tmp_path):
    assistant, _ = news
    users = write(tmp_path / "users", "reader:pw1:read\neditor:pw2:write\n")
    with running(Assistant(assistant.settings.replace(users_file=str(users)))) as demo:
        reader = client(demo, auth=("reader", "pw1"))
        assert reader.predict(api_name="/stats")["articles"] == 2
        with pytest.raises(AppError, match="needs an account with the write role"):
            reader.predict("x.txt", FERRY, api_name="/upload")
        with pytest.raises(AppError, match="needs an account with the write role"):
            reader.predict(api_name="/rebuild")
        assert "uploads/x.txt" not in corpus_files(assistant)


def test_anonymous_writes_refused_on_non_loopback_bind(news):
    assistant, _ = news
    port = free_port()
    demo = launch(Assistant(assistant.settings.replace(host="0.0.0.0")), port=port, block=False)
    try:
        c = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False)
        with pytest.raises(AppError, match="--allow-anonymous-writes"):
            c.predict("x.txt", FERRY, api_name="/upload")
        assert "uploads/x.txt" not in corpus_files(assistant)
        assert c.predict(api_name="/stats")["articles"] == 2
    finally:
        demo.close()


def test_unknown_host_header_refused(news):
    import urllib.error
    import urllib.request

    _, demo = news
    request = urllib.request.Request(demo.local_url, headers={"Host": "rebind.attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400
    assert urllib.request.urlopen(demo.local_url, timeout=10).status == 200


def test_login_page_holds_no_outlet_names(news):
    assistant, _ = news
    import urllib.error
    import urllib.request

    with running(Assistant(assistant.settings.replace(auth="editor:s3cret"))) as demo:
        page = urllib.request.urlopen(demo.local_url, timeout=10).read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:  # the config needs the login
            urllib.request.urlopen(demo.local_url.rstrip("/") + "/config", timeout=10)
    assert err.value.code == 401
    at = page.find("Daily Planet")
    assert at < 0, page[max(0, at - 300):at + 50]

def test_page_rebuild_with_chosen_file_adds_and_indexes_it(newsroom, tmp_path):
    """A new user chooses a file and presses Rebuild index: it is added and indexed (never
    "0 added" while the file sits unadded)."""
    assistant, demo = newsroom
    c = client(demo)
    chosen = write(tmp_path / "tram.md", "---\ntitle: Council keeps tram depot\nsource: Metro Daily\n"
                   "date: 2024-10-02\n---\nThe council kept the old tram depot as a museum after a vote.")
    added, status, *_ = c.predict([handle_file(str(chosen))], api_name="/rebuild_page")
    assert "1 of 1 file(s) added" in added and "tram.md saved as uploads/tram.md" in added
    assert "✓ Index updated: 1 added" in status
    assert any(r.get("title") == "Council keeps tram depot" for r in assistant.index.article_records().values())
