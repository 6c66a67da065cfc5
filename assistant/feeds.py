"""Feeds and web pages into the corpus folder: one Markdown file per article.

``add_urls`` fetches article pages (trafilatura: text, title, date, outlet) or RSS/Atom feeds
(feedparser: every entry's page fetched and extracted, or the entry's own content when the
feed carries the full text). ``pull`` does the same for the feeds listed in the corpus
folder (``FeedList``). Each article becomes ``<corpus>/web/<host>/<slug>-<hash>.md`` with
YAML front matter (title, date, source, url, fetched, and updated when a later version
replaced an earlier one); the name comes from the article's canonical URL, so a correction
arriving under the same URL replaces the file (and so the indexed version). An entry whose
page now answers 404/410, or that the feed marks as retracted, is removed.

State lives in ``<corpus>/.feeds/`` (hidden: the corpus loader skips it): the feed list with
each feed's ETag/Last-Modified, and per entry the version seen (a hash of the entry's
fields) and the page's validators, so a feed entry is never fetched twice for the same
version and an unchanged feed costs one conditional GET. Every file is written to a hidden
temporary file and renamed into place; a feed's validators are saved only after all its
entries are, so a pull killed at any point is completed by the next one.

Indexing is not done here: callers run ``Assistant.build_index()`` when ``PullReport.changed``.
Left out: authentication, JavaScript-rendered pages, paywalls, robots.txt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .corpus import first_sentence, parse_date
from .errors import FetchError
from .fetch import Fetcher, Response, canonical_url, check_url

__all__ = ["FeedList", "PullReport", "add_urls", "pull", "article_path", "STATE_DIR", "WEB_DIR"]

log = logging.getLogger(__name__)

STATE_DIR = ".feeds"  # inside the corpus folder; hidden, so never read as articles
WEB_DIR = "web"  # where fetched articles are written, inside the corpus folder
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json", "text/xml", "application/xml")
# A feed whose entry content holds at least this much text carries the full article; a
# shorter one is a teaser and the entry's page is fetched instead.
FULL_TEXT_CHARS = 400
_RETRACTED = re.compile(r"^\s*(retracted|retraction|withdrawn)\b", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]+>")

# One pull or add at a time per corpus folder, within this process (the index has its own
# cross-process lock).
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _corpus_lock(corpus_dir: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(corpus_dir.resolve()), threading.Lock())


@dataclass
class Problem:
    where: str  # the URL (feed, entry or page)
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"

    def to_dict(self) -> dict:
        return {"url": self.where, "reason": self.reason}


@dataclass
class PullReport:
    """What a pull or an add did. ``requests`` counts HTTP requests sent."""

    feeds: int = 0
    requests: int = 0
    added: list[str] = field(default_factory=list)  # corpus-relative paths written
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    not_modified: int = 0  # feeds and pages answered 304
    problems: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def merge(self, other: "PullReport") -> None:
        self.feeds += other.feeds
        self.requests += other.requests
        self.added += other.added
        self.updated += other.updated
        self.removed += other.removed
        self.unchanged += other.unchanged
        self.not_modified += other.not_modified
        self.problems += other.problems

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} "
                f"removed, {self.unchanged} unchanged, {len(self.problems)} refused or failed "
                f"({self.requests} requests, {self.not_modified} not modified)")

    def to_dict(self) -> dict:
        return {"feeds": self.feeds, "requests": self.requests, "added": self.added,
                "updated": self.updated, "removed": self.removed, "unchanged": self.unchanged,
                "not_modified": self.not_modified,
                "problems": [p.to_dict() for p in self.problems]}


# ---------------------------------------------------------------------------------------
# State files
# ---------------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        # A damaged state file costs re-fetching, never the articles: start afresh.
        log.warning("ignoring unreadable feed state %s: %s", path, exc)
        return default


class FeedList:
    """The feeds of one corpus folder and what was fetched from them (``<corpus>/.feeds/``)."""

    def __init__(self, corpus_dir: str | Path):
        self.corpus_dir = Path(corpus_dir)
        self.dir = self.corpus_dir / STATE_DIR
        self.feeds: dict[str, dict] = _read_json(self.dir / "feeds.json", {})
        self.entries: dict[str, dict] = _read_json(self.dir / "entries.json", {})

    def add(self, url: str) -> bool:
        """Add a feed URL (checked for scheme and host); False when it was listed already."""
        check_url(url)
        url = url.strip()
        if url in self.feeds:
            return False
        self.feeds[url] = {"added": _now()}
        self.save_feeds()
        return True

    def remove(self, url: str) -> bool:
        if self.feeds.pop(url.strip(), None) is None:
            return False
        self.save_feeds()
        return True

    def save_feeds(self) -> None:
        _atomic_write(self.dir / "feeds.json", json.dumps(self.feeds, indent=1).encode())

    def save_entries(self) -> None:
        _atomic_write(self.dir / "entries.json", json.dumps(self.entries, indent=1).encode())


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------
# Articles as files
# ---------------------------------------------------------------------------------------

def article_path(canonical: str) -> str:
    """Corpus-relative file name of the article known by this canonical URL."""
    parts = urlsplit(canonical)
    host = re.sub(r"[^a-z0-9.-]+", "_", (parts.hostname or "unknown").lower())
    if parts.port:
        host += f"_{parts.port}"
    last = [p for p in parts.path.split("/") if p]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", os.path.splitext(last[-1])[0] if last else "index")
    slug = slug.strip("-")[:60] or "article"
    digest = hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:10]
    return f"{WEB_DIR}/{host}/{slug}-{digest}.md"


@dataclass
class Extracted:
    title: str
    text: str
    date: str | None
    source: str
    url: str  # canonical
    updated: str | None = None  # the feed's own "updated" date for the entry, if it gives one


def _render(article: Extracted, fetched: str, updated: str | None, feed: str | None) -> bytes:
    import yaml

    meta = {"title": article.title, "date": article.date, "source": article.source,
            "url": article.url, "fetched": fetched}
    if updated:
        meta["updated"] = updated
    if feed:
        meta["feed"] = feed
    meta = {k: v for k, v in meta.items() if v}
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000)
    return f"---\n{front}---\n\n{article.text.strip()}\n".encode("utf-8")


def _read_front(path: Path) -> tuple[dict, str]:
    import yaml

    try:
        raw = path.read_text(encoding="utf-8")
    except OSError:
        return {}, ""
    if raw.startswith("---\n"):
        end = raw.find("\n---\n", 4)
        if end > 0:
            try:
                meta = yaml.safe_load(raw[4:end]) or {}
            except yaml.YAMLError:
                meta = {}
            return (meta if isinstance(meta, dict) else {}), raw[end + 5:].strip()
    return {}, raw.strip()


def _store(corpus_dir: Path, article: Extracted, report: PullReport, feed: str | None) -> str:
    """Write (or replace) the article's file; its corpus-relative path."""
    rel = article_path(article.url)
    path = corpus_dir / rel
    old_meta, old_text = _read_front(path) if path.exists() else ({}, None)
    if old_text is not None and old_text == article.text.strip() and \
            old_meta.get("title") == article.title:
        report.unchanged += 1
        return rel
    fetched = str(old_meta.get("fetched") or _now()) if old_text is not None else _now()
    # "updated" marks a correction that replaced a version we held: the feed's date for it
    # when the feed gives one, else the day we fetched it.
    updated = (article.updated or _now()[:10]) if old_text is not None else None
    _atomic_write(path, _render(article, fetched, updated, feed))
    (report.updated if old_text is not None else report.added).append(rel)
    log.info("%s %s (%s)", "updated" if old_text is not None else "added", rel, article.url)
    return rel


