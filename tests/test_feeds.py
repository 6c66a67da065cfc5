"""feeds.py: feeds and pages into corpus files, against a real loopback HTTP server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from assistant.feeds import FeedList, add_urls, article_path, pull
from assistant.fetch import Fetcher, FetchPolicy
from tests.feed_server import FeedServer, Route, article_html, rss

STORIES = {
    "ferry": ("Harbour board approves new ferry terminal",
              "The harbour board approved a new ferry terminal on Tuesday after two years of "
              "public hearings, clearing the way for construction to begin next spring.\n"
              "The terminal will replace the 1962 building on the north pier, which engineers "
              "said could no longer be repaired at a reasonable cost.\n"
              "Board chair Maria Okafor said the project would be paid for by port fees and a "
              "regional transport grant, not by local property taxes.\n"
              "Residents of the waterfront district raised concerns about traffic during the "
              "three years of building work, and the board promised a shuttle bus."),
    "library": ("City library extends opening hours",
                "The city library will stay open until ten in the evening on weekdays from "
                "next month, the council announced on Monday.\n"
                "Librarians had asked for longer hours for years, pointing to queues of "
                "students at closing time during the exam season.\n"
                "The extension costs about 400,000 a year and is funded by cutting the "
                "budget for printed newspapers, which few visitors still read.\n"
                "A survey of 3,000 residents found that most wanted evening hours more than "
                "Sunday opening, which the library tried last year."),
    "bridge": ("Engineers close river bridge after cracks found",
               "Engineers closed the old river bridge to all traffic on Friday after "
               "inspectors found cracks in two of its steel supports.\n"
               "About 20,000 vehicles cross the bridge each day, and drivers were told to "
               "expect long delays on the ring road while it stays closed.\n"
               "The transport department said repairs would take at least six weeks and that "
               "a temporary footbridge would open for pedestrians within days.\n"
               "The bridge was last inspected eighteen months ago, when no serious damage "
               "was recorded, according to the department's published reports."),
}


@pytest.fixture
def server():
    with FeedServer() as s:
        yield s


def fetcher_for(server) -> Fetcher:
    return Fetcher(FetchPolicy(host_delay=0.0, timeout=3.0,
                               allow_hosts=frozenset({f"127.0.0.1:{server.port}"})))


def publish(server, key, *, site="Example News", text=None, title=None, path=None):
    title_, body = STORIES[key]
    path = path or f"/news/{key}.html"
    server.routes[path] = Route(article_html(title or title_, text or body, site=site))
    return server.url(path)


def corpus_files(corpus: Path) -> dict[str, str]:
    return {p.relative_to(corpus).as_posix(): p.read_text() for p in corpus.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(corpus).parts)}


def front(text: str) -> dict:
    return yaml.safe_load(text.split("---\n")[1])


def test_add_urls_article_page_written_with_front_matter(server, tmp_path):
    url = publish(server, "ferry", site="Coast Courier")
    report = add_urls(tmp_path, [url + "?utm_source=rss"], fetcher=fetcher_for(server))
    assert report.problems == [] and len(report.added) == 1
    rel = report.added[0]
    assert rel == article_path(url) and rel.startswith(f"web/127.0.0.1_{server.port}/ferry-")
    text = (tmp_path / rel).read_text()
    meta = front(text)
    assert meta["title"] == "Harbour board approves new ferry terminal"
    assert meta["source"] == "Coast Courier" and meta["url"] == url and meta["date"] == "2026-11-20"
    assert "Board chair Maria Okafor" in text and "Home | World" not in text
    from assistant.corpus import parse_file

    article = parse_file(tmp_path / rel, rel)[0]
    assert article.title == meta["title"] and article.source == "Coast Courier"


def test_pull_teaser_feed_fetches_pages_then_nothing_on_second_pull(server, tmp_path):
    items = [{"title": STORIES[k][0], "link": publish(server, k), "description": "teaser"}
             for k in STORIES]
    items.append({"title": "Gone story", "link": server.url("/news/gone.html")})  # 404 entry
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    FeedList(tmp_path).add(server.url("/feed.xml"))
    first = pull(tmp_path, fetcher=fetcher_for(server))
    assert len(first.added) == 3
    assert [(p.where, p.reason) for p in first.problems] == [(server.url("/news/gone.html"), "HTTP 404")]
    assert {front(t)["source"] for t in corpus_files(tmp_path).values()} == {"Example News"}
    hits_before = sum(server.hits.values())
    second = pull(tmp_path, fetcher=fetcher_for(server))
    assert second.requests == 1 and second.not_modified == 1 and not second.changed
    assert sum(server.hits.values()) == hits_before + 1  # only the feed's conditional GET
    assert all(n == 1 for path, n in server.bodies.items() if path.startswith("/news/"))
    assert FeedList(tmp_path).feeds[server.url("/feed.xml")]["last_error"] == ""


def test_pull_changed_feed_fetches_only_new_entries(server, tmp_path):
    items = [{"title": STORIES["ferry"][0], "link": publish(server, "ferry")}]
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    FeedList(tmp_path).add(server.url("/feed.xml"))
    pull(tmp_path, fetcher=fetcher_for(server))
    items.append({"title": STORIES["library"][0], "link": publish(server, "library")})
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    report = pull(tmp_path, fetcher=fetcher_for(server))
    assert len(report.added) == 1 and report.unchanged == 1
    assert server.hits["/news/ferry.html"] == 1 and server.hits["/news/library.html"] == 1


def test_pull_full_text_feed_uses_entry_content_without_fetching(server, tmp_path):
    title, body = STORIES["bridge"]
    content = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    items = [{"title": title, "link": server.url("/news/bridge.html"), "content": content,
              "date": "2026-11-21"}]
    server.routes["/full.xml"] = Route(rss("River Times", items), content_type="application/rss+xml")
    FeedList(tmp_path).add(server.url("/full.xml"))
    report = pull(tmp_path, fetcher=fetcher_for(server))
    assert len(report.added) == 1 and server.hits["/news/bridge.html"] == 0
    meta = front((tmp_path / report.added[0]).read_text())
    assert meta == {**meta, "title": title, "source": "River Times", "date": "2026-11-21"}


def test_pull_corrected_entry_replaces_file_and_marks_updated(server, tmp_path):
    url = publish(server, "library")
    items = [{"title": STORIES["library"][0], "link": url, "date": "2026-11-20"}]
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    FeedList(tmp_path).add(server.url("/feed.xml"))
    rel = pull(tmp_path, fetcher=fetcher_for(server)).added[0]
    corrected = STORIES["library"][1].replace("about 400,000 a year", "about 450,000 a year")
    publish(server, "library", text=corrected)
    items[0]["title"] += " (corrected)"
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    report = pull(tmp_path, fetcher=fetcher_for(server))
    assert report.updated == [rel] and report.added == []
    files = corpus_files(tmp_path)
    assert list(files) == [rel]
    assert "450,000" in files[rel] and "400,000" not in files[rel]
    # No date of its own in the feed: the correction is dated the day it was fetched.
    assert front(files[rel])["updated"] == dt.date.today().isoformat() and "fetched" in front(files[rel])


def test_pull_correction_reaches_index_record_citation_and_card(server, tmp_path, make_assistant):
    from assistant.webapp import render_sources

    corpus = tmp_path / "corpus"
    url = publish(server, "library", site="Metro Daily")
    items = [{"title": STORIES["library"][0], "link": url, "date": "2026-11-20"}]
    server.routes["/feed.xml"] = Route(rss("Metro Daily", items), content_type="application/rss+xml")
    FeedList(corpus).add(server.url("/feed.xml"))
    pull(corpus, fetcher=fetcher_for(server))
    assistant = make_assistant(corpus)
    assistant.build_index()
    question = "How much do the longer library hours cost?"
    first = assistant.ask(question)
    assert first.citations and first.citations[0].updated is None
    assert first.to_dict()["citations"][0]["updated"] is None

    corrected = STORIES["library"][1].replace("about 400,000 a year", "about 450,000 a year")
    publish(server, "library", text=corrected, site="Metro Daily")
    items[0]["updated"] = "2026-11-22T09:30:00Z"  # the feed dates its correction
    server.routes["/feed.xml"] = Route(rss("Metro Daily", items), content_type="application/rss+xml")
    assert len(pull(corpus, fetcher=fetcher_for(server)).updated) == 1
    built = assistant.build_index()
    assert (built.updated, built.articles) == (1, 1)
    [record] = assistant.store.article_records().values()
    assert record["updated"] == "2026-11-22" and record["date"] == "2026-11-20"
    answer = assistant.ask(question)
    [cited] = {c.article_id: c for c in answer.citations}.values()
    assert cited.updated == "2026-11-22" and cited.date == "2026-11-20" and "450,000" in cited.passage
    assert answer.to_dict()["citations"][0]["updated"] == "2026-11-22"
    assert "2026-11-20, updated 2026-11-22" in str(answer)
    card = render_sources(answer)
    assert "<span class='source-date'>2026-11-20, updated 2026-11-22</span>" in card


def test_pull_retracted_or_deleted_entry_removes_file(server, tmp_path):
    ferry, bridge = publish(server, "ferry"), publish(server, "bridge")
    items = [{"title": STORIES["ferry"][0], "link": ferry},
             {"title": STORIES["bridge"][0], "link": bridge}]
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    FeedList(tmp_path).add(server.url("/feed.xml"))
    assert len(pull(tmp_path, fetcher=fetcher_for(server)).added) == 2
    items[0]["category"] = "Retracted"  # the feed marks the ferry story retracted
    items[1]["title"] += " (update)"  # the bridge story changed, and its page is gone
    server.routes.pop("/news/bridge.html")
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    report = pull(tmp_path, fetcher=fetcher_for(server))
    assert len(report.removed) == 2 and corpus_files(tmp_path) == {}


def test_add_urls_gone_page_removes_its_article(server, tmp_path):
    url = publish(server, "ferry")
    add_urls(tmp_path, [url], fetcher=fetcher_for(server))
    server.routes[url.removeprefix(server.base)] = Route(b"gone", status=410)
    report = add_urls(tmp_path, [url], fetcher=fetcher_for(server))
    assert len(report.removed) == 1 and corpus_files(tmp_path) == {}


def test_add_urls_feed_url_writes_every_entry(server, tmp_path):
    items = [{"title": STORIES[k][0], "link": publish(server, k)} for k in ("ferry", "bridge")]
    server.routes["/feed.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    report = add_urls(tmp_path, [server.url("/feed.xml")], fetcher=fetcher_for(server))
    assert len(report.added) == 2 and FeedList(tmp_path).feeds == {}


def test_add_urls_canonical_on_another_host_ignored(server, tmp_path):
    title, body = STORIES["ferry"]
    server.routes["/p"] = Route(article_html(title, body, canonical="https://victim.example/story"))
    report = add_urls(tmp_path, [server.url("/p")], fetcher=fetcher_for(server))
    assert report.added == [article_path(server.url("/p"))]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>
<link>http://example.org/a</link></item></channel></rss>"""

