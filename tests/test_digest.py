"""Time end to end on real indexes: relative questions, event dates, latest, timelines and
the digest (CLI, JSON), over dated articles the tests write and the seed article."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write

ARTICLES = {
    # The same event from two outlets (near-duplicate wording), then later developments.
    "a1.md": ("2023-11-17", "The Verge", "OpenAI fires Sam Altman",
              "OpenAI's board fired chief executive Sam Altman on Friday, saying he was not "
              "consistently candid in his communications with the board. Greg Brockman quit "
              "as president hours later."),
    "a2.md": ("2023-11-18", "TechCrunch", "OpenAI board ousts Sam Altman as CEO",
              "The OpenAI board ousted chief executive Sam Altman on Friday, saying he had not "
              "been consistently candid in his communications with the board. President Greg "
              "Brockman resigned later that day."),
    "a3.md": ("2023-11-20", "Wired", "Microsoft hires Sam Altman after OpenAI ouster",
              "Microsoft chief Satya Nadella said on Monday that Sam Altman and Greg Brockman "
              "will join Microsoft to lead a new advanced AI research team."),
    "a4.md": ("2023-11-22", "The Verge", "Sam Altman returns to OpenAI as CEO",
              "Sam Altman is returning to OpenAI as chief executive under a new board chaired "
              "by Bret Taylor, the company said on Wednesday."),
    "b1.md": ("2023-11-21", "Fortune", "Binance founder pleads guilty",
              "Binance founder Changpeng Zhao pleaded guilty to violating US anti-money "
              "laundering laws and stepped down as chief executive of the crypto exchange."),
    # A topic whose newest article is worded unlike the question, and a newer article on
    # another subject that shares its words but never names the topic.
    "r1.md": ("2023-10-03", "Riverton Herald", "Council approves Riverton tram line",
              "Riverton city council approved the Riverton tram line on Monday. The line will "
              "link the harbour with the university and is budgeted at 412 million euros."),
    "r2.md": ("2023-10-18", "Riverton Herald", "First rails laid in Riverton",
              "Crews laid the first tram rails along Harbour Road in Riverton on Tuesday; passengers "
              "are due to board in 2026."),
    "r3.md": ("2023-10-24", "Wired", "City buses go electric on the harbour line",
              "Bus operators bought forty electric buses that will replace diesel ones on the "
              "harbour line next year."),
    "c1.md": ("2023-10-02", "Wired", "Nobel prize for mRNA vaccine research",
              "Katalin Karikó and Drew Weissman won the Nobel Prize in medicine for the "
              "discoveries that enabled mRNA vaccines against Covid-19."),
}


@pytest.fixture(scope="module")
def dated(tmp_path_factory, settings_factory):
    from assistant import Assistant

    corpus = tmp_path_factory.mktemp("dated-corpus")
    for name, (date, source, title, body) in ARTICLES.items():
        write(corpus / name, f"---\ntitle: {title}\ndate: {date}\nsource: {source}\n---\n{body}\n")
    assistant = Assistant(settings_factory(corpus))
    assistant.build_index()
    return assistant


def test_ask_relative_window_hard_filter_and_note(dated):
    answer = dated.ask("What happened with Binance last week?", as_of="2023-11-27")
    assert answer.as_of == "2023-11-27"
    assert answer.time_note == "As of 2023-11-27; last week = 2023-11-20 to 2023-11-26"
    assert answer.citations and all("2023-11-20" <= c.date <= "2023-11-26" for c in answer.citations)
    assert answer.citations[0].title == "Binance founder pleads guilty"
    # Default reference: the newest article, and the answer says so.
    default = dated.ask("What happened with Binance last week?")
    assert default.time_note.startswith("As of 2023-11-22, the newest article; last week = 2023-11-13 to 2023-11-19")
    assert all(c.date <= "2023-11-19" for c in default.citations)


def test_ask_latest_newest_relevant_first_each_dated(dated):
    answer = dated.ask("What's the latest on Sam Altman and OpenAI?")
    assert answer.citations[0].title == "Sam Altman returns to OpenAI as CEO"
    lines = answer.answer.splitlines()
    assert lines[0].startswith("2023-11-22: ")
    # as_of before the return: the newest relevant article then is Microsoft's hire.
    earlier = dated.ask("What's the latest on Sam Altman and OpenAI?", as_of="2023-11-20")
    assert earlier.citations[0].title == "Microsoft hires Sam Altman after OpenAI ouster"
    assert all(c.date <= "2023-11-20" for c in earlier.citations)


def test_ask_latest_newest_article_naming_the_topic_first(dated):
    answer = dated.ask("What's the latest on the Riverton tram line?", as_of="2023-10-31")
    titles = [c.title for c in answer.citations]
    assert titles[0] == "First rails laid in Riverton"
    assert "City buses go electric on the harbour line" not in titles  # never names Riverton
    assert answer.answer.splitlines()[0].startswith("2023-10-1")


def test_ask_as_of_hides_later_articles_from_any_question(dated):
    answer = dated.ask("Who won the Nobel Prize in medicine for mRNA vaccines?", as_of="2023-10-01")
    assert all(c.date <= "2023-10-01" for c in answer.citations)
    assert all("Nobel" not in p.title for p in answer.passages)
    later = dated.ask("Who won the Nobel Prize in medicine for mRNA vaccines?", as_of="2023-10-05")
    assert later.citations[0].title == "Nobel prize for mRNA vaccine research"


def test_ask_timeline_chronological_duplicates_merged(dated):
    answer = dated.ask("How did the Sam Altman saga at OpenAI develop?")
    lines = answer.answer.splitlines()
    dates = [line.split(":", 1)[0] for line in lines]
    assert dates == sorted(dates) and len(lines) >= 3
    # The firing, reported by two outlets, is one line dated by its event (Friday 17 Nov)
    # with both citations.
    assert lines[0].startswith("2023-11-17: ")
    assert lines[0].endswith("[1][2]") or lines[0].endswith("[2][1]")
    assert {c.source for c in answer.citations[:2]} == {"The Verge", "TechCrunch"}
    assert any("Bret Taylor" in line for line in lines[1:])


def test_ask_event_date_finds_sentence_about_that_day(seed_assistant):
    answer = seed_assistant.ask("What happened on 26 August?")
    assert not answer.abstained
    assert "on Tuesday held a meeting" in answer.answer
    c = answer.citations[0]
    assert (c.date, c.event_date) == ("2025-08-27", "2025-08-26")
    assert c.to_dict()["event_date"] == "2025-08-26"


def test_digest_groups_outlets_orders_by_outlet_count(dated):
    digest = dated.digest(since="2023-11-13", until="2023-11-26")
    first = digest.stories[0]
    assert sorted(first.outlets) == ["TechCrunch", "The Verge"]
    assert "Reported by 2 outlets [1][2]" in first.answer
    titles = [s.headline for s in digest.stories]
    assert "Nobel prize for mRNA vaccine research" not in titles  # outside the period
    assert len(titles) == 4  # firing (2 outlets), Microsoft, return, Binance
    singles = digest.stories[1:]
    assert [s.date for s in singles] == sorted((s.date for s in singles), reverse=True)
    data = digest.to_dict()
    assert set(data) == {"as_of", "since", "until", "stories"}
    assert set(data["stories"][0]) >= {"headline", "answer", "citations", "outlets"}
    assert set(data["stories"][0]["citations"][0]) >= {"n", "title", "source", "date", "url",
                                                       "passage", "span"}


def test_digest_topic_and_words(dated):
    digest = dated.digest(since="last week", topic="crypto exchange", as_of="2023-11-27")
    assert (digest.since, digest.until) == ("2023-11-20", "2023-11-27")
    assert [s.headline for s in digest.stories] == ["Binance founder pleads guilty"]


@pytest.mark.slow  # a subprocess or the local LLM: the integration tier
def test_cli_digest_json(dated):
    s = dated.settings
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "--corpus", str(s.corpus_dir), "--index", str(s.index_dir),
         "--as-of", "2023-11-27", "digest", "--since", "last week", "--json"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["as_of"], data["since"], data["until"]) == ("2023-11-27", "2023-11-20", "2023-11-27")
    assert data["stories"][0]["headline"] in {"Sam Altman returns to OpenAI as CEO",
                                             "Microsoft hires Sam Altman after OpenAI ouster",
                                             "Binance founder pleads guilty"}
    bad = subprocess.run(
        [sys.executable, "-m", "assistant", "--corpus", str(s.corpus_dir), "--index", str(s.index_dir),
         "digest", "--since", "soonish"], capture_output=True, text=True, timeout=600,
        cwd=Path(__file__).resolve().parent.parent)
    assert bad.returncode == 1 and "unknown date 'soonish' for the 'since' filter" in bad.stderr