def _remove(corpus_dir: Path, rel: str | None, report: PullReport) -> None:
    if not rel:
        return
    try:
        (corpus_dir / rel).unlink()
        report.removed.append(rel)
        log.info("removed %s", rel)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------

def _html_text(html: str) -> str:
    import html as html_lib

    return re.sub(r"\s+\n|\n\s+", "\n", html_lib.unescape(_TAG_RE.sub("\n", html))).strip()


def extract_page(resp: Response, *, fallback_title: str = "", fallback_date: str | None = None,
                 fallback_source: str = "") -> Extracted:
    """Article fields from an HTML page; FetchError when it holds no article text."""
    import trafilatura

    if resp.content_type and resp.content_type not in HTML_TYPES:
        raise FetchError(resp.url, f"content type {resp.content_type} is not an HTML page")
    try:
        doc = trafilatura.bare_extraction(resp.text(), url=resp.url, with_metadata=True,
                                          include_comments=False)
    except Exception as exc:  # trafilatura raises assorted lxml errors on broken markup
        raise FetchError(resp.url, f"cannot parse HTML: {exc.__class__.__name__}") from exc
    data = doc.as_dict() if hasattr(doc, "as_dict") else (doc or {})
    text = (data.get("text") or "").strip()
    title = (data.get("title") or fallback_title or "").strip()
    if title and text.startswith(title):
        text = text[len(title):].strip()
    if not text:
        raise FetchError(resp.url, "no article text found in the page")
    host = urlsplit(resp.url).hostname or ""
    return Extracted(
        title=(title or first_sentence(text))[:300],
        text=text,
        date=fallback_date or parse_date(str(data.get("date") or "")),
        source=(data.get("sitename") or fallback_source or host).strip()[:200],
        url=_canonical_for(resp.url, data.get("url")),
    )