MALFORMED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title>
<item><title>Unclosed <link>http://example.org/a</link></item></channel>"""


def hostile_cases(server):
    """(url, expected reason) for every hostile input of issue 14; the server is set up."""
    title, body = STORIES["ferry"]
    server.routes["/laughs.xml"] = Route(BILLION_LAUGHS, content_type="application/rss+xml")
    server.routes["/broken.xml"] = Route(MALFORMED, content_type="application/rss+xml")
    server.routes["/huge.html"] = Route(stream_bytes=100_000_000)
    server.routes["/meta"] = Route(status=302, headers={"Location": "http://169.254.169.254/latest/"})
    server.routes["/local"] = Route(status=302, headers={"Location": "http://127.0.0.1:9/admin"})
    server.routes["/js.xml"] = Route(rss("Evil", [{"title": title, "link": "javascript:alert(1)"}]),
                                     content_type="application/rss+xml")
    server.routes["/file.pdf"] = Route(b"%PDF-1.4 " + body.encode(), content_type="application/pdf")
    server.routes["/pdf.xml"] = Route(rss("Evil", [{"title": title, "link": server.url("/file.pdf")}]),
                                      content_type="application/rss+xml")
    return [
        (server.url("/broken.xml"), "malformed feed XML"),
        (server.url("/laughs.xml"), "feed declares XML entities (<!ENTITY>); refused"),
        (server.url("/huge.html"), "over the 5,000,000-byte limit (stopped reading)"),
        (server.url("/meta"), "resolves to link-local address 169.254.169.254; refused"),
        (server.url("/local"), "resolves to loopback address 127.0.0.1; refused"),
        (server.url("/js.xml"), "scheme javascript: is not http(s)"),
        (server.url("/pdf.xml"), "content type application/pdf is not an HTML page"),
        (server.url("/file.pdf"), "content type application/pdf is not an HTML page"),
    ]


