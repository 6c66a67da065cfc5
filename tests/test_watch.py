"""watch.py: the watched folder and background pulls, in the serving process; crash safety
of pulls and watch-triggered builds (kill -9, restart, compare with a clean build)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.feeds import FeedList
from assistant.fetch import Fetcher, FetchPolicy
from assistant.watch import Syncer, parse_interval
from tests.conftest import write
from tests.feed_server import FeedServer, Route, article_html, rss

ROOT = Path(__file__).resolve().parent.parent

FERRY = ("---\ntitle: Harbour board approves ferry terminal\nsource: Coast Courier\ndate: 2026-11-20\n"
         "---\nThe harbour board approved a new ferry terminal on Tuesday after two years of "
         "public hearings. Board chair Maria Okafor said the terminal would be paid for by port "
         "fees and a regional transport grant.")
TRAM = ("---\ntitle: Council keeps tram depot\nsource: Metro Daily\ndate: 2026-11-18\n---\n"
        "The council kept the old tram depot as a museum after a public vote on Sunday. "
        "About 12,000 residents took part in the vote.")


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("90s", 90), ("1h", 3600),
                                           ("2h30m", 9000), ("45", 45), (30, 30)])
def test_parse_interval_units_seconds(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["soon", "15 minutes", "m15", ""])
def test_parse_interval_bad_text_config_error(text):
    with pytest.raises(ConfigError):
        parse_interval(text)


def cited_titles(assistant, question: str) -> set[str]:
    return {c.title for c in assistant.ask(question).citations}


def wait_for(predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_syncer_watch_added_then_deleted_file_within_5s_while_answering(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "tram.md", TRAM)
    assistant = make_assistant(corpus, watch_debounce=0.3)
    assistant.build_index()
    syncer = Syncer(assistant)
    ready = threading.Event()
    syncer.start_watching(ready)
    assert ready.wait(10)
    errors: list[BaseException] = []
    stop = threading.Event()

    def chat():  # answering continues from the current index meanwhile
        while not stop.is_set():
            try:
                assistant.ask("What did the council do with the tram depot?")
            except BaseException as exc:  # noqa: BLE001 - counted
                errors.append(exc)

    clients = [threading.Thread(target=chat) for _ in range(2)]
    for t in clients:
        t.start()
    try:
        question = "Who pays for the ferry terminal?"
        write(corpus / "ferry.md", FERRY)
        took = wait_for(lambda: "Harbour board approves ferry terminal" in cited_titles(assistant, question), 15)
        assert syncer.last.ok and "1 added" in syncer.last.summary
        assert took <= 5 + 5, took  # 5 s (debounce and notice) + this machine's encode time
        (corpus / "ferry.md").unlink()
        wait_for(lambda: "1 removed" in syncer.last.summary, 10)
        assert "Harbour board approves ferry terminal" not in cited_titles(assistant, question)
        (corpus / ".hidden.md").write_text(FERRY)  # hidden files are not articles: no build
        builds = syncer.builds
        time.sleep(1.5)
        assert syncer.builds == builds
    finally:
        stop.set()
        for t in clients:
            t.join()
        syncer.stop()
    assert errors == []


def test_syncer_pull_every_indexes_new_feed_items(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "tram.md", TRAM)
    assistant = make_assistant(corpus)
    assistant.build_index()
    with FeedServer() as server:
        body = ("The river authority opened a new flood barrier on Thursday. Engineers said the "
                "barrier protects 4,000 homes from spring floods.\nIt cost 30 million and took "
                "four years to build, the authority said in a statement on its website.")
        server.routes["/flood.html"] = Route(article_html("Flood barrier opens", body, site="River Times"))
        server.routes["/feed.xml"] = Route(rss("River Times", []), content_type="application/rss+xml")
        FeedList(corpus).add(server.url("/feed.xml"))
        fetcher = Fetcher(FetchPolicy(host_delay=0, timeout=3,
                                      allow_hosts=frozenset({f"127.0.0.1:{server.port}"})))
        syncer = Syncer(assistant, fetcher=fetcher)
        syncer.start_pulling(0.5)
        try:
            time.sleep(1.2)
            assert syncer.last is not None and syncer.last.summary == "nothing new"
            server.routes["/feed.xml"] = Route(
                rss("River Times", [{"title": "Flood barrier opens", "link": server.url("/flood.html")}]),
                content_type="application/rss+xml")
            wait_for(lambda: "Flood barrier opens" in cited_titles(assistant, "How many homes does the flood barrier protect?"), 20)
            # The build's report (syncer.last may already be a later pull's "nothing new").
            assert syncer.last_build is not None
            assert "1 added" in syncer.last_build.trigger and syncer.last_build.ok
            # A later pull with nothing new does not hide the build's report.
            wait_for(lambda: syncer.last.summary == "nothing new", 10)
            assert syncer.last_build is not syncer.last and "1 added" in syncer.last_build.trigger
        finally:
            syncer.stop()


# ---------------------------------------------------------------------------------------
# Crash safety (subprocesses of this checkout, killed with SIGKILL)
# ---------------------------------------------------------------------------------------

def cli(corpus: Path, index: Path, *args, env=None, **popen):
    full = {**os.environ, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
            "ASSISTANT_FETCH_HOST_DELAY": "0", "ASSISTANT_CHUNK_CHARS": "150",
            "ASSISTANT_INDEX_BATCH_CHUNKS": "4", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "assistant", *args], cwd=ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def snapshot(corpus: Path, index: Path):
    """(corpus articles without fetch times, index article records, chunk ids)."""
    from assistant import Assistant, Settings

    files = {}
    for p in sorted(corpus.rglob("*.md")):
        if any(part.startswith(".") for part in p.relative_to(corpus).parts):
            continue
        files[p.relative_to(corpus).as_posix()] = "\n".join(
            line for line in p.read_text().splitlines() if not line.startswith(("fetched:", "updated:")))
    a = Assistant(Settings.from_env(env={}, corpus_dir=corpus, index_dir=index, chunk_chars=150))
    records = {aid: (r["hash"], r["n_chunks"]) for aid, r in a.store.article_records().items()}
    ids = sorted(a.store.chunk_ids())
    return files, records, ids


TOPICS = ["harbour", "budget", "bridge", "election", "museum", "railway", "hospital", "festival"]


def topic_text(topic: str) -> str:
    return (f"The {topic} story begins in the town hall, where officials discussed the {topic} "
            f"at length with residents.\nCritics said the {topic} plan was too expensive for a "
            f"small town, and the mayor promised a review.\nA vote on the {topic} is expected "
            f"next month, after the consultation on the {topic} closes.")


@pytest.mark.slow
def test_kill_during_pull_then_restart_equals_clean_pull(tmp_path):
    with FeedServer() as server:
        items = []
        for t in TOPICS:
            server.routes[f"/{t}.html"] = Route(article_html(f"The {t} vote", topic_text(t),
                                                             site="Town News"), delay=0.4)
            items.append({"title": f"The {t} vote", "link": server.url(f"/{t}.html")})
        server.routes["/feed.xml"] = Route(rss("Town News", items), content_type="application/rss+xml")
        results = {}
        for name in ("killed", "clean"):
            corpus, index = tmp_path / name / "corpus", tmp_path / name / "index"
            corpus.mkdir(parents=True)
            FeedList(corpus).add(server.url("/feed.xml"))
            if name == "killed":
                proc = cli(corpus, index, "feeds", "pull", "--allow-private")
                try:
                    wait_for(lambda: len(list((corpus / "web").rglob("*.md"))) >= 3
                             if (corpus / "web").exists() else False, 60)
                finally:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                assert proc.returncode == -9
                assert len(list((corpus / "web").rglob("*.md"))) < len(TOPICS)
            proc = cli(corpus, index, "feeds", "pull", "--allow-private")
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            results[name] = snapshot(corpus, index)
        assert results["killed"] == results["clean"]
        assert len(results["clean"][1]) == len(TOPICS)
        # Pages fetched once per run, plus at most the one in flight when killed.
        assert all(server.bodies[f"/{t}.html"] <= 3 for t in TOPICS)


@pytest.mark.slow
def test_kill_during_watch_triggered_build_then_restart_equals_clean_build(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write(corpus / "first.md", f"---\ntitle: First\n---\n{topic_text('harbour')}")
    # The watcher's own first build writes one batch; the build the new files trigger dies
    # (SIGKILL by the test hook) after its first batch is written, before it is committed.
    log = tmp_path / "watch.out"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "index", "--watch"], cwd=ROOT, stdout=out,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
                 "ASSISTANT_CHUNK_CHARS": "150", "ASSISTANT_INDEX_BATCH_CHUNKS": "4",
                 "ASSISTANT_CRASH_AFTER_BATCHES": "2", "ASSISTANT_CRASH_POINT": "written",
                 "ASSISTANT_WATCH_DEBOUNCE": "0.3"})
    try:
        wait_for(lambda: "watching" in log.read_text(), 180)
        for t in TOPICS[1:]:
            write(corpus / f"{t}.md", f"---\ntitle: The {t} vote\n---\n{topic_text(t)}")
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:  # never leave the watcher behind
            proc.kill()
            proc.wait()
    assert proc.returncode == -9
    restart = cli(corpus, index, "index")
    _, err = restart.communicate(timeout=300)
    assert restart.returncode == 0, err
    clean_index = tmp_path / "clean-index"
    clean = cli(corpus, clean_index, "index")
    _, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err
    killed, fresh = snapshot(corpus, index), snapshot(corpus, clean_index)
    assert killed == fresh and len(fresh[1]) == len(TOPICS)