def _canonical_for(final_url: str, declared: str | None) -> str:
    """The page's declared canonical URL when it is http(s) on the same host (a page must
    not be able to overwrite another site's article), else the final URL."""
    final = canonical_url(final_url)
    if declared:
        try:
            scheme, host, _ = check_url(urljoin(final_url, declared))
        except FetchError:
            return final
        if host.lower() == (urlsplit(final).hostname or ""):
            return canonical_url(urljoin(final_url, declared))
    return final


def _is_feed(resp: Response) -> bool:
    if resp.content_type in FEED_TYPES[:4]:
        return True
    head = resp.body[:1024].lstrip().lower()
    if resp.content_type in HTML_TYPES:
        return head.startswith(b"<?xml") and (b"<rss" in head or b"<feed" in head)
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf"))


def parse_feed(resp: Response):
    """The parsed feed; FetchError for malformed XML, entity declarations, or no entries."""
    import feedparser

    # Entity declarations have no use in a feed and are how "billion laughs" expansion
    # attacks start; refuse before any parser sees them.
    if re.search(rb"<!ENTITY", resp.body, re.IGNORECASE):
        raise FetchError(resp.url, "feed declares XML entities (<!ENTITY>); refused "
                                   "(entity expansion attack)")
    parsed = feedparser.parse(resp.body, response_headers={"content-location": resp.url})
    exc = parsed.get("bozo_exception")
    if parsed.get("bozo") and exc is not None and \
            exc.__class__.__name__ not in ("CharacterEncodingOverride", "NonXMLContentType"):
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise FetchError(resp.url, f"malformed feed XML: {message}")
    if not parsed.get("version") and not parsed.entries:
        raise FetchError(resp.url, "not an RSS or Atom feed")
    return parsed


def _entry_date(entry) -> str | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            try:
                return dt.date(value.tm_year, value.tm_mon, value.tm_mday).isoformat()
            except ValueError:
                continue
    return None


def _entry_updated(entry) -> str | None:
    """The entry's updated date when the feed gives one later than the published date
    (feedparser reports an RSS item's pubDate as "updated" too)."""
    value, published = entry.get("updated_parsed"), entry.get("published_parsed")
    if not value or not published or tuple(value[:3]) <= tuple(published[:3]):
        return None
    try:
        return dt.date(value.tm_year, value.tm_mon, value.tm_mday).isoformat()
    except ValueError:
        return None