def test_add_urls_hostile_inputs_refused_with_one_line_reason(server, tmp_path):
    (tmp_path / "kept.txt").write_text("date 2026-11-01\nAn article that was here before.")
    before = corpus_files(tmp_path)
    for url, reason in hostile_cases(server):
        report = add_urls(tmp_path, [url], fetcher=fetcher_for(server))
        assert not report.changed, url
        assert len(report.problems) == 1, (url, report.problems)
        problem = report.problems[0]
        assert reason in problem.reason and "\n" not in str(problem), (url, problem)
    assert corpus_files(tmp_path) == before


def test_pull_hostile_feeds_leave_corpus_and_feed_list_usable(server, tmp_path):
    cases = hostile_cases(server)
    items = [{"title": STORIES["bridge"][0], "link": publish(server, "bridge")}]
    server.routes["/good.xml"] = Route(rss("Example News", items), content_type="application/rss+xml")
    feeds = FeedList(tmp_path)
    for url, _ in cases:
        feeds.add(url)
    feeds.add(server.url("/good.xml"))
    report = pull(tmp_path, fetcher=fetcher_for(server))
    assert len(report.added) == 1 and report.feeds == len(cases) + 1
    reasons = " | ".join(p.reason for p in report.problems)
    for url, reason in cases:
        if not url.endswith(".pdf"):  # a page, not a feed: refused as not a feed
            assert reason in reasons, reason
    assert "is not an RSS or Atom feed" in reasons
    listed = FeedList(tmp_path).feeds
    assert "malformed feed XML" in listed[server.url("/broken.xml")]["last_error"]


