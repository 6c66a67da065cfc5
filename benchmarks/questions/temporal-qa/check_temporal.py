"""Check the temporal question set (questions.jsonl next to this script) against its rules.

    python3 benchmarks/questions/temporal-qa/check_temporal.py [questions.jsonl]

Stdlib only. The corpus is found from this script's location: the project root is
``parents[3]`` of this file, the dated news corpus is
``<project root>/../shared/datasets/newsqa-mini/corpus.json`` and the seed article is
``<project root>/corpus/000_db5d042bbc5024b2.txt`` (first token ``date YYYY-MM-DD``).
The seed has no title field; its title is the one the assistant gives it
(``assistant.corpus.first_sentence``: the first sentence of its first line, cut to
197 characters plus an ellipsis when longer than 200), recomputed here.

Each line of questions.jsonl is one question:

    {"id": "tq-001", "question": "...", "as_of": "YYYY-MM-DD",
     "kind": "relative|latest|timeline|event_date",
     "window": {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"},   # relative only: resolved period
     "event_date": "YYYY-MM-DD",                              # event_date only: resolved date
     "gold": [{"title": "<exact article title>", "date": "YYYY-MM-DD"}, ...],
     "split": "dev|test"}

Rules checked (exit status 1 and one line per violation otherwise):
- ids are unique and look like ``tq-NNN``; kind is one of the four; as_of is an ISO date;
  the question is non-empty; split is "dev" exactly when
  int(sha1(id).hexdigest(), 16) % 5 < 2, else "test";
- gold is a non-empty list without repeated titles; every gold title exists (in corpus.json
  or as the seed) with exactly that date (the article's published_at, first 10 characters);
  no gold date is after as_of;
- relative: a window with from <= to <= as_of, and every gold date inside the window;
- latest: at least 2 gold articles on at least 2 different dates (so recency matters), and
  the first gold article is the newest;
- timeline: at least 2 gold events on at least 2 different dates, in date order;
- event_date: an ISO ``event_date`` (the date the question asks about, resolved from what
  the article says; it may lie before or after the article's own date);
- readers' words: no run of 4 or more consecutive words of the question occurs in any of
  its gold articles (title or body), words compared lower-cased;
- counts: >= 25 relative, >= 20 latest, >= 15 timeline, >= 10 event_date, >= 90 in all,
  and >= 5 questions whose gold includes the seed article.
Printed: counts per kind and split, and per kind x split.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = Path(__file__).resolve().parents[3]
CORPUS_PATH = PROJECT_ROOT.parent / "shared" / "datasets" / "newsqa-mini" / "corpus.json"
SEED_PATH = PROJECT_ROOT / "corpus" / "000_db5d042bbc5024b2.txt"

KINDS = ("relative", "latest", "timeline", "event_date")
MINIMUMS = {"relative": 25, "latest": 20, "timeline": 15, "event_date": 10}
MIN_TOTAL = 90
MIN_SEED = 5
RUN = 4  # words in a row that may not be copied from a gold article

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_ID_RE = re.compile(r"^tq-\d{3,}$")
_DATE_LINE_RE = re.compile(r"^\s*date\s+(\S+)\s*", re.IGNORECASE)
_FIRST_SENTENCE_RE = re.compile(r"^(.{10,300}?[.!?])(?=\s|$)", re.DOTALL)


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD_RE.findall(text)]


def ngrams(seq: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)}


def iso(value) -> dt.date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def expected_split(qid: str) -> str:
    return "dev" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 5 < 2 else "test"


def seed_article() -> tuple[str, str, str]:
    """(title, date, text) of the seed, titled the way the assistant titles it."""
    raw = SEED_PATH.read_text(encoding="utf-8").lstrip("\ufeff")
    m = _DATE_LINE_RE.match(raw)
    if not m:
        raise SystemExit(f"{SEED_PATH}: does not start with 'date YYYY-MM-DD'")
    text = raw[m.end():].strip()
    line = text.split("\n", 1)[0].strip()
    fm = _FIRST_SENTENCE_RE.match(line)
    title = fm.group(1) if fm else line
    if len(title) > 200:
        title = title[:197].rstrip() + "…"
    return title.strip(), m.group(1)[:10], text


def load_articles() -> dict[str, tuple[str | None, str]]:
    """title -> (date or None, title + body text) for corpus.json and the seed."""
    if not CORPUS_PATH.exists():
        raise SystemExit(f"{CORPUS_PATH}: corpus not found")
    if not SEED_PATH.exists():
        raise SystemExit(f"{SEED_PATH}: seed article not found")
    articles: dict[str, tuple[str | None, str]] = {}
    for row in json.loads(CORPUS_PATH.read_text(encoding="utf-8")):
        date = (row.get("published_at") or "")[:10] or None
        articles[row["title"]] = (date, f"{row['title']}\n{row.get('body') or ''}")
    title, date, text = seed_article()
    articles[title] = (date, f"{title}\n{text}")
    return articles


def check(rows: list[dict], articles: dict[str, tuple[str | None, str]], seed_title: str) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    grams_cache: dict[str, set] = {}

    def grams(title: str) -> set:
        if title not in grams_cache:
            grams_cache[title] = ngrams(words(articles[title][1]), RUN)
        return grams_cache[title]

    for n, q in enumerate(rows, start=1):
        qid = q.get("id")
        where = f"line {n} ({qid})"
        bad = lambda msg: problems.append(f"{where}: {msg}")  # noqa: E731
        if not isinstance(qid, str) or not _ID_RE.match(qid):
            bad(f"id {qid!r} is not tq-NNN")
        elif qid in seen:
            bad("duplicate id")
        else:
            seen.add(qid)
            if q.get("split") != expected_split(qid):
                bad(f"split {q.get('split')!r}, expected {expected_split(qid)!r}")
        kind = q.get("kind")
        if kind not in KINDS:
            bad(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        as_of = iso(q.get("as_of"))
        if as_of is None:
            bad(f"as_of {q.get('as_of')!r} is not an ISO date")
        question = q.get("question")
        if not isinstance(question, str) or not question.strip():
            bad("empty question")
            question = ""
        gold = q.get("gold")
        if not isinstance(gold, list) or not gold:
            bad("gold is empty or not a list")
            continue
        dates: list[dt.date] = []
        titles: list[str] = []
        for g in gold:
            title, gdate = (g or {}).get("title"), iso((g or {}).get("date"))
            if title in titles:
                bad(f"gold title repeated: {title!r}")
            titles.append(title)
            if title not in articles:
                bad(f"gold title not in the corpus: {title!r}")
                continue
            adate = articles[title][0]
            if gdate is None or adate != gdate.isoformat():
                bad(f"gold {title[:60]!r} dated {g.get('date')!r}, the article is dated {adate!r}")
                continue
            dates.append(gdate)
            if as_of and gdate > as_of:
                bad(f"gold {title[:60]!r} ({gdate}) is after as_of {as_of}")
            copied = ngrams(words(question), RUN) & grams(title)
            if copied:
                bad(f"copies {' '.join(sorted(copied)[0])!r} from {title[:60]!r}")
        if len(dates) != len(gold):
            continue
        if kind == "relative":
            w = q.get("window") or {}
            frm, to = iso(w.get("from")), iso(w.get("to"))
            if frm is None or to is None or frm > to:
                bad(f"window {w!r} is not a from <= to pair of ISO dates")
            else:
                if as_of and to > as_of:
                    bad(f"window ends {to}, after as_of {as_of}")
                for d in dates:
                    if not frm <= d <= to:
                        bad(f"gold dated {d} is outside the window {frm}..{to}")
        elif kind == "latest":
            if len(dates) < 2 or len(set(dates)) < 2:
                bad("latest needs >= 2 gold articles on >= 2 dates")
            if dates and dates[0] != max(dates):
                bad(f"first gold ({dates[0]}) is not the newest ({max(dates)})")
        elif kind == "timeline":
            if len(dates) < 2 or len(set(dates)) < 2:
                bad("timeline needs >= 2 gold events on >= 2 dates")
            if dates != sorted(dates):
                bad("timeline gold is not in date order")
        elif kind == "event_date":
            if iso(q.get("event_date")) is None:
                bad(f"event_date {q.get('event_date')!r} is not an ISO date")
    counts = Counter(q.get("kind") for q in rows)
    for kind, minimum in MINIMUMS.items():
        if counts[kind] < minimum:
            problems.append(f"only {counts[kind]} {kind} questions (need >= {minimum})")
    if len(rows) < MIN_TOTAL:
        problems.append(f"only {len(rows)} questions (need >= {MIN_TOTAL})")
    n_seed = sum(1 for q in rows if any((g or {}).get("title") == seed_title for g in q.get("gold") or []))
    if n_seed < MIN_SEED:
        problems.append(f"only {n_seed} questions about the seed article (need >= {MIN_SEED})")
    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else HERE / "questions.jsonl"
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            print(f"line {lineno}: invalid JSON: {exc.msg}")
            return 1
    articles = load_articles()
    seed_title = seed_article()[0]
    problems = check(rows, articles, seed_title)
    kinds = Counter(q.get("kind") for q in rows)
    splits = Counter(q.get("split") for q in rows)
    both = Counter((q.get("kind"), q.get("split")) for q in rows)
    n_seed = sum(1 for q in rows if any((g or {}).get("title") == seed_title for g in q.get("gold") or []))
    print(f"{len(rows)} questions in {path.name}; {n_seed} about the seed article")
    print("per kind:  " + ", ".join(f"{k} {kinds[k]}" for k in KINDS))
    print("per split: " + ", ".join(f"{s} {splits[s]}" for s in ("dev", "test")))
    for k in KINDS:
        print(f"  {k:<10} dev {both[(k, 'dev')]:>3}  test {both[(k, 'test')]:>3}")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} violation(s)")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