def _entry_version(entry) -> str:
    parts = [entry.get(k) or "" for k in ("id", "link", "title", "updated", "published", "summary")]
    parts += [c.get("value", "") for c in entry.get("content") or []]
    parts += sorted((t.get("term") or "") for t in entry.get("tags") or [])
    return hashlib.sha1(json.dumps(parts).encode("utf-8")).hexdigest()[:16]


def _entry_retracted(entry) -> bool:
    tags = {(t.get("term") or "").strip().lower() for t in entry.get("tags") or []}
    return bool(tags & {"retracted", "retraction", "withdrawn"}) or \
        bool(_RETRACTED.match(entry.get("title") or ""))


# ---------------------------------------------------------------------------------------
# Pulling
# ---------------------------------------------------------------------------------------

def _fetch_page(fetcher: Fetcher, url: str, state: dict | None) -> Response:
    state = state or {}
    return fetcher.get(url, etag=state.get("etag"), last_modified=state.get("last_modified"),
                       accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")


def _validators(resp: Response) -> dict:
    return {k: v for k, v in (("etag", resp.headers.get("etag")),
                              ("last_modified", resp.headers.get("last-modified"))) if v}


def _process_entries(corpus_dir: Path, feeds: FeedList, feed_url: str, parsed,
                     fetcher: Fetcher, report: PullReport) -> bool:
    """Write the feed's new and changed entries; True when every entry was handled (a
    transient failure leaves the feed's validators unsaved, so the next pull retries)."""
    complete = True
    outlet = (parsed.feed.get("title") or urlsplit(feed_url).hostname or "").strip()
    seen = set()
    for entry in parsed.entries:
        link = (entry.get("link") or "").strip()
        key = (entry.get("id") or link or "").strip()
        if not key:
            report.problems.append(Problem(feed_url, "entry without id or link; skipped"))
            continue
        seen.add(key)
        version = _entry_version(entry)
        state = feeds.entries.get(key)
        if state and state.get("version") == version:
            report.unchanged += 1
            continue
        where = link or key
        try:
            if _entry_retracted(entry):
                _remove(corpus_dir, (state or {}).get("file"), report)
                feeds.entries[key] = {"version": version, "feed": feed_url, "retracted": True}
                feeds.save_entries()
                continue
            link = urljoin(feed_url, link) if link else ""
            check_url(link)  # javascript:, data:, file: ... are refused here
            content = max((c.get("value", "") for c in entry.get("content") or []), key=len,
                          default="")
            text = _html_text(content) if content else ""
            page_state = state or {}
            if len(text) >= FULL_TEXT_CHARS:
                article = Extracted(title=(entry.get("title") or first_sentence(text)).strip()[:300],
                                    text=text, date=_entry_date(entry), source=outlet,
                                    url=canonical_url(link), updated=_entry_updated(entry))
                validators = {}
            else:
                try:
                    resp = _fetch_page(fetcher, link, page_state)
                except FetchError as exc:
                    if re.match(r"HTTP (404|410)\b", exc.reason) and page_state.get("file"):
                        _remove(corpus_dir, page_state.get("file"), report)
                        feeds.entries[key] = {"version": version, "feed": feed_url, "gone": True}
                        feeds.save_entries()
                        continue
                    raise
                if resp.not_modified:
                    report.not_modified += 1
                    feeds.entries[key] = {**page_state, "version": version}
                    feeds.save_entries()
                    continue
                article = extract_page(resp, fallback_title=entry.get("title") or "",
                                       fallback_date=_entry_date(entry), fallback_source=outlet)
                article.updated = _entry_updated(entry)
                validators = _validators(resp)
            rel = _store(corpus_dir, article, report, feed_url)
            if page_state.get("file") and page_state["file"] != rel:
                _remove(corpus_dir, page_state["file"], report)  # the canonical URL moved
            feeds.entries[key] = {"version": version, "feed": feed_url, "file": rel,
                                  "url": article.url, **validators}
            feeds.save_entries()
        except FetchError as exc:
            report.problems.append(Problem(where, exc.reason))
            log.warning("feed %s entry %s: %s", feed_url, where, exc.reason)
            if _transient(exc.reason):
                complete = False  # try again next pull
            else:
                # Refused for good (404, not HTML, too big, bad link): not fetched again
                # until the feed changes the entry.
                feeds.entries[key] = {**(state or {}), "version": version, "feed": feed_url,
                                      "failed": exc.reason}
                feeds.save_entries()
    return complete


def _transient(reason: str) -> bool:
    """Timeouts, connection failures and server errors may pass; other refusals will not."""
    return bool(re.match(r"timed out|connection failed|cannot resolve|TLS error|HTTP 5\d\d",
                         reason))


def pull(corpus_dir: str | Path, *, fetcher: Fetcher, feeds: list[str] | None = None) -> PullReport:
    """Fetch the listed feeds (or the given ones among them) and write their new and
    changed articles; never raises for one bad feed or entry (see ``PullReport.problems``)."""
    corpus_dir = Path(corpus_dir)
    report = PullReport()
    before = fetcher.requests
    with _corpus_lock(corpus_dir):
        listed = FeedList(corpus_dir)
        for url in feeds or list(listed.feeds):
            report.feeds += 1
            state = listed.feeds.get(url, {})
            try:
                resp = fetcher.get(url, etag=state.get("etag"), last_modified=state.get("last_modified"),
                                   accept="application/rss+xml,application/atom+xml,application/xml;q=0.9,*/*;q=0.1")
                if resp.not_modified:
                    report.not_modified += 1
                    listed.feeds[url] = {**state, "last_pull": _now(), "last_error": ""}
                    listed.save_feeds()
                    continue
                if not _is_feed(resp):
                    raise FetchError(resp.url, f"content type {resp.content_type or '(none)'} "
                                               "is not an RSS or Atom feed")
                parsed = parse_feed(resp)
                complete = _process_entries(corpus_dir, listed, url, parsed, fetcher, report)
                new_state = {**state, "last_pull": _now(), "last_error": "", "title": parsed.feed.get("title", "")}
                new_state.pop("etag", None)
                new_state.pop("last_modified", None)
                if complete:
                    new_state.update(_validators(resp))
                listed.feeds[url] = new_state
                listed.save_feeds()
            except FetchError as exc:
                report.problems.append(Problem(url, exc.reason))
                log.warning("feed %s: %s", url, exc.reason)
                if url in listed.feeds:
                    listed.feeds[url] = {**state, "last_pull": _now(), "last_error": exc.reason}
                    listed.save_feeds()
    report.requests = fetcher.requests - before
    return report


def add_urls(corpus_dir: str | Path, urls: list[str], *, fetcher: Fetcher) -> PullReport:
    """Fetch each URL once: an article page becomes one file, a feed all its entries (the
    feed is not added to the feed list; ``FeedList.add`` does that). Never raises for one
    bad URL (see ``PullReport.problems``)."""
    corpus_dir = Path(corpus_dir)
    report = PullReport()
    before = fetcher.requests
    with _corpus_lock(corpus_dir):
        listed = FeedList(corpus_dir)
        for url in urls:
            try:
                check_url(url)
                resp = fetcher.get(url.strip())
                if _is_feed(resp):
                    report.feeds += 1
                    _process_entries(corpus_dir, listed, url.strip(), parse_feed(resp), fetcher, report)
                    continue
                article = extract_page(resp)
                rel = _store(corpus_dir, article, report, None)
                listed.entries[article.url] = {"version": hashlib.sha1(resp.body).hexdigest()[:16],
                                               "file": rel, "url": article.url, **_validators(resp)}
                listed.save_entries()
            except FetchError as exc:
                if re.match(r"HTTP (404|410)\b", exc.reason):
                    # A page that is gone: its article (if we hold it) leaves the corpus.
                    known = listed.entries.get(canonical_url(url)) if url.startswith("http") else None
                    if known and known.get("file"):
                        _remove(corpus_dir, known["file"], report)
                        listed.entries.pop(canonical_url(url), None)
                        listed.save_entries()
                        continue
                report.problems.append(Problem(url, exc.reason))
                log.warning("add %s: %s", url, exc.reason)
    report.requests = fetcher.requests - before
    return report