# ---------------------------------------------------------------------------------------
# The commands, end to end with the real index (subprocesses of this checkout)
# ---------------------------------------------------------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cli(corpus: Path, index: Path, *args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "assistant", "--corpus", str(corpus),
                           "--index", str(index), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300,
                          env={**os.environ, "ASSISTANT_FETCH_HOST_DELAY": "0", **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stdout}{proc.stderr}")
    return proc


def indexed(corpus: Path, index: Path) -> dict[str, tuple]:
    """article id -> (path, title, hash) of the committed article records."""
    from assistant import Assistant, Settings

    records = Assistant(Settings.from_env(env={}, corpus_dir=corpus, index_dir=index)).store.article_records()
    return {aid: (r["path"], r["title"], r["hash"]) for aid, r in records.items()}


@pytest.mark.slow
def test_cli_feeds_pull_indexes_then_correction_keeps_one_version(server, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    url = publish(server, "library", site="Metro Daily")
    items = [{"title": STORIES["library"][0], "link": url},
             {"title": STORIES["bridge"][0], "link": publish(server, "bridge", site="River Times")}]
    server.routes["/feed.xml"] = Route(rss("Metro Daily", items), content_type="application/rss+xml")
    assert "added: " in cli(corpus, index, "feeds", "add", server.url("/feed.xml")).stdout
    assert server.url("/feed.xml") in cli(corpus, index, "feeds", "list").stdout
    out = json.loads(cli(corpus, index, "feeds", "pull", "--allow-private", "--json").stdout)
    assert len(out["added"]) == 2 and out["index"]["added"] == 2
    answer = json.loads(cli(corpus, index, "ask", "--json", "How much do the longer library hours cost?").stdout)
    assert answer["citations"][0]["source"] == "Metro Daily" and answer["citations"][0]["url"] == url
    assert "400,000" in answer["answer"]

    corrected = STORIES["library"][1].replace("about 400,000 a year", "about 450,000 a year")
    publish(server, "library", text=corrected, site="Metro Daily")
    items[0]["title"] += " (corrected)"
    server.routes["/feed.xml"] = Route(rss("Metro Daily", items), content_type="application/rss+xml")
    out = json.loads(cli(corpus, index, "feeds", "pull", "--allow-private", "--json").stdout)
    assert len(out["updated"]) == 1 and out["index"]["updated"] == 1 and out["index"]["articles"] == 2
    records = indexed(corpus, index)
    assert len(records) == 2 and sum("library" in r[0] for r in records.values()) == 1
    answer = json.loads(cli(corpus, index, "ask", "--json", "How much do the longer library hours cost?").stdout)
    assert "450,000" in answer["answer"] and "400,000" not in json.dumps(answer)
    assert answer["citations"][0]["updated"] == dt.date.today().isoformat()  # the day it was fetched

    again = json.loads(cli(corpus, index, "feeds", "pull", "--allow-private", "--json").stdout)
    assert again["requests"] == 1 and again["not_modified"] == 1 and again["index"] is None


@pytest.mark.slow
def test_cli_add_hostile_urls_leave_corpus_and_index_unchanged(server, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    (corpus).mkdir()
    (corpus / "kept.txt").write_text("date 2026-11-01\ntitle: Kept\nThe council kept the old "
                                     "tram depot as a museum after a public vote on Sunday.")
    cli(corpus, index, "index")
    before_files, before_index = corpus_files(corpus), indexed(corpus, index)
    cases = hostile_cases(server)
    # Only the test server's own origin is allowed to be loopback; where it redirects is not.
    proc = cli(corpus, index, "add", *[u for u, _ in cases], "javascript:alert(1)", check=False,
               env={"ASSISTANT_FETCH_ALLOW_HOSTS": f"127.0.0.1:{server.port}"})
    assert proc.returncode == 1
    refused = [line for line in proc.stdout.splitlines() if line.startswith("refused ")]
    assert len(refused) == len(cases) + 1
    for (url, reason), line in zip(cases, refused):
        assert reason in line, line  # a feed's refused entry is named by its link
    assert "scheme javascript: is not http(s)" in refused[-1]
    assert corpus_files(corpus) == before_files and indexed(corpus, index) == before_index


# ---------------------------------------------------------------------------------------
# "Done when": a feed server with 200 real-text articles, several outlets per story
# ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_feed_server_200_wikinews_articles_pull_index_group_and_cite_once(tmp_path, settings_factory):
    import itertools
    import random

    from assistant import Assistant
    from assistant.syndication import stories
    from tests.conftest import needs_shared

    needs_shared("datasets", "wikinews-2000")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from syndication_eval import OUTLETS, load_bodies, wire_copy

    rng = random.Random(200)
    bodies = load_bodies(400)[250:]  # not the stories the threshold was chosen on
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    known: dict[str, int] = {}  # page URL -> story number
    feeds: dict[str, list[dict]] = {o: [] for o in OUTLETS[:5]}
    with FeedServer() as server:
        story = 0
        while len(known) < 200:
            body = bodies[story]
            n = min(rng.choice([1, 1, 2, 3]), 200 - len(known))
            for outlet in rng.sample(list(feeds), n):
                slug = outlet.lower().replace(" ", "-")
                path = f"/{slug}/story-{story}.html"
                text = wire_copy(body, outlet, rng)
                title = text.split(". ")[0][:120]
                date = f"2026-{1 + story % 10:02d}-{1 + story % 27:02d}"
                server.routes[path] = Route(article_html(title, text, site=outlet, date=date))
                feeds[outlet].append({"title": title, "link": server.url(path), "date": date})
                known[server.url(path)] = story
            story += 1
        listed = FeedList(corpus)
        for outlet, items in feeds.items():
            path = f"/{outlet.lower().replace(' ', '-')}/feed.xml"
            server.routes[path] = Route(rss(outlet, items), content_type="application/rss+xml")
            listed.add(server.url(path))

        first = pull(corpus, fetcher=fetcher_for(server))
        assert first.problems == [] and len(first.added) == 200
        assistant = Assistant(settings_factory(corpus))
        built = assistant.build_index()
        assert built.articles == 200 and built.skipped == []

        fetched = sum(server.bodies.values())
        second = pull(corpus, fetcher=fetcher_for(server))
        assert not second.changed and second.not_modified == len(feeds)
        assert second.requests == len(feeds) and sum(server.bodies.values()) == fetched

    # Grouping against the known stories: pairwise precision and recall.
    records = assistant.store.article_records()
    story_of_article = {aid: known[r["url"]] for aid, r in records.items()}
    groups = stories(assistant.settings)
    pairs = list(itertools.combinations(sorted(story_of_article), 2))
    predicted = {p for p in pairs if groups.story_of(p[0]) == groups.story_of(p[1])}
    gold = {p for p in pairs if story_of_article[p[0]] == story_of_article[p[1]]}
    assert gold and len(predicted & gold) / len(predicted) >= 0.95
    assert len(predicted & gold) / len(gold) >= 0.95

    # Answers about stories carried by several outlets cite one copy, naming the others.
    multi = [s for s in set(known.values()) if list(known.values()).count(s) > 1][:8]
    for s in multi:
        url = next(u for u, n in known.items() if n == s)
        aid = next(a for a, r in records.items() if r["url"] == url)
        question = "What happened: " + records[aid]["title"][:100] + "?"
        result = assistant.ask(question)
        copies: dict[int, set] = {}
        for c in result.citations:  # several passages of one copy are fine; two copies are not
            copies.setdefault(story_of_article[c.article_id], set()).add(c.article_id)
        assert all(len(ids) == 1 for ids in copies.values()), (question, copies)
        for c in result.citations:
            if story_of_article[c.article_id] == s:
                assert len(c.also_in) == list(known.values()).count(s) - 1
